"""RFC 9162 proof generation from stored perfect-subtree hashes. Pure: storage is behind `fetch`.

The store keeps the hash of every perfect aligned subtree, NodeId(level, index) covering leaves
[index * 2**level, (index + 1) * 2**level): about 2n rows for n leaves, written once and never
changed as the log grows. Every hash in a proof is the hash of a subtree of the RFC 9162 tree, whose
range is either perfect or runs to the right edge of the tree; the latter is the right fold of the
O(log n) perfect subtrees that cover it. So a proof needs O(log^2 n) stored hashes, fetched in one
call (one SQL query).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

from verifier.merkle import EMPTY_ROOT, node_hash


class NodeId(NamedTuple):
    """A perfect subtree: `level` 0 is a leaf; it covers 2**level leaves starting at index * 2**level."""

    level: int
    index: int


Fetch = Callable[[Iterable[NodeId]], Mapping[NodeId, bytes]]

__all__ = [
    "Fetch",
    "NodeId",
    "completed_nodes",
    "consistency_plan",
    "consistency_proof",
    "cover",
    "fold",
    "inclusion_plan",
    "inclusion_proof",
    "root",
    "root_plan",
]


def cover(lo: int, hi: int) -> list[NodeId]:
    """The perfect aligned subtrees covering leaves [lo, hi), left to right, largest first."""
    if not 0 <= lo <= hi:
        raise ValueError(f"bad leaf range [{lo}, {hi})")
    out: list[NodeId] = []
    while lo < hi:
        level = (lo & -lo).bit_length() - 1 if lo else (hi - lo).bit_length() - 1
        while lo + (1 << level) > hi:
            level -= 1
        out.append(NodeId(level, lo >> level))
        lo += 1 << level
    return out


def root_plan(size: int) -> list[NodeId]:
    """Perfect subtrees whose right fold is the root of the tree of `size` leaves."""
    _check_size(size)
    return cover(0, size)


def inclusion_plan(index: int, size: int) -> list[list[NodeId]]:
    """One perfect cover per hash of the inclusion proof of leaf `index` in a tree of `size`."""
    _check_size(size)
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not in a tree of size {size}")
    plan: list[list[NodeId]] = []
    lo, hi = 0, size
    while hi - lo > 1:  # RFC 9162 PATH, walking down from the root; siblings are collected top-down
        k = _split(hi - lo)
        if index < lo + k:
            plan.append(cover(lo + k, hi))
            hi = lo + k
        else:
            plan.append(cover(lo, lo + k))
            lo += k
    plan.reverse()  # proofs list siblings bottom-up
    return plan


def consistency_plan(size1: int, size2: int) -> list[list[NodeId]]:
    """One perfect cover per hash of the consistency proof from `size1` to `size2` (RFC 9162 PROOF)."""
    _check_size(size1)
    _check_size(size2)
    if size1 > size2:
        raise ValueError(f"size1 ({size1}) > size2 ({size2})")
    if size1 == 0 or size1 == size2:
        return []
    plan: list[list[NodeId]] = []
    lo, hi, m, complete = 0, size2, size1, True
    while m != hi - lo:  # RFC 9162 SUBPROOF, iteratively; hashes collected top-down
        k = _split(hi - lo)
        if m <= k:
            plan.append(cover(lo + k, hi))
            hi = lo + k
        else:
            plan.append(cover(lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        plan.append(cover(lo, hi))
    plan.reverse()
    return plan


def fold(hashes: Sequence[bytes]) -> bytes:
    """Right fold with node_hash: fold([a, b, c]) = node(a, node(b, c)); the empty fold is EMPTY_ROOT."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_proof(index: int, size: int, fetch: Fetch) -> list[bytes]:
    """Inclusion proof of leaf `index` in the tree of `size`, calling fetch once (not at all if empty)."""
    return _materialise(inclusion_plan(index, size), fetch)


def consistency_proof(size1: int, size2: int, fetch: Fetch) -> list[bytes]:
    """Consistency proof from the tree of `size1` to the tree of `size2`, calling fetch at most once."""
    return _materialise(consistency_plan(size1, size2), fetch)


def root(size: int, fetch: Fetch) -> bytes:
    """Root of the tree of `size` leaves (EMPTY_ROOT for 0)."""
    return _materialise([root_plan(size)], fetch)[0]


def completed_nodes(size: int) -> list[NodeId]:
    """Perfect subtrees that become complete when the tree grows from size - 1 to `size`, bottom-up.

    The store writer computes each as node_hash of its two children (level 0 is the leaf hash).
    """
    _check_size(size)
    if size == 0:
        return []
    index = size - 1
    out = [NodeId(0, index)]
    level = 1
    while size % (1 << level) == 0:
        out.append(NodeId(level, index >> level))
        level += 1
    return out


def _materialise(plan: list[list[NodeId]], fetch: Fetch) -> list[bytes]:
    ids = list(dict.fromkeys(node for group in plan for node in group))
    got: Mapping[NodeId, bytes] = fetch(ids) if ids else {}
    missing = [node for node in ids if node not in got]
    if missing:
        raise LookupError(f"store is missing {len(missing)} node hashes, first {missing[0]}")
    return [fold([got[node] for node in group]) for group in plan]


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def _check_size(size: int) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"tree size must be a non-negative integer, got {size!r}")
