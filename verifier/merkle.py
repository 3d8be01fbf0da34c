"""RFC 9162 (RFC 6962) Merkle tree math: hashing, roots, proof verification. Pure.

Shaped after transparency-dev/merkle proof/verify.go. The hash function is SHA-256 from this
module, never taken from a proof, and leaves and nodes are domain separated (0x00 / 0x01) so an
interior node can never pose as a leaf.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from verifier.errors import ConsistencyProofError, InclusionProofError, ProofError

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "leaf_hash",
    "node_hash",
    "root_from_consistency_proof",
    "root_from_inclusion_proof",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of a leaf entry."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves, written plainly (RFC 9162 2.1.1); the oracle for tests."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return bytes(leaf_hashes[0])
    k = _split(n)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


def root_from_inclusion_proof(index: int, size: int, leaf_hash: bytes, path: Sequence[bytes]) -> bytes:
    """Root implied by `path` for the leaf at `index` in a tree of `size` leaves."""
    _check_int("index", index, InclusionProofError)
    _check_int("size", size, InclusionProofError)
    if index >= size:
        raise InclusionProofError(f"index {index} is beyond tree size {size}")
    _check_hash("leaf hash", leaf_hash, InclusionProofError)
    for i, h in enumerate(path):
        _check_hash(f"path[{i}]", h, InclusionProofError)
    inner, border = _decomp_incl_proof(index, size)
    if len(path) != inner + border:
        raise InclusionProofError(f"wrong path length {len(path)}, want {inner + border}")
    res = _chain_inner(bytes(leaf_hash), path[:inner], index)
    return _chain_border_right(res, path[inner:])


def verify_inclusion(index: int, size: int, leaf_hash: bytes, path: Sequence[bytes], root: bytes) -> None:
    """Raise InclusionProofError unless `path` proves `leaf_hash` at `index` under `root`."""
    _check_hash("root", root, InclusionProofError)
    calc = root_from_inclusion_proof(index, size, leaf_hash, path)
    if not hmac.compare_digest(calc, bytes(root)):
        raise InclusionProofError(f"calculated root {calc.hex()} does not match expected {bytes(root).hex()}")


def root_from_consistency_proof(size1: int, size2: int, root1: bytes, proof: Sequence[bytes]) -> bytes:
    """Root of the size2 tree implied by `proof`, after checking it reproduces `root1`.

    size1 == 0 cannot determine a root (every tree extends the empty one), so it is refused here;
    verify_consistency accepts it with an empty proof, as verify.go does.
    """
    _check_int("size1", size1, ConsistencyProofError)
    _check_int("size2", size2, ConsistencyProofError)
    _check_hash("root1", root1, ConsistencyProofError)
    for i, h in enumerate(proof):
        _check_hash(f"proof[{i}]", h, ConsistencyProofError)
    if size2 < size1:
        raise ConsistencyProofError(f"size2 ({size2}) < size1 ({size1})")
    if size1 == 0:
        raise ConsistencyProofError("size1 is 0: the empty tree does not determine a later root")
    if size1 == size2:
        if proof:
            raise ConsistencyProofError("size1 == size2 but the proof is not empty")
        return bytes(root1)
    if not proof:
        raise ConsistencyProofError("empty proof")

    inner, border = _decomp_incl_proof(size1 - 1, size2)
    shift = _trailing_zeros(size1)
    inner -= shift  # shift < inner because size1 < size2
    # The proof starts with the hash of the size-2**shift subtree, unless size1 is that subtree.
    if size1 == 1 << shift:
        seed, rest = bytes(root1), list(proof)
    else:
        seed, rest = bytes(proof[0]), list(proof[1:])
    want = (0 if size1 == 1 << shift else 1) + inner + border
    if len(proof) != want:
        raise ConsistencyProofError(f"wrong proof length {len(proof)}, want {want}")

    mask = (size1 - 1) >> shift
    hash1 = _chain_inner_right(seed, rest[:inner], mask)
    hash1 = _chain_border_right(hash1, rest[inner:])
    if not hmac.compare_digest(hash1, bytes(root1)):
        raise ConsistencyProofError(f"proof does not reproduce root1: got {hash1.hex()}, want {bytes(root1).hex()}")
    hash2 = _chain_inner(seed, rest[:inner], mask)
    return _chain_border_right(hash2, rest[inner:])


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Raise ConsistencyProofError unless the size2 tree (root2) extends the size1 tree (root1)."""
    _check_int("size1", size1, ConsistencyProofError)
    _check_int("size2", size2, ConsistencyProofError)
    _check_hash("root2", root2, ConsistencyProofError)
    if size1 == 0:
        if proof:
            raise ConsistencyProofError(f"size1 is 0: expected an empty proof, got {len(proof)} hashes")
        if size2 == 0:
            _check_hash("root1", root1, ConsistencyProofError)
            if not hmac.compare_digest(bytes(root1), bytes(root2)):
                raise ConsistencyProofError("sizes are equal but the roots differ")
        return
    calc = root_from_consistency_proof(size1, size2, root1, proof)
    if not hmac.compare_digest(calc, bytes(root2)):
        raise ConsistencyProofError(f"calculated root2 {calc.hex()} does not match expected {bytes(root2).hex()}")


# -- helpers ---------------------------------------------------------------------------------------


def _split(n: int) -> int:
    """Largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _decomp_incl_proof(index: int, size: int) -> tuple[int, int]:
    """Split an inclusion path into the inner part (below the index/size fork) and the border."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        seed = node_hash(seed, h) if (index >> i) & 1 == 0 else node_hash(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = node_hash(h, seed)
    return seed


def _check_int(name: str, value: object, exc: type[ProofError]) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise exc(f"{name} must be a non-negative integer, got {value!r}")


def _check_hash(name: str, value: object, exc: type[ProofError]) -> None:
    if not isinstance(value, bytes | bytearray | memoryview) or len(value) != HASH_SIZE:
        size = len(value) if isinstance(value, bytes | bytearray | memoryview) else type(value).__name__
        raise exc(f"{name} must be {HASH_SIZE} bytes, got {size}")
