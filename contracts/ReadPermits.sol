// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";
import {ArchiveRoles} from "./ArchiveRoles.sol";

/// @title ReadPermits
/// @notice Time-boxed permits to read one archive item, signed by an approver as EIP-712 typed data
///         and relayed by the node (any sender may relay: the signature is the authority).
/// @dev Grantee and item key are pseudonyms (an HMAC of the user id, the leaf hash of the item's
///      ingest record): nothing on chain names a person or a record in clear.
///      A permit's validity is fixed when it is granted: revoking the approver's role later does not
///      invalidate permits they already granted (revoke those explicitly: the security admin can).
///      Revocation is final: re-granting an identical permit is a no-op and does not revive it.
///      EIP-712 is implemented here (same hashing as OpenZeppelin's EIP712, ERC-5267 `eip712Domain`):
///      OpenZeppelin 5.7's EIP712 pulls in utils/Bytes.sol, which uses `mcopy` (Cancun), and the
///      contracts are compiled for Shanghai so that ganache 7.9 runs them.
contract ReadPermits is IERC5267 {
    /// @notice The typed data an approver signs. `permitId` = hashStruct(Permit) (EIP-712 struct hash).
    struct Permit {
        bytes32 logId;
        bytes32 itemKey;
        bytes32 grantee;
        uint64 notBefore;
        uint64 expiresAt;
        bytes32 loanId;
    }

    /// @dev Storage layout: four full slots, then approver + notBefore + revoked in one slot, then expiresAt.
    struct Stored {
        bytes32 logId;
        bytes32 itemKey;
        bytes32 grantee;
        bytes32 loanId;
        address approver;
        uint64 notBefore;
        bool revoked;
        uint64 expiresAt;
    }

    bytes32 public constant PERMIT_TYPEHASH = keccak256(
        "Permit(bytes32 logId,bytes32 itemKey,bytes32 grantee,uint64 notBefore,uint64 expiresAt,bytes32 loanId)"
    );
    bytes32 public constant REVOKE_TYPEHASH = keccak256("Revoke(bytes32 permitId)");
    /// @dev Same value as ArchiveRoles.SECURITY_ADMIN_ROLE (checked by the tests).
    bytes32 private constant SECURITY_ADMIN_ROLE = keccak256("SECURITY_ADMIN_ROLE");

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    string private constant NAME = "ArchiveLedger ReadPermits";
    string private constant VERSION = "1";

    ArchiveRoles public immutable roles;
    bytes32 private immutable _cachedDomainSeparator;
    uint256 private immutable _cachedChainId;

    mapping(bytes32 permitId => Stored) private _permits;
    mapping(bytes32 grantee => mapping(bytes32 itemKey => bytes32[])) private _byGrantee;

    event PermitGranted(
        bytes32 indexed permitId,
        bytes32 indexed logId,
        bytes32 itemKey,
        bytes32 indexed grantee,
        address approver,
        uint64 notBefore,
        uint64 expiresAt,
        bytes32 loanId
    );
    event PermitRevoked(bytes32 indexed permitId, address indexed revokedBy);

    error RolesNotAContract(address roles);
    /// @notice The signature does not recover to any address (malformed, or a high-s / wrong-v value).
    error InvalidSignature();
    /// @notice The permit's signer is not an approver of `logId` (nor of ANY_LOG).
    error NotApprover(bytes32 logId, address signer);
    error InvalidPeriod(uint64 notBefore, uint64 expiresAt);
    error AlreadyExpired(uint64 expiresAt, uint256 now_);
    error UnknownPermit(bytes32 permitId);
    /// @notice Only the permit's approver or a SECURITY_ADMIN may revoke it.
    error NotAllowedToRevoke(bytes32 permitId, address signer);

    constructor(ArchiveRoles roles_) {
        if (address(roles_).code.length == 0) revert RolesNotAContract(address(roles_));
        roles = roles_;
        _cachedChainId = block.chainid;
        _cachedDomainSeparator = _buildDomainSeparator();
    }

    function permitVersion() external pure returns (string memory) {
        return "archive-ledger/ReadPermits/1";
    }

    /// @notice The EIP-712 domain separator of this contract on this chain.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice ERC-5267: the EIP-712 domain (name, version, chainId, verifyingContract; no salt).
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", NAME, VERSION, block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    /// @notice permitId of `p`: the EIP-712 struct hash.
    function permitIdOf(Permit calldata p) public pure returns (bytes32) {
        return keccak256(abi.encode(PERMIT_TYPEHASH, p.logId, p.itemKey, p.grantee, p.notBefore, p.expiresAt, p.loanId));
    }

    /// @notice Record permit `p`, signed by an approver of `p.logId`. Relayed: any sender.
    ///         Re-granting a known permit (same id) is a no-op, whatever its state.
    function grant(Permit calldata p, bytes calldata signature) external returns (bytes32 permitId) {
        permitId = permitIdOf(p);
        if (_permits[permitId].approver != address(0)) return permitId;
        if (p.expiresAt <= p.notBefore) revert InvalidPeriod(p.notBefore, p.expiresAt);
        if (p.expiresAt <= block.timestamp) revert AlreadyExpired(p.expiresAt, block.timestamp);
        address signer = _recover(permitId, signature);
        if (!roles.isApprover(p.logId, signer)) revert NotApprover(p.logId, signer);

        _permits[permitId] = Stored(p.logId, p.itemKey, p.grantee, p.loanId, signer, p.notBefore, false, p.expiresAt);
        _byGrantee[p.grantee][p.itemKey].push(permitId);
        emit PermitGranted(permitId, p.logId, p.itemKey, p.grantee, signer, p.notBefore, p.expiresAt, p.loanId);
    }

    /// @notice Revoke `permitId` with a `Revoke(permitId)` signature of its approver or of a
    ///         SECURITY_ADMIN. Revoking an already revoked permit is a no-op.
    function revoke(bytes32 permitId, bytes calldata signature) external {
        Stored storage s = _permits[permitId];
        address approver = s.approver;
        if (approver == address(0)) revert UnknownPermit(permitId);
        address signer = _recover(keccak256(abi.encode(REVOKE_TYPEHASH, permitId)), signature);
        if (signer != approver && !roles.hasRole(SECURITY_ADMIN_ROLE, signer)) {
            revert NotAllowedToRevoke(permitId, signer);
        }
        if (s.revoked) return;
        s.revoked = true;
        emit PermitRevoked(permitId, signer);
    }

    /// @notice Whether `permitId` exists, is not revoked and `notBefore <= time < expiresAt`.
    function isValid(bytes32 permitId, uint64 time) external view returns (bool) {
        Stored storage s = _permits[permitId];
        return s.approver != address(0) && !s.revoked && s.notBefore <= time && time < s.expiresAt;
    }

    /// @notice The permit, its approver (0x0: unknown permit) and whether it is revoked.
    function getPermit(bytes32 permitId) external view returns (Permit memory permit, address approver, bool revoked) {
        Stored storage s = _permits[permitId];
        permit = Permit(s.logId, s.itemKey, s.grantee, s.notBefore, s.expiresAt, s.loanId);
        return (permit, s.approver, s.revoked);
    }

    /// @notice Every permit ever granted to `grantee` for `itemKey`, oldest first (check each with isValid).
    function permitsOf(bytes32 grantee, bytes32 itemKey) external view returns (bytes32[] memory) {
        return _byGrantee[grantee][itemKey];
    }

    function _buildDomainSeparator() private view returns (bytes32) {
        return keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256(bytes(NAME)), keccak256(bytes(VERSION)), block.chainid, address(this))
        );
    }

    /// @dev Recomputed after a chain fork changes the chain id, as OpenZeppelin's EIP712 does.
    function _domainSeparatorV4() private view returns (bytes32) {
        return block.chainid == _cachedChainId ? _cachedDomainSeparator : _buildDomainSeparator();
    }

    function _hashTypedDataV4(bytes32 structHash) private view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", _domainSeparatorV4(), structHash));
    }

    function _recover(bytes32 structHash, bytes calldata signature) private view returns (address signer) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(_hashTypedDataV4(structHash), signature);
        if (err != ECDSA.RecoverError.NoError) revert InvalidSignature();
        return recovered;
    }
}
