// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ArchiveRoles} from "./ArchiveRoles.sol";

/// @title ArchiveAnchor
/// @notice Public, append-only record of the checkpoints (tree size, root) of archive-ledger's
///         RFC 9162 Merkle logs, one log per fonds, identified by a bytes32 `logId`.
/// @dev A checkpoint is accepted only with a consistency proof from the log's latest checkpoint,
///      so the chain itself (not the node operating the log) guarantees that the log only grows:
///      no anchored record can later be removed or rewritten. Gas per checkpoint is O(log n).
contract ArchiveAnchor {
    /// @notice Wildcard log id: an anchorer of `ANY_LOG` may anchor every log, so a node hosting many
    ///         fonds needs one grant, not one per fonds. Never a real log id (a SHA-256 output).
    bytes32 public constant ANY_LOG = bytes32(0);

    /// @notice Where the anchorer roles live (granted there by a SYSTEM_ADMIN officer).
    ArchiveRoles public immutable roles;

    /// @notice One checkpoint to anchor, for `anchorMany`.
    struct CheckpointInput {
        bytes32 logId;
        uint64 treeSize;
        bytes32 root;
        bytes32[] consistencyProof;
    }

    /// @dev Stored per (logId, treeSize): the root, and the block that anchored it, so a verifier can
    ///      wait for confirmations of exactly that checkpoint.
    struct Checkpoint {
        bytes32 root;
        uint64 blockNumber;
    }

    /// @dev Latest head of a log, packed in one slot (the root is read from `_checkpoints`).
    struct Head {
        uint64 treeSize;
        uint64 blockNumber;
        uint64 count;
    }

    mapping(bytes32 logId => mapping(uint64 treeSize => Checkpoint)) private _checkpoints;
    mapping(bytes32 logId => Head) private _heads;

    /// @notice Emitted for every accepted (new) checkpoint; a re-sent identical checkpoint emits none.
    event CheckpointAnchored(bytes32 indexed logId, uint64 indexed treeSize, bytes32 root, uint64 previousSize);

    error NotAnchorer(bytes32 logId, address account);
    error EmptyCheckpoint(bytes32 logId);
    error LogShrinks(bytes32 logId, uint64 latestSize, uint64 newSize);
    error ConflictingRoot(bytes32 logId, uint64 treeSize, bytes32 latestRoot, bytes32 newRoot);
    error InconsistentCheckpoint(bytes32 logId, uint64 fromSize, uint64 toSize);

    error RolesNotAContract(address roles);

    /// @param roles_ the ArchiveRoles contract consulted for `isAnchorer`; fixed for the contract's life.
    constructor(ArchiveRoles roles_) {
        if (address(roles_).code.length == 0) revert RolesNotAContract(address(roles_));
        roles = roles_;
    }

    /// @notice Whether `account` may anchor `logId` (directly or through `ANY_LOG`), per `roles`.
    function isAnchorer(bytes32 logId, address account) public view returns (bool) {
        return roles.isAnchorer(logId, account);
    }

    /// @notice Interface version, so clients (and the verifier) can recognise the contract.
    function anchorVersion() external pure returns (string memory) {
        return "archive-ledger/ArchiveAnchor/1";
    }

    /// @notice Anchor checkpoint (`treeSize`, `root`) of `logId`.
    /// @param consistencyProof RFC 9162 consistency proof from the log's latest checkpoint; empty for
    ///        the first checkpoint of a log and for an identical re-submission (a no-op).
    function anchor(bytes32 logId, uint64 treeSize, bytes32 root, bytes32[] calldata consistencyProof)
        external
    {
        _anchor(logId, treeSize, root, consistencyProof);
    }

    /// @notice Anchor several checkpoints (several logs, or successive checkpoints of one log) in one
    ///         transaction, each under the rules of `anchor`; any failing entry reverts them all.
    function anchorMany(CheckpointInput[] calldata checkpoints) external {
        uint256 n = checkpoints.length;
        for (uint256 i = 0; i < n; ++i) {
            CheckpointInput calldata c = checkpoints[i];
            _anchor(c.logId, c.treeSize, c.root, c.consistencyProof);
        }
    }

    /// @notice The latest checkpoint of `logId` and the block that anchored it; zeros if none.
    function latest(bytes32 logId) external view returns (uint64 treeSize, bytes32 root, uint64 blockNumber) {
        Head memory h = _heads[logId];
        return (h.treeSize, _checkpoints[logId][h.treeSize].root, h.blockNumber);
    }

    /// @notice Root anchored for `logId` at `treeSize`, or 0x0 if that size was never anchored.
    function rootAt(bytes32 logId, uint64 treeSize) external view returns (bytes32) {
        return _checkpoints[logId][treeSize].root;
    }

    /// @notice Block that anchored (`logId`, `treeSize`), or 0 if never anchored.
    function anchoredAtBlock(bytes32 logId, uint64 treeSize) external view returns (uint64) {
        return _checkpoints[logId][treeSize].blockNumber;
    }

    /// @notice Number of distinct checkpoints anchored for `logId`.
    function checkpointCount(bytes32 logId) external view returns (uint256) {
        return _heads[logId].count;
    }

    function _anchor(bytes32 logId, uint64 treeSize, bytes32 root, bytes32[] calldata proof) private {
        if (!isAnchorer(logId, msg.sender)) revert NotAnchorer(logId, msg.sender);
        if (treeSize == 0) revert EmptyCheckpoint(logId);

        Head memory head = _heads[logId];
        if (head.count != 0) {
            if (treeSize < head.treeSize) revert LogShrinks(logId, head.treeSize, treeSize);
            bytes32 latestRoot = _checkpoints[logId][head.treeSize].root;
            if (treeSize == head.treeSize) {
                // A re-sent transaction must be harmless: same checkpoint is a silent no-op.
                if (root == latestRoot) return;
                revert ConflictingRoot(logId, treeSize, latestRoot, root);
            }
            if (!_verifyConsistency(head.treeSize, treeSize, latestRoot, root, proof)) {
                revert InconsistentCheckpoint(logId, head.treeSize, treeSize);
            }
        } else if (proof.length != 0) {
            // Nothing to be consistent with: a proof here means the caller's view of the log is wrong.
            revert InconsistentCheckpoint(logId, 0, treeSize);
        }

        uint64 blockNumber = uint64(block.number);
        _checkpoints[logId][treeSize] = Checkpoint(root, blockNumber);
        _heads[logId] = Head(treeSize, blockNumber, head.count + 1);
        emit CheckpointAnchored(logId, treeSize, root, head.treeSize);
    }

    /// @dev RFC 9162 section 2.1.4.2 verification, for 0 < size1 < size2 (the caller handles equal
    ///      sizes). When size1 is a power of two, `root1` plays the role of the prepended first hash.
    function _verifyConsistency(
        uint256 size1,
        uint256 size2,
        bytes32 root1,
        bytes32 root2,
        bytes32[] calldata proof
    ) private view returns (bool) {
        uint256 n = proof.length;
        if (n == 0) return false;
        uint256 i;
        bytes32 fr;
        if (size1 & (size1 - 1) == 0) {
            fr = root1;
        } else {
            fr = proof[0];
            i = 1;
        }
        bytes32 sr = fr;
        uint256 fn = size1 - 1;
        uint256 sn = size2 - 1;
        while (fn & 1 == 1) {
            fn >>= 1;
            sn >>= 1;
        }
        for (; i < n; ++i) {
            if (sn == 0) return false;
            bytes32 c = proof[i];
            if (fn & 1 == 1 || fn == sn) {
                fr = _node(c, fr);
                sr = _node(c, sr);
                while (fn & 1 == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            } else {
                sr = _node(sr, c);
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && fr == root1 && sr == root2;
    }

    /// @dev Interior node hash SHA-256(0x01 || left || right) through the sha256 precompile, using
    ///      scratch space to avoid growing memory on every hash.
    function _node(bytes32 left, bytes32 right) private view returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, 0x01)
            mstore(add(p, 1), left)
            mstore(add(p, 33), right)
            if iszero(staticcall(gas(), 0x02, p, 65, 0x00, 0x20)) {
                revert(0, 0)
            }
            h := mload(0x00)
        }
    }
}
