"""verifier.merkle against RFC 6962 vectors, a naive RFC 9162 oracle, properties, and a
second-preimage attack."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers.paths import TEST_DATA
from verifier import merkle
from verifier.errors import ConsistencyProofError, InclusionProofError, ProofError

VECTORS = json.loads((TEST_DATA / "rfc6962" / "vectors.json").read_text())
LEAVES = [bytes.fromhex(x) for x in VECTORS["leaves"]]
ROOTS = [bytes.fromhex(x) for x in VECTORS["roots"]]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


# -- the oracle: RFC 9162 section 2.1 written plainly over raw entries, sharing no code ------------


def _h(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    if len(d) == 0:
        return _h(b"")
    if len(d) == 1:
        return _h(b"\x00" + d[0])
    k = _k(len(d))
    return _h(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def proof(m: int, d: list[bytes]) -> list[bytes]:
    return subproof(m, d, True)


def entries(n: int) -> list[bytes]:
    return [i.to_bytes(4, "big") for i in range(n)]


def flip(b: bytes, pos: int = 0, mask: int = 8) -> bytes:
    out = bytearray(b)
    out[pos] ^= mask
    return bytes(out)


def fails_inclusion(index, size, leaf, p, root) -> bool:
    try:
        merkle.verify_inclusion(index, size, leaf, p, root)
    except InclusionProofError:
        return True
    return False


def fails_consistency(size1, size2, root1, root2, p) -> bool:
    try:
        merkle.verify_consistency(size1, size2, root1, root2, p)
    except ConsistencyProofError:
        return True
    return False


# -- RFC 6962 vectors --------------------------------------------------------------------------------


def test_empty_root() -> None:
    assert merkle.EMPTY_ROOT.hex() == VECTORS["empty_root"]
    assert merkle.root_of([]) == merkle.EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_vector_roots(size: int) -> None:
    hashes = [merkle.leaf_hash(x) for x in LEAVES[:size]]
    assert merkle.root_of(hashes) == ROOTS[size - 1]
    assert mth(LEAVES[:size]) == ROOTS[size - 1]


def _inclusion_probes(index, size, p, root, leaf):
    probes = [
        (index - 1, size, root, leaf, p),
        (index + 1, size, root, leaf, p),
        (index ^ 2, size, root, leaf, p),
        (index, size * 2, root, leaf, p),
        (index, size // 2, root, leaf, p),
        (index, size, root, b"WrongLeaf", p),
        (index, size, merkle.EMPTY_ROOT, leaf, p),
        (index, size, SOME_HASH, leaf, p),
        (index, size, root, leaf, [*p, b""]),
        (index, size, root, leaf, [*p, root]),
        (index, size, root, leaf, [b"", *p]),
        (index, size, root, leaf, [root, *p]),
    ]
    for i in range(len(p)):
        bad = list(p)
        bad[i] = flip(bad[i])
        probes.append((index, size, root, leaf, bad))
    if p:
        probes.append((index, size, root, leaf, p[:-1]))
    if len(p) > 1:
        probes.append((index, size, root, leaf, [p[0], SOME_HASH, *p[1:]]))
    return probes


@pytest.mark.parametrize("vec", VECTORS["inclusion"], ids=lambda v: f"{v['index']}-{v['size']}")
def test_vector_inclusion(vec: dict) -> None:
    index, size = vec["index"], vec["size"]
    p = [bytes.fromhex(x) for x in vec["path"]]
    leaf = merkle.leaf_hash(LEAVES[index])
    root = ROOTS[size - 1]
    assert path(index, LEAVES[:size]) == p
    assert merkle.root_from_inclusion_proof(index, size, leaf, p) == root
    merkle.verify_inclusion(index, size, leaf, p, root)
    for probe in _inclusion_probes(index, size, p, root, leaf):
        idx, sz, rt, lf, pp = probe
        if idx < 0:
            continue
        assert fails_inclusion(idx, sz, lf, pp, rt), probe


@pytest.mark.parametrize("vec", VECTORS["consistency"], ids=lambda v: f"{v['size1']}-{v['size2']}")
def test_vector_consistency(vec: dict) -> None:
    size1, size2 = vec["size1"], vec["size2"]
    p = [bytes.fromhex(x) for x in vec["proof"]]
    root1, root2 = ROOTS[size1 - 1], ROOTS[size2 - 1]
    assert proof(size1, LEAVES[:size2]) == p
    merkle.verify_consistency(size1, size2, root1, root2, p)
    assert merkle.root_from_consistency_proof(size1, size2, root1, p) == root2
    if not p:
        return
    probes = [
        (size1 - 1, size2, root1, root2, p),
        (size1 + 1, size2, root1, root2, p),
        (size1 ^ 2, size2, root1, root2, p),
        (size1, size2 * 2, root1, root2, p),
        (size1, size2 // 2, root1, root2, p),
        (size1, size2, b"WrongRoot", root2, p),
        (size1, size2, root1, b"WrongRoot", p),
        (size1, size2, root2, root1, p),
        (size1, size2, root1, root2, []),
        (size1, size2, root1, root2, [*p, b""]),
        (size1, size2, root1, root2, [*p, root1]),
        (size1, size2, root1, root2, [*p, root2]),
        (size1, size2, root1, root2, [b"", *p]),
        (size1, size2, root1, root2, [root1, *p]),
        (size1, size2, root1, root2, [root2, *p]),
        (size1, size2, root1, root2, [p[0], *p]),
        (size1, size2, root1, root2, p[:-1]),
    ]
    for i in range(len(p)):
        bad = list(p)
        bad[i] = flip(bad[i], mask=16)
        probes.append((size1, size2, root1, root2, bad))
    for s1, s2, r1, r2, pp in probes:
        assert fails_consistency(s1, s2, r1, r2, pp), (s1, s2)


def test_trivial_consistency_cases() -> None:
    r1, r2 = SOME_HASH, merkle.EMPTY_ROOT
    merkle.verify_consistency(0, 0, r1, r1, [])
    merkle.verify_consistency(0, 1, r1, r2, [])
    merkle.verify_consistency(1, 1, r2, r2, [])
    assert fails_consistency(0, 0, r1, r2, [])
    assert fails_consistency(1, 1, r1, r2, [])
    assert fails_consistency(1, 0, r1, r2, [])
    assert fails_consistency(2, 1, r1, r2, [])
    assert fails_consistency(1, 2, r1, r2, [])
    for s1, s2 in [(0, 0), (0, 1), (1, 1)]:
        assert fails_consistency(s1, s2, r2, r2, [r2])
    with pytest.raises(ConsistencyProofError):
        merkle.root_from_consistency_proof(0, 5, r1, [])


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1)])
def test_inclusion_rejects_bad_sizes(index: int, size: int) -> None:
    assert fails_inclusion(index, size, SOME_HASH, [], b"")
    assert fails_inclusion(index, size, b"", [], merkle.EMPTY_ROOT)
    assert fails_inclusion(index, size, SOME_HASH, [], merkle.EMPTY_ROOT)


def test_single_entry() -> None:
    h = merkle.leaf_hash(b"data")
    merkle.verify_inclusion(0, 1, h, [], h)
    assert fails_inclusion(0, 1, b"", [], h)
    assert fails_inclusion(0, 1, h, [], b"")


@pytest.mark.parametrize("bad", [-1, True, 1.0, "1", None])
def test_rejects_non_integer_positions(bad: object) -> None:
    h = merkle.leaf_hash(b"x")
    with pytest.raises(InclusionProofError):
        merkle.verify_inclusion(bad, 1, h, [], h)  # type: ignore[arg-type]
    with pytest.raises(ConsistencyProofError):
        merkle.verify_consistency(bad, 1, h, h, [])  # type: ignore[arg-type]


def test_errors_share_a_base() -> None:
    assert issubclass(InclusionProofError, ProofError)
    assert issubclass(ConsistencyProofError, ProofError)


# -- exhaustive small trees against the oracle ------------------------------------------------------


@pytest.mark.parametrize("size", range(1, 34))
def test_all_small_proofs_against_oracle(size: int) -> None:
    d = entries(size)
    hashes = [merkle.leaf_hash(x) for x in d]
    root = mth(d)
    assert merkle.root_of(hashes) == root
    for i in range(size):
        merkle.verify_inclusion(i, size, hashes[i], path(i, d), root)
    for m in range(1, size + 1):
        merkle.verify_consistency(m, size, mth(d[:m]), root, proof(m, d))


# -- property tests ----------------------------------------------------------------------------------

sizes = st.integers(min_value=1, max_value=300)


@settings(max_examples=150, deadline=None)
@given(size=sizes, data=st.data())
def test_inclusion_property(size: int, data: st.DataObject) -> None:
    d = entries(size)
    index = data.draw(st.integers(0, size - 1), label="index")
    leaf = merkle.leaf_hash(d[index])
    p = path(index, d)
    root = mth(d)
    merkle.verify_inclusion(index, size, leaf, p, root)

    pos = data.draw(st.integers(0, 31), label="byte")
    mask = data.draw(st.integers(1, 255), label="mask")
    for i in range(len(p)):
        bad = list(p)
        bad[i] = flip(bad[i], pos, mask)
        assert fails_inclusion(index, size, leaf, bad, root)
    assert fails_inclusion(index, size, flip(leaf, pos, mask), p, root)
    assert fails_inclusion(index, size, leaf, p, flip(root, pos, mask))

    other = data.draw(st.integers(0, size), label="other index")
    if other != index:
        assert fails_inclusion(other, size, leaf, p, root)
    # The size is bound to its root on chain: a wrong size must fail against that size's real root.
    other_size = data.draw(st.integers(index + 1, 301), label="other size")
    if other_size != size:
        assert fails_inclusion(index, other_size, leaf, p, mth(entries(other_size)))


@settings(max_examples=150, deadline=None)
@given(size2=sizes, data=st.data())
def test_consistency_property(size2: int, data: st.DataObject) -> None:
    d = entries(size2)
    size1 = data.draw(st.integers(1, size2), label="size1")
    root1, root2 = mth(d[:size1]), mth(d)
    p = proof(size1, d)
    merkle.verify_consistency(size1, size2, root1, root2, p)
    assert merkle.root_from_consistency_proof(size1, size2, root1, p) == root2

    pos = data.draw(st.integers(0, 31), label="byte")
    mask = data.draw(st.integers(1, 255), label="mask")
    for i in range(len(p)):
        bad = list(p)
        bad[i] = flip(bad[i], pos, mask)
        assert fails_consistency(size1, size2, root1, root2, bad)
    assert fails_consistency(size1, size2, flip(root1, pos, mask), root2, p)
    assert fails_consistency(size1, size2, root1, flip(root2, pos, mask), p)

    other1 = data.draw(st.integers(1, size2), label="other size1")
    if other1 != size1:
        assert fails_consistency(other1, size2, mth(d[:other1]), root2, p)
    other2 = data.draw(st.integers(size1, 301), label="other size2")
    if other2 != size2:
        assert fails_consistency(size1, other2, root1, mth(entries(other2)), p)


# -- second preimage ----------------------------------------------------------------------------------


def test_second_preimage_interior_node_cannot_pose_as_leaf() -> None:
    """Tree of 4 leaves; claim the 64 bytes left||right of the node over leaves 0,1 is a leaf of a
    2-leaf tree with the same root. Prefixes make that fail; plain hashing would accept it."""
    d = entries(4)
    h = [merkle.leaf_hash(x) for x in d]
    n01, n23 = merkle.node_hash(h[0], h[1]), merkle.node_hash(h[2], h[3])
    root = merkle.root_of(h)
    assert root == merkle.node_hash(n01, n23)
    forged_leaf_data = h[0] + h[1]
    assert len(forged_leaf_data) == 64
    assert fails_inclusion(0, 2, merkle.leaf_hash(forged_leaf_data), [n23], root)
    # The honest interior node itself does "verify" at that position: only its bytes, not a leaf.
    merkle.verify_inclusion(0, 2, n01, [n23], root)

    # Without domain separation (leaf = H(data), node = H(l || r)) the forgery goes through.
    def plain_leaf(x: bytes) -> bytes:
        return _h(x)

    def plain_node(left: bytes, right: bytes) -> bytes:
        return _h(left + right)

    p = [plain_leaf(x) for x in d]
    p01, p23 = plain_node(p[0], p[1]), plain_node(p[2], p[3])
    plain_root = plain_node(p01, p23)
    forged = plain_leaf(p[0] + p[1])
    assert plain_node(forged, p23) == plain_root  # a 2-leaf "tree" with the forged leaf: same root


# -- mutation-test survivors (issue 7 point 7): each test below kills a mutant that survived the suite --------


def _store(data: list[bytes]):  # type: ignore[no-untyped-def]
    """anchor.proofs' fetch over the perfect subtrees of `data`'s leaves."""
    leaves = [merkle.leaf_hash(d) for d in data]

    def fetch(ids):  # type: ignore[no-untyped-def]
        return {n: merkle.root_of(leaves[n.index << n.level : (n.index + 1) << n.level]) for n in ids}

    return fetch


def test_inclusion_path_one_hash_too_long_is_rejected() -> None:
    """Without the path-length check this path leads to the size-2 root from a size-1 tree."""
    d0, d1 = b"entry 0", b"entry 1"
    leaf0, leaf1 = merkle.leaf_hash(d0), merkle.leaf_hash(d1)
    with pytest.raises(InclusionProofError, match="wrong path length"):
        merkle.verify_inclusion(0, 1, leaf1, [leaf0], merkle.node_hash(leaf0, leaf1))


@pytest.mark.parametrize("size", range(1, 34))
def test_inclusion_paths_one_hash_too_long_are_rejected(size: int) -> None:
    from anchor import proofs

    data = [f"entry {i}".encode() for i in range(size)]
    fetch, root = _store(data), merkle.root_of([merkle.leaf_hash(d) for d in data])
    for index in range(size):
        good = proofs.inclusion_proof(index, size, fetch)
        merkle.verify_inclusion(index, size, merkle.leaf_hash(data[index]), good, root)
        for at in {0, len(good)}:
            longer = [*good[:at], SOME_HASH, *good[at:]]
            with pytest.raises(InclusionProofError, match="wrong path length"):
                merkle.verify_inclusion(index, size, merkle.leaf_hash(data[index]), longer, root)


def mth_path_len(n: int) -> list[bytes]:
    """The RFC 9162 path of leaf n in a tree of n + 1 leaves (the oracle's PATH, over dummy entries)."""
    return path(n, [b""] * (n + 1))


# Sizes n where leaf n's path in the tree of n + 1 has the length the checks compute for index n, size n.
SIZES_WITH_A_PATH_FOR_INDEX_SIZE = [
    n for n in range(1, 33) if sum(merkle._decomp_incl_proof(n, n)) == len(mth_path_len(n))
]


@pytest.mark.parametrize("size", SIZES_WITH_A_PATH_FOR_INDEX_SIZE)
def test_index_equal_to_size_reaches_the_index_check(size: int) -> None:
    """The path has the length an index-`size` path would have (that of leaf `size` of the next
    tree), and leads to that tree's root: only `index < size` stops it."""
    from anchor import proofs

    data = [f"entry {i}".encode() for i in range(size + 1)]
    path = proofs.inclusion_proof(size, size + 1, _store(data))
    assert len(path) == sum(merkle._decomp_incl_proof(size, size))
    root = merkle.root_of([merkle.leaf_hash(d) for d in data])
    with pytest.raises(InclusionProofError, match="beyond tree size"):
        merkle.verify_inclusion(size, size, merkle.leaf_hash(data[size]), path, root)


def test_index_equal_to_size_one() -> None:
    d0, d1 = b"entry 0", b"entry 1"
    leaf0, leaf1 = merkle.leaf_hash(d0), merkle.leaf_hash(d1)
    with pytest.raises(InclusionProofError, match="beyond tree size 1"):
        merkle.verify_inclusion(1, 1, leaf1, [leaf0], merkle.node_hash(leaf0, leaf1))


def test_some_sizes_reach_the_index_check() -> None:
    assert len(SIZES_WITH_A_PATH_FOR_INDEX_SIZE) >= 8 and 1 in SIZES_WITH_A_PATH_FOR_INDEX_SIZE


CONSISTENCY_DATA = [f"entry {i}".encode() for i in range(64)]
CONSISTENCY_ROOTS = [merkle.root_of([merkle.leaf_hash(d) for d in CONSISTENCY_DATA[:n]]) for n in range(65)]


@pytest.mark.parametrize("size2", range(1, 65))
def test_consistency_proof_one_hash_too_long_is_rejected(size2: int) -> None:
    """For every size pair up to 64 leaves: the correct proof verifies; with one more hash (anywhere)
    it is refused, and no extra hash lets it prove another root2."""
    from anchor import proofs

    fetch = _store(CONSISTENCY_DATA[:size2])
    root2 = CONSISTENCY_ROOTS[size2]
    for size1 in range(1, size2 + 1):
        root1 = CONSISTENCY_ROOTS[size1]
        good = proofs.consistency_proof(size1, size2, fetch)
        merkle.verify_consistency(size1, size2, root1, root2, good)
        for at in sorted({0, len(good) // 2, len(good)}):
            for extra in (SOME_HASH, root1, root2):
                longer = [*good[:at], extra, *good[at:]]
                with pytest.raises(ConsistencyProofError):
                    merkle.root_from_consistency_proof(size1, size2, root1, longer)
                with pytest.raises(ConsistencyProofError):
                    merkle.verify_consistency(size1, size2, root1, root2, longer)


def test_consistency_length_check_stops_forged_root2() -> None:
    """A proof made for another size2' (of another length) must not pass as a proof for size2: with
    the length check weakened (or gone) 1302 size pairs up to 64 leaves would accept the shorter proof
    of a smaller tree and 'prove' its root (found by brute force: removing the check, or `>`)."""
    from anchor import proofs

    fetch = _store(CONSISTENCY_DATA)
    proof_of = {(s1, s2): proofs.consistency_proof(s1, s2, fetch) for s2 in range(1, 65) for s1 in range(1, s2 + 1)}
    forged = 0
    for (s1, s2), _ in proof_of.items():
        for s2b in range(s1, 65):
            other = proof_of[(s1, s2b)]
            if s2b == s2 or len(other) == len(proof_of[(s1, s2)]):
                continue
            forged += 1
            with pytest.raises(ConsistencyProofError, match=r"wrong proof length|not empty|empty proof"):
                merkle.root_from_consistency_proof(s1, s2, CONSISTENCY_ROOTS[s1], other)
    assert forged > 1000


@pytest.mark.parametrize("size2", range(2, 65))
def test_consistency_proof_one_hash_too_short_is_rejected(size2: int) -> None:
    from anchor import proofs

    fetch = _store(CONSISTENCY_DATA[:size2])
    for size1 in range(1, size2):
        good = proofs.consistency_proof(size1, size2, fetch)
        for at in range(len(good)):
            shorter = good[:at] + good[at + 1 :]
            with pytest.raises(ConsistencyProofError):
                merkle.verify_consistency(size1, size2, CONSISTENCY_ROOTS[size1], CONSISTENCY_ROOTS[size2], shorter)


# -- every refusal names what is wrong, word for word (an auditor reads these; mutation testing found them unasserted)
_L = [merkle.leaf_hash(bytes([i])) for i in range(8)]
_R4 = merkle.root_of(_L[:4])
_R8 = merkle.root_of(_L)
_BAD = b"\x00" * 31


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: merkle.root_from_inclusion_proof(-1, 4, _L[0], []), "index must be a non-negative integer, got -1"),
        (lambda: merkle.root_from_inclusion_proof(0, True, _L[0], []), "size must be a non-negative integer, got True"),
        (lambda: merkle.root_from_inclusion_proof(4, 4, _L[0], []), "index 4 is beyond tree size 4"),
        (lambda: merkle.root_from_inclusion_proof(0, 4, _BAD, []), "leaf hash must be 32 bytes, got 31"),
        (lambda: merkle.root_from_inclusion_proof(0, 4, _L[0], [_L[1], "x"]), "path[1] must be 32 bytes, got str"),
        (lambda: merkle.root_from_inclusion_proof(0, 4, _L[0], [_L[1]]), "wrong path length 1, want 2"),
        (lambda: merkle.root_from_inclusion_proof(4, 5, _L[0], []), "wrong path length 0, want 1"),  # a border hash
        (lambda: merkle.verify_inclusion(0, 4, _L[0], [], _BAD), "root must be 32 bytes, got 31"),
        (lambda: merkle.verify_inclusion(0, 1, _L[0], [], _L[1]),
         f"calculated root {_L[0].hex()} does not match expected {_L[1].hex()}"),
        (lambda: merkle.root_from_consistency_proof("4", 8, _R4, []), "size1 must be a non-negative integer, got '4'"),
        (lambda: merkle.root_from_consistency_proof(4, -8, _R4, []), "size2 must be a non-negative integer, got -8"),
        (lambda: merkle.root_from_consistency_proof(4, 8, _BAD, []), "root1 must be 32 bytes, got 31"),
        (lambda: merkle.root_from_consistency_proof(4, 8, _R4, [_R4, _BAD]), "proof[1] must be 32 bytes, got 31"),
        (lambda: merkle.root_from_consistency_proof(8, 4, _R4, []), "size2 (4) < size1 (8)"),
        (lambda: merkle.root_from_consistency_proof(0, 4, _R4, []),
         "size1 is 0: the empty tree does not determine a later root"),
        (lambda: merkle.root_from_consistency_proof(4, 4, _R4, [_R4]), "size1 == size2 but the proof is not empty"),
        (lambda: merkle.root_from_consistency_proof(4, 8, _R4, []), "empty proof"),
        (lambda: merkle.root_from_consistency_proof(4, 8, _R4, [_R4, _R4]), "wrong proof length 2, want 1"),
        (lambda: merkle.verify_consistency(4, 8, _R4, _BAD, []), "root2 must be 32 bytes, got 31"),
        (lambda: merkle.verify_consistency(-1, 8, _R4, _R8, []), "size1 must be a non-negative integer, got -1"),
        (lambda: merkle.verify_consistency(4, None, _R4, _R8, []), "size2 must be a non-negative integer, got None"),
        (lambda: merkle.verify_consistency(0, 8, _R4, _R8, [_R4]), "size1 is 0: expected an empty proof, got 1 hashes"),
        (lambda: merkle.verify_consistency(0, 0, _BAD, _R4, []), "root1 must be 32 bytes, got 31"),
        (lambda: merkle.verify_consistency(0, 0, _R8, _R4, []), "sizes are equal but the roots differ"),
    ],
)
def test_each_refusal_says_what_is_wrong(call, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ProofError) as caught:
        call()
    assert str(caught.value) == message


def test_a_wrong_consistency_proof_names_both_roots() -> None:
    proof = [merkle.root_of(_L[4:])]  # the right proof of 4 -> 8
    merkle.verify_consistency(4, 8, _R4, _R8, proof)
    assert merkle.root_from_consistency_proof(4, 8, _R4, proof) == _R8
    with pytest.raises(ConsistencyProofError) as caught:
        merkle.verify_consistency(4, 8, _R4, _R4, proof)
    assert str(caught.value) == f"calculated root2 {_R8.hex()} does not match expected {_R4.hex()}"
    with pytest.raises(InclusionProofError):  # the two kinds stay apart
        merkle.verify_inclusion(0, 8, _L[0], proof, _R8)


def test_a_consistency_proof_that_does_not_reproduce_root1_says_so() -> None:
    """size1 = 3 is no power of two: the proof must first rebuild root1 (here it cannot: arbitrary hashes)."""
    refusals = []
    for n in range(1, 6):
        with pytest.raises(ConsistencyProofError) as caught:
            merkle.root_from_consistency_proof(3, 8, _R4, _L[:n])
        refusals.append(str(caught.value))
    rebuilt = [m for m in refusals if m.startswith("proof does not reproduce root1: got ")]
    assert len(rebuilt) == 1 and rebuilt[0].endswith(f", want {_R4.hex()}"), refusals
