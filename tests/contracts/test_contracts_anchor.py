"""ArchiveAnchor on the in-process chain (web3 EthereumTesterProvider, py-evm backend).

Consistency proofs come from a tiny RFC 9162 reference implementation in this file (independent of
verifier/merkle.py on purpose: the contract and the Python verifier must each agree with the RFC, not
with each other). One deployment per module; every test runs on a fresh chain snapshot.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pytest
from eth_abi import decode, encode
from eth_utils import keccak
from web3 import EthereumTesterProvider, Web3

from contracts import load_artifact
from tests.helpers.evm import error_table, revert_data
from tests.helpers.paths import REPO_ROOT

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# ---------------------------------------------------------------- RFC 9162 reference


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(data: bytes) -> bytes:
    return _sha(b"\x00" + data)


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha(b"\x01" + left + right)


def _split(n: int) -> int:
    """Largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class RefTree:
    """RFC 9162 section 2.1: MTH and SUBPROOF over a fixed list of leaf hashes."""

    def __init__(self, leaves: Sequence[bytes]):
        self.leaves = list(leaves)
        self.mth = lru_cache(maxsize=None)(self._mth)

    def _mth(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return _sha(b"")
        if n == 1:
            return self.leaves[lo]
        k = _split(n)
        return node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))

    def root(self, size: int) -> bytes:
        return self.mth(0, size)

    def consistency(self, size1: int, size2: int) -> list[bytes]:
        return self._subproof(size1, 0, size2, True)

    def _subproof(self, m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if complete else [self.mth(lo, hi)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, complete), self.mth(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, False), self.mth(lo, lo + k)]


def ref_verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2, transcribed step by step."""
    if size1 == size2:
        return not proof and root1 == root2
    if size1 == 0 or size1 > size2 or not proof:
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == root1 and sr == root2 and sn == 0


TREE = RefTree([leaf_hash(f"record {i}".encode()) for i in range(80)])


def test_reference_matches_rfc6962_vectors():
    """Sanity of the reference itself: the RFC 6962 / CT test-vector roots for the 8-leaf tree."""
    data = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ]
    tree = RefTree([leaf_hash(d) for d in data])
    assert tree.root(1).hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert tree.root(3).hex() == "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"
    assert tree.root(8).hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    for m in range(1, 9):
        for n in range(m, 9):
            assert ref_verify_consistency(m, n, tree.root(m), tree.root(n), tree.consistency(m, n))


# ---------------------------------------------------------------- chain fixtures

ANY_LOG = b"\x00" * 32
LOG_A = _sha(b"archive-ledger/log/v1/A001")
LOG_B = _sha(b"archive-ledger/log/v1/B002")


def log_id(label: str) -> bytes:
    return _sha(b"archive-ledger/log/v1/" + label.encode())


@dataclass
class Chain:
    w3: Web3
    contract: Any
    roles: Any  # the ArchiveRoles contract the anchor consults
    admin: str  # SYSTEM_ADMIN officer (grants anchorer roles)
    security_admin: str
    auditor: str
    anchorer_a: str  # anchorer of LOG_A only
    anchorer_any: str  # anchorer of ANY_LOG
    anchorer_b: str  # anchorer of LOG_B only
    outsider: str
    errors: dict[bytes, tuple[str, list[str]]]

    @property
    def fn(self):
        return self.contract.functions

    def send(self, call, sender: str):
        # Explicit gas: skips eth_estimateGas (a binary search of executions), the slow part on py-evm.
        receipt = self.w3.eth.wait_for_transaction_receipt(call.transact({"from": sender, "gas": 3_000_000}))
        assert receipt.status == 1
        return receipt

    def revert(self, call, sender: str) -> tuple[str, tuple]:
        """Name and arguments of the custom error `call` reverts with (eth_call, so nothing is mined)."""
        with pytest.raises(Exception) as info:
            call.call({"from": sender})
        data = revert_data(info.value)
        name, types = self.errors[data[:4]]
        values = decode(types, data[4:])
        return name, tuple(
            Web3.to_checksum_address(v) if t == "address" else v for t, v in zip(types, values, strict=True)
        )

    def anchored(self, receipt) -> list[dict]:
        return [dict(ev.args) for ev in self.contract.events.CheckpointAnchored().process_receipt(receipt)]


def _deploy(w3: Web3, artifact: dict, sender: str, *args: Any) -> Any:
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": sender}))
    return w3.eth.contract(address=receipt.contractAddress, abi=artifact["abi"])


@pytest.fixture(scope="module")
def chain() -> Chain:
    artifact, roles_artifact = load_artifact("ArchiveAnchor"), load_artifact("ArchiveRoles")
    w3 = Web3(EthereumTesterProvider())
    admin, anchorer_a, anchorer_any, anchorer_b, outsider = w3.eth.accounts[:5]
    security_admin, auditor, deployer = w3.eth.accounts[7:10]
    roles = _deploy(w3, roles_artifact, deployer, admin, security_admin, auditor)
    contract = _deploy(w3, artifact, deployer, roles.address)
    c = Chain(
        w3, contract, roles, admin, security_admin, auditor, anchorer_a, anchorer_any, anchorer_b, outsider,
        error_table(artifact["abi"] + roles_artifact["abi"]),
    )  # fmt: skip
    c.send(roles.functions.grantAnchorer(LOG_A, anchorer_a), admin)
    c.send(roles.functions.grantAnchorer(ANY_LOG, anchorer_any), admin)
    c.send(roles.functions.grantAnchorer(LOG_B, anchorer_b), admin)
    return c


@pytest.fixture(autouse=True)
def _fresh_state(request):
    if "chain" not in request.fixturenames:
        yield
        return
    c: Chain = request.getfixturevalue("chain")
    snap = c.w3.testing.snapshot()
    yield
    c.w3.testing.revert(snap)


def proof(size1: int, size2: int) -> list[bytes]:
    return TREE.consistency(size1, size2)


# ---------------------------------------------------------------- deployment and roles


def test_deployment_constants(chain: Chain):
    fn = chain.fn
    assert fn.anchorVersion().call() == "archive-ledger/ArchiveAnchor/1"
    assert fn.ANY_LOG().call() == ANY_LOG
    assert fn.roles().call() == chain.roles.address
    # The anchor holds no roles of its own: no AccessControl in its ABI.
    names = {item.get("name") for item in chain.contract.abi}
    assert not names & {"hasRole", "grantRole", "grantAnchorer", "revokeAnchorer", "DEFAULT_ADMIN_ROLE"}
    # Off-chain code derives the role the same way: keccak256(abi.encode("ANCHORER", logId)).
    role = chain.roles.functions.anchorerRole(LOG_A).call()
    assert role == keccak(encode(["string", "bytes32"], ["ANCHORER", LOG_A]))
    assert chain.roles.functions.hasRole(role, chain.anchorer_a).call()


def test_constructor_requires_a_roles_contract(chain: Chain):
    artifact = load_artifact("ArchiveAnchor")
    factory = chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    with pytest.raises(Exception) as info:
        factory.constructor(chain.outsider).estimate_gas({"from": chain.outsider})
    data = revert_data(info.value)
    assert chain.errors[data[:4]][0] == "RolesNotAContract"


def test_is_anchorer(chain: Chain):
    fn = chain.fn
    assert fn.isAnchorer(LOG_A, chain.anchorer_a).call()
    assert not fn.isAnchorer(LOG_B, chain.anchorer_a).call()
    assert fn.isAnchorer(LOG_A, chain.anchorer_any).call()
    assert fn.isAnchorer(log_id("whatever"), chain.anchorer_any).call()
    assert not fn.isAnchorer(LOG_A, chain.outsider).call()
    assert not fn.isAnchorer(LOG_A, chain.admin).call()  # admin grants, does not anchor


def test_non_anchorer_rejected(chain: Chain):
    name, args = chain.revert(chain.fn.anchor(LOG_A, 3, TREE.root(3), []), chain.outsider)
    assert (name, args) == ("NotAnchorer", (LOG_A, chain.outsider))
    name, _ = chain.revert(chain.fn.anchor(LOG_A, 3, TREE.root(3), []), chain.admin)
    assert name == "NotAnchorer"


def test_anchorer_of_other_log_rejected(chain: Chain):
    name, args = chain.revert(chain.fn.anchor(LOG_B, 3, TREE.root(3), []), chain.anchorer_a)
    assert (name, args) == ("NotAnchorer", (LOG_B, chain.anchorer_a))


def test_any_log_anchorer_accepted(chain: Chain):
    for log in (LOG_A, LOG_B, log_id("C003")):
        chain.send(chain.fn.anchor(log, 5, TREE.root(5), []), chain.anchorer_any)
        assert chain.fn.rootAt(log, 5).call() == TREE.root(5)


def test_only_system_admin_grants_and_revokes(chain: Chain):
    roles = chain.roles.functions
    system_admin = keccak(text="SYSTEM_ADMIN_ROLE")
    for sender in (chain.outsider, chain.anchorer_a, chain.anchorer_any, chain.security_admin, chain.auditor):
        name, args = chain.revert(roles.grantAnchorer(LOG_A, chain.outsider), sender)
        assert (name, args) == ("AccessControlUnauthorizedAccount", (sender, system_admin))
        name, _ = chain.revert(roles.revokeAnchorer(LOG_A, chain.anchorer_a), sender)
        assert name == "AccessControlUnauthorizedAccount"

    # A second system admin (two officers: proposed by one, confirmed by another) can grant too.
    second = chain.w3.eth.accounts[5]
    chain.send(roles.proposeOfficerChange(system_admin, second, True), chain.security_admin)
    chain.send(roles.confirmOfficerChange(1), chain.auditor)
    new_anchorer = chain.w3.eth.accounts[6]
    chain.send(roles.grantAnchorer(LOG_B, new_anchorer), second)
    assert chain.fn.isAnchorer(LOG_B, new_anchorer).call()
    chain.send(chain.fn.anchor(LOG_B, 2, TREE.root(2), []), new_anchorer)

    # Revocation on the roles contract takes effect on the anchor at once.
    chain.send(roles.revokeAnchorer(LOG_B, new_anchorer), chain.admin)
    name, _ = chain.revert(chain.fn.anchor(LOG_B, 3, TREE.root(3), proof(2, 3)), new_anchorer)
    assert name == "NotAnchorer"


# ---------------------------------------------------------------- checkpoints


def test_first_checkpoint_and_views(chain: Chain):
    fn = chain.fn
    assert fn.latest(LOG_A).call() == [0, b"\x00" * 32, 0]
    assert fn.checkpointCount(LOG_A).call() == 0
    assert fn.rootAt(LOG_A, 7).call() == b"\x00" * 32
    assert fn.anchoredAtBlock(LOG_A, 7).call() == 0

    receipt = chain.send(fn.anchor(LOG_A, 7, TREE.root(7), []), chain.anchorer_a)
    assert chain.anchored(receipt) == [{"logId": LOG_A, "treeSize": 7, "root": TREE.root(7), "previousSize": 0}]
    block = receipt.blockNumber
    assert fn.latest(LOG_A).call() == [7, TREE.root(7), block]
    assert fn.rootAt(LOG_A, 7).call() == TREE.root(7)
    assert fn.anchoredAtBlock(LOG_A, 7).call() == block
    assert fn.checkpointCount(LOG_A).call() == 1
    assert fn.checkpointCount(LOG_B).call() == 0
    # Indexed topics carry logId and treeSize so a client can filter by log.
    log = receipt.logs[0]
    assert log.topics[1] == LOG_A
    assert int.from_bytes(log.topics[2], "big") == 7


def test_extension_with_valid_proof(chain: Chain):
    fn = chain.fn
    r1 = chain.send(fn.anchor(LOG_A, 7, TREE.root(7), []), chain.anchorer_a)
    r2 = chain.send(fn.anchor(LOG_A, 20, TREE.root(20), proof(7, 20)), chain.anchorer_a)
    assert chain.anchored(r2) == [{"logId": LOG_A, "treeSize": 20, "root": TREE.root(20), "previousSize": 7}]
    assert fn.latest(LOG_A).call() == [20, TREE.root(20), r2.blockNumber]
    assert fn.checkpointCount(LOG_A).call() == 2
    # Every checkpoint stays queryable, each with its own block.
    assert fn.rootAt(LOG_A, 7).call() == TREE.root(7)
    assert fn.anchoredAtBlock(LOG_A, 7).call() == r1.blockNumber
    assert fn.anchoredAtBlock(LOG_A, 20).call() == r2.blockNumber
    assert fn.rootAt(LOG_A, 8).call() == b"\x00" * 32


def test_extension_from_power_of_two(chain: Chain):
    """size1 a power of two: root1 is the implicit first hash, the proof does not contain it."""
    chain.send(chain.fn.anchor(LOG_A, 8, TREE.root(8), []), chain.anchorer_a)
    assert proof(8, 20) == [TREE.mth(8, 16), TREE.mth(16, 20)]
    chain.send(chain.fn.anchor(LOG_A, 20, TREE.root(20), proof(8, 20)), chain.anchorer_a)
    assert chain.fn.latest(LOG_A).call()[0] == 20


def test_all_pairs_up_to_16_leaves(chain: Chain):
    for size2 in range(2, 17):
        for size1 in range(1, size2):
            log = log_id(f"pair-{size1}-{size2}")
            chain.send(chain.fn.anchor(log, size1, TREE.root(size1), []), chain.anchorer_any)
            chain.send(chain.fn.anchor(log, size2, TREE.root(size2), proof(size1, size2)), chain.anchorer_any)
            assert chain.fn.latest(log).call()[:2] == [size2, TREE.root(size2)]


def test_random_pairs_up_to_70_leaves(chain: Chain):
    rng = random.Random(9162)
    for i in range(120):
        size1 = rng.randint(1, 69)
        size2 = rng.randint(size1 + 1, 70)
        log = log_id(f"random-{i}")
        chain.send(chain.fn.anchor(log, size1, TREE.root(size1), []), chain.anchorer_any)
        chain.send(chain.fn.anchor(log, size2, TREE.root(size2), proof(size1, size2)), chain.anchorer_any)
        assert chain.fn.rootAt(log, size2).call() == TREE.root(size2)


def test_growing_log_sequence(chain: Chain):
    rng = random.Random(7)
    size, count = rng.randint(1, 5), 1
    chain.send(chain.fn.anchor(LOG_A, size, TREE.root(size), []), chain.anchorer_a)
    while size < 70:
        new = min(70, size + rng.randint(1, 9))
        chain.send(chain.fn.anchor(LOG_A, new, TREE.root(new), proof(size, new)), chain.anchorer_a)
        size, count = new, count + 1
    assert chain.fn.checkpointCount(LOG_A).call() == count
    assert chain.fn.latest(LOG_A).call()[:2] == [70, TREE.root(70)]


def _mutations(size1: int, size2: int, rng: random.Random) -> list[tuple[str, list[bytes], bytes]]:
    """Wrong (proof, root2) variants for an extension size1 -> size2."""
    good = proof(size1, size2)
    out = []
    for i in range(len(good)):
        bad = list(good)
        flip = rng.randrange(32)
        bad[i] = bad[i][:flip] + bytes([bad[i][flip] ^ (1 << rng.randrange(8))]) + bad[i][flip + 1 :]
        out.append((f"flip[{i}]", bad, TREE.root(size2)))
    out.append(("truncated", good[:-1], TREE.root(size2)))
    out.append(("extended", [*good, _sha(b"extra")], TREE.root(size2)))
    out.append(("swapped", list(reversed(good)), TREE.root(size2)))
    out.append(("wrong root", good, TREE.root(size2 - 1) if size2 - 1 != size1 else _sha(b"x")))
    out.append(("proof for other size", proof(size1, size2 + 1), TREE.root(size2)))
    out.append(("empty", [], TREE.root(size2)))
    return [m for m in out if m[1] != good or m[2] != TREE.root(size2)]


@pytest.mark.parametrize(("size1", "size2"), [(1, 2), (3, 7), (4, 9), (7, 8), (6, 70), (32, 64), (33, 65), (63, 64)])
def test_tampered_proofs_rejected(chain: Chain, size1: int, size2: int):
    rng = random.Random(size1 * 1000 + size2)
    chain.send(chain.fn.anchor(LOG_A, size1, TREE.root(size1), []), chain.anchorer_a)
    for label, bad_proof, root2 in _mutations(size1, size2, rng):
        # The reference verifier and the contract agree on every variant.
        assert not ref_verify_consistency(size1, size2, TREE.root(size1), root2, bad_proof), label
        name, args = chain.revert(chain.fn.anchor(LOG_A, size2, root2, bad_proof), chain.anchorer_a)
        assert (name, args) == ("InconsistentCheckpoint", (LOG_A, size1, size2)), label
    assert chain.fn.latest(LOG_A).call()[0] == size1


def test_proof_from_other_log_history_rejected(chain: Chain):
    """A log rewritten after its checkpoint (one record changed) cannot be extended."""
    forged = RefTree([*TREE.leaves[:3], leaf_hash(b"forged"), *TREE.leaves[4:]])
    chain.send(chain.fn.anchor(LOG_A, 5, TREE.root(5), []), chain.anchorer_a)
    name, _ = chain.revert(chain.fn.anchor(LOG_A, 9, forged.root(9), forged.consistency(5, 9)), chain.anchorer_a)
    assert name == "InconsistentCheckpoint"


def test_first_checkpoint_with_proof_rejected(chain: Chain):
    name, args = chain.revert(chain.fn.anchor(LOG_A, 9, TREE.root(9), proof(5, 9)), chain.anchorer_a)
    assert (name, args) == ("InconsistentCheckpoint", (LOG_A, 0, 9))


def test_empty_checkpoint_rejected(chain: Chain):
    name, args = chain.revert(chain.fn.anchor(LOG_A, 0, _sha(b""), []), chain.anchorer_a)
    assert (name, args) == ("EmptyCheckpoint", (LOG_A,))


def test_shrinking_rejected(chain: Chain):
    chain.send(chain.fn.anchor(LOG_A, 10, TREE.root(10), []), chain.anchorer_a)
    name, args = chain.revert(chain.fn.anchor(LOG_A, 9, TREE.root(9), []), chain.anchorer_a)
    assert (name, args) == ("LogShrinks", (LOG_A, 10, 9))


def test_conflicting_root_rejected(chain: Chain):
    chain.send(chain.fn.anchor(LOG_A, 10, TREE.root(10), []), chain.anchorer_a)
    other = _sha(b"other root")
    name, args = chain.revert(chain.fn.anchor(LOG_A, 10, other, []), chain.anchorer_a)
    assert (name, args) == ("ConflictingRoot", (LOG_A, 10, TREE.root(10), other))


def test_equal_resubmission_is_noop(chain: Chain):
    fn = chain.fn
    first = chain.send(fn.anchor(LOG_A, 10, TREE.root(10), []), chain.anchorer_a)
    again = chain.send(fn.anchor(LOG_A, 10, TREE.root(10), []), chain.anchorer_a)
    assert chain.anchored(again) == []
    assert fn.checkpointCount(LOG_A).call() == 1
    assert fn.anchoredAtBlock(LOG_A, 10).call() == first.blockNumber
    # Also after an extension, and even if the re-sent transaction still carries its proof.
    chain.send(fn.anchor(LOG_A, 12, TREE.root(12), proof(10, 12)), chain.anchorer_a)
    again = chain.send(fn.anchor(LOG_A, 12, TREE.root(12), proof(10, 12)), chain.anchorer_a)
    assert chain.anchored(again) == []
    assert fn.checkpointCount(LOG_A).call() == 2


# ---------------------------------------------------------------- anchorMany


def _input(log: bytes, size: int, prf: list[bytes] | None = None) -> tuple:
    return (log, size, TREE.root(size), prf or [])


def test_anchor_many_several_logs(chain: Chain):
    fn = chain.fn
    logs = [log_id(f"many-{i}") for i in range(5)]
    receipt = chain.send(fn.anchorMany([_input(log, 3 + i) for i, log in enumerate(logs)]), chain.anchorer_any)
    events = chain.anchored(receipt)
    assert [(e["logId"], e["treeSize"], e["previousSize"]) for e in events] == [
        (log, 3 + i, 0) for i, log in enumerate(logs)
    ]
    for i, log in enumerate(logs):
        assert fn.latest(log).call() == [3 + i, TREE.root(3 + i), receipt.blockNumber]
    # Second round: extensions of all logs, plus two successive checkpoints of one log, in one tx.
    entries = [_input(log, 40, proof(3 + i, 40)) for i, log in enumerate(logs)]
    entries.append(_input(logs[0], 55, proof(40, 55)))
    receipt = chain.send(fn.anchorMany(entries), chain.anchorer_any)
    assert len(chain.anchored(receipt)) == 6
    assert fn.latest(logs[0]).call()[:2] == [55, TREE.root(55)]
    assert fn.checkpointCount(logs[0]).call() == 3
    assert fn.checkpointCount(logs[4]).call() == 2


def test_anchor_many_empty_is_noop(chain: Chain):
    receipt = chain.send(chain.fn.anchorMany([]), chain.anchorer_a)
    assert receipt.logs == []


def test_anchor_many_respects_roles(chain: Chain):
    name, args = chain.revert(chain.fn.anchorMany([_input(LOG_A, 3), _input(LOG_B, 4)]), chain.anchorer_a)
    assert (name, args) == ("NotAnchorer", (LOG_B, chain.anchorer_a))


def test_anchor_many_reverts_entirely(chain: Chain):
    fn = chain.fn
    chain.send(fn.anchor(LOG_A, 10, TREE.root(10), []), chain.anchorer_any)
    before = chain.w3.eth.block_number
    good_b = _input(LOG_B, 4)
    good_a = _input(LOG_A, 20, proof(10, 20))
    bad_a = (LOG_A, 20, TREE.root(20), proof(10, 21))
    name, _ = chain.revert(fn.anchorMany([good_b, bad_a]), chain.anchorer_any)
    assert name == "InconsistentCheckpoint"
    # Mined with an explicit gas limit (skipping estimation): status 0 and no state change at all.
    tx = fn.anchorMany([good_b, good_a, _input(LOG_B, 3)]).transact({"from": chain.anchorer_any, "gas": 2_000_000})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx)
    assert receipt.status == 0
    assert receipt.blockNumber > before
    assert fn.checkpointCount(LOG_B).call() == 0
    assert fn.latest(LOG_A).call()[:2] == [10, TREE.root(10)]
    assert fn.checkpointCount(LOG_A).call() == 1


def test_artifact_loader_errors():
    from contracts import ArtifactError

    with pytest.raises(ArtifactError):
        load_artifact("NoSuchContract")
    with pytest.raises(ArtifactError):
        load_artifact("../build/ArchiveAnchor")
    assert (REPO_ROOT / "contracts" / "build" / "ArchiveAnchor.json").is_file()
