// SPDX-License-Identifier: MIT
// Test fixture (tests/test_trust.py): a contract anyone could deploy that claims to be an ArchiveAnchor
// and "holds" whatever root it was given. A verifier that takes the contract address from the bundle
// would call a forged record authentic; one that takes it from the trust root says contract_untrusted.
pragma solidity ^0.8.20;

contract ImpostorAnchor {
    bytes32 private forged;

    constructor(bytes32 root) {
        forged = root;
    }

    function anchorVersion() external pure returns (string memory) {
        return "archive-ledger/ArchiveAnchor/1";
    }

    function rootAt(bytes32, uint64) external view returns (bytes32) {
        return forged;
    }

    function anchoredAtBlock(bytes32, uint64) external pure returns (uint64) {
        return 1;
    }
}
