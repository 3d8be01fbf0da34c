"""anchor.proofs: plans folded from a perfect-subtree store equal the RFC 9162 oracle's proofs."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping

import pytest

from anchor import proofs
from anchor.proofs import NodeId
from verifier import merkle

# -- RFC 9162 oracle (MTH, PATH, PROOF) written plainly, as in test_merkle.py ----------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    if len(d) == 0:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def proof(m: int, d: list[bytes]) -> list[bytes]:
    return subproof(m, d, True)


def entries(n: int) -> list[bytes]:
    return [i.to_bytes(4, "big") for i in range(n)]


class Store:
    """In-memory store of every perfect aligned subtree, built the way the log writer does."""

    def __init__(self, data: list[bytes]) -> None:
        self.nodes: dict[NodeId, bytes] = {}
        self.calls: list[list[NodeId]] = []
        for size in range(1, len(data) + 1):
            for node in proofs.completed_nodes(size):
                if node.level == 0:
                    self.nodes[node] = merkle.leaf_hash(data[node.index])
                else:
                    left = self.nodes[NodeId(node.level - 1, 2 * node.index)]
                    right = self.nodes[NodeId(node.level - 1, 2 * node.index + 1)]
                    self.nodes[node] = merkle.node_hash(left, right)

    def fetch(self, ids: Iterable[NodeId]) -> Mapping[NodeId, bytes]:
        ids = list(ids)
        self.calls.append(ids)
        return {i: self.nodes[i] for i in ids}


def _is_perfect_in(node: NodeId, size: int) -> bool:
    return (node.index + 1) << node.level <= size


def _check_size(size: int, store: Store, data: list[bytes], rng: random.Random | None = None) -> None:
    d = data[:size]
    root = mth(d)
    assert proofs.root(size, store.fetch) == root
    assert all(_is_perfect_in(n, size) for n in proofs.root_plan(size))
    indices = range(size) if rng is None else rng.sample(range(size), min(size, 12))
    for i in indices:
        store.calls.clear()
        got = proofs.inclusion_proof(i, size, store.fetch)
        assert got == path(i, d)
        assert len(store.calls) <= 1
        assert all(_is_perfect_in(n, size) for group in proofs.inclusion_plan(i, size) for n in group)
        merkle.verify_inclusion(i, size, merkle.leaf_hash(d[i]), got, root)
    sizes1 = range(0, size + 1) if rng is None else rng.sample(range(size + 1), min(size + 1, 12))
    for m in sizes1:
        store.calls.clear()
        got = proofs.consistency_proof(m, size, store.fetch)
        assert len(store.calls) <= 1
        if m == 0:
            assert got == []
            continue
        assert got == proof(m, d)
        merkle.verify_consistency(m, size, mth(d[:m]), root, got)


SMALL = entries(130)
SMALL_STORE = Store(SMALL)


@pytest.mark.parametrize("size", range(0, 131))
def test_all_small_sizes(size: int) -> None:
    _check_size(size, SMALL_STORE, SMALL)


def test_random_larger_sizes() -> None:
    rng = random.Random(20261125)
    n = 1500
    data = entries(n)
    store = Store(data)
    for size in [*rng.sample(range(131, n + 1), 8), 1024, 1025, n]:
        _check_size(size, store, data, rng)


def test_store_has_about_2n_nodes() -> None:
    assert len(Store(entries(1000)).nodes) < 2 * 1000


def test_fold() -> None:
    a, b, c = (merkle.leaf_hash(bytes([i])) for i in range(3))
    assert proofs.fold([]) == merkle.EMPTY_ROOT
    assert proofs.fold([a]) == a
    assert proofs.fold([a, b, c]) == merkle.node_hash(a, merkle.node_hash(b, c))


def test_cover() -> None:
    assert proofs.cover(0, 7) == [NodeId(2, 0), NodeId(1, 2), NodeId(0, 6)]
    assert proofs.cover(8, 13) == [NodeId(2, 2), NodeId(0, 12)]
    assert proofs.cover(3, 3) == []


def test_completed_nodes() -> None:
    assert proofs.completed_nodes(0) == []
    assert proofs.completed_nodes(1) == [NodeId(0, 0)]
    assert proofs.completed_nodes(8) == [NodeId(0, 7), NodeId(1, 3), NodeId(2, 1), NodeId(3, 0)]
    assert proofs.completed_nodes(6) == [NodeId(0, 5), NodeId(1, 2)]


def test_fetch_called_once_with_unique_ids() -> None:
    store = Store(entries(100))
    proofs.consistency_proof(37, 100, store.fetch)
    assert len(store.calls) == 1
    assert len(store.calls[0]) == len(set(store.calls[0]))
    store.calls.clear()
    assert proofs.inclusion_proof(0, 1, store.fetch) == []
    assert store.calls == []


@pytest.mark.parametrize(
    ("func", "args", "message"),
    [
        (proofs.inclusion_plan, (5, 5), "index 5 is not in a tree of size 5"),
        (proofs.inclusion_plan, (-1, 5), "index -1 is not in a tree of size 5"),
        (proofs.consistency_plan, (6, 5), "size1 (6) > size2 (5)"),
        (proofs.root_plan, (-1,), "tree size must be a non-negative integer, got -1"),
        (proofs.root_plan, (True,), "tree size must be a non-negative integer, got True"),
    ],
)
def test_bad_arguments(func, args, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError) as info:
        func(*args)
    assert str(info.value) == message


def test_missing_node_is_reported() -> None:
    with pytest.raises(LookupError) as info:  # the root of 5 leaves folds [0, 4) and [4, 5)
        proofs.root(5, lambda ids: {})
    assert str(info.value) == "store is missing 2 node hashes, first NodeId(level=2, index=0)"


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0, 0, []),
        (3, 3, []),
        (0, 13, [(3, 0), (2, 2), (0, 12)]),  # [0, 8) [8, 12) [12, 13)
        (2, 16, [(1, 1), (2, 1), (3, 1)]),  # [2, 4) [4, 8) [8, 16): a start's alignment bounds the subtree
        (6, 16, [(1, 3), (3, 1)]),  # [6, 8) [8, 16)
        (5, 13, [(0, 5), (1, 3), (2, 2), (0, 12)]),  # [5, 6) [6, 8) [8, 12) [12, 13)
    ],
)
def test_cover_of_any_range_is_its_aligned_subtrees(lo: int, hi: int, expected: list[tuple[int, int]]) -> None:
    assert proofs.cover(lo, hi) == [NodeId(level, index) for level, index in expected]


def test_cover_refuses_a_backward_range() -> None:
    with pytest.raises(ValueError) as info:
        proofs.cover(5, 4)
    assert str(info.value) == "bad leaf range [5, 4)"
