"""verifier.verify (every reason code, with in-memory chain endpoints and on py-evm) and verifier.chain
(ABI, single JSON-RPC calls)."""

from __future__ import annotations

import copy
import http.server
import io
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from anchor.chain.dev import fund_from_dev_account
from tests.helpers.bundles import (
    CHAIN_ID,
    CONTENTS,
    CONTRACT,
    GENESIS,
    OTHER,
    FakeChain,
    abi_string,
    build,
    make_bundle,
    records,
)
from tests.helpers.paths import REPO_ROOT
from tests.helpers.trust_builders import TrustKit
from verifier import chain as vchain
from verifier import merkle
from verifier.chain import ANCHOR_VERSION, JsonRpcChain
from verifier.errors import ChainUnavailable, RpcCallError, VerifierError
from verifier.records import log_id_for_fonds, record_leaf_hash
from verifier.trustroot import TrustRoot, load_trust_root
from verifier.verify import CHUNK_SIZE, STEP_NAMES, chain_calls, hash_content, verify_bundle


def make_trust(
    confirmations: int = 1, contract: str = CONTRACT, chain_id: int = CHAIN_ID, genesis: str = GENESIS
) -> TrustRoot:
    kit = TrustKit()
    body = kit.body(chain_id=chain_id, genesis_hash=genesis, confirmations=confirmations)
    body["contracts"]["ArchiveAnchor"]["address"] = contract
    return load_trust_root(kit.document(body))


TRUST = make_trust()


def check(bundle: dict, chain: FakeChain | None, content: bytes | None = CONTENTS[3], trust: Any = TRUST, **kw):
    return verify_bundle(bundle, content=content, trust=trust, chains=[chain] if chain else (), **kw)


def assert_outcome(result, outcome: str, step: str | None, code: str | None) -> None:
    assert (result.outcome, result.failed_step, result.reason_code) == (outcome, step, code), result.to_dict()
    assert result.exit_code == {"authentic": 0, "not_authentic": 1, "indeterminate": 2}[outcome]
    assert [s.name for s in result.steps] == list(STEP_NAMES)
    json.dumps(result.to_dict())


# -- happy path -------------------------------------------------------------------------------------------


def test_authentic() -> None:
    bundle, fake = build()
    result = check(bundle, fake)
    assert_outcome(result, "authentic", None, None)
    assert all(s.ok is True and s.status == "passed" for s in result.steps)
    assert "anchored" in result.message and "fake://a" in result.message


@pytest.mark.parametrize("index", range(7))
def test_every_leaf_is_authentic(index: int) -> None:
    bundle, fake = build(index)
    fake.mine(5)
    assert_outcome(check(bundle, fake, CONTENTS[index], confirmations=6), "authentic", None, None)


def test_precomputed_content_hash() -> None:
    bundle, fake = build()
    result = verify_bundle(bundle, content_sha256=hash_content(CONTENTS[3]).upper(), trust=TRUST, chains=[fake])
    assert_outcome(result, "authentic", None, None)


def test_bundle_contract_in_other_case_is_the_trusted_one() -> None:
    bundle, fake = build()
    bundle["anchor"]["contract"] = "0x" + "AB" * 20
    assert_outcome(check(bundle, fake), "authentic", None, None)


def test_content_is_streamed_in_chunks() -> None:
    big = b"x" * (3 * CHUNK_SIZE + 5)
    reads: list[int] = []

    class Reader(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            assert size is not None and 0 < size <= CHUNK_SIZE
            reads.append(size)
            return super().read(size)

    assert hash_content(Reader(big)) == hash_content(big)
    assert len(reads) == 5


def test_wrong_block_hint_in_bundle_is_reported_not_fatal() -> None:
    bundle, fake = build()
    block = bundle["anchor"]["block_number"]
    assert f"block {block}," in check(bundle, fake).message
    bundle["anchor"]["block_number"] = block + 100
    result = check(bundle, fake)
    assert_outcome(result, "authentic", None, None)
    assert f"the bundle says block {block + 100}" in result.message


def test_one_batch_per_endpoint_at_the_trusted_contract() -> None:
    bundle, fake = build()
    fake.mine(9)
    second = fake.mirror("fake://b")
    result = verify_bundle(bundle, content=CONTENTS[3], trust=TRUST, chains=[fake, second], confirmations=4)
    assert_outcome(result, "authentic", None, None)
    log_id = bytes.fromhex(bundle["log_id"])
    assert fake.batches == [chain_calls(CONTRACT, log_id, 7)] and second.batches == fake.batches
    methods = [m for m, _ in fake.batches[0]]
    assert methods == ["eth_chainId", "eth_getBlockByNumber", "eth_blockNumber", "eth_call", "eth_call", "eth_call"]
    assert all(p[0]["to"] == CONTRACT for m, p in fake.batches[0] if m == "eth_call")
    assert "fake://a" in result.message and "fake://b" in result.message


# -- content ----------------------------------------------------------------------------------------------


def test_content_mismatch() -> None:
    bundle, fake = build()
    result = check(bundle, fake, content=b"another file")
    assert_outcome(result, "not_authentic", "content_hash", "content_mismatch")
    assert [s.status for s in result.steps] == ["failed", "not_run", "not_run", "not_run"]


def test_content_mismatch_from_stream() -> None:
    bundle, fake = build()
    assert_outcome(
        verify_bundle(bundle, content=io.BytesIO(CONTENTS[2]), trust=TRUST, chains=[fake]),
        "not_authentic",
        "content_hash",
        "content_mismatch",
    )


def test_content_not_given_is_indeterminate() -> None:
    bundle, fake = build()
    result = check(bundle, fake, content=None)
    assert_outcome(result, "indeterminate", "content_hash", "content_not_given")
    assert [s.status for s in result.steps] == ["indeterminate", "passed", "passed", "passed"]


def test_bad_arguments() -> None:
    bundle, fake = build()
    with pytest.raises(ValueError):
        verify_bundle(bundle, content=b"x", content_sha256="00" * 32, trust=TRUST, chains=[fake])
    with pytest.raises(ValueError):
        verify_bundle(bundle, content_sha256="nothex", trust=TRUST, chains=[fake])
    with pytest.raises(ValueError):
        verify_bundle(bundle, content=b"x", trust=TRUST, chains=[fake], confirmations=0)
    with pytest.raises(TypeError):
        verify_bundle(bundle, content=b"x", trust=TRUST.document, chains=[fake])  # type: ignore[arg-type]


# -- record -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.update(v=2),
        lambda b: b.pop("inclusion_path"),
        lambda b: b.update(leaf_hash="XYZ"),
        lambda b: b.update(leaf_index=-1),
        lambda b: b.update(leaf_index="3"),
        lambda b: b.update(tree_size=0),
        lambda b: b.update(tree_size=2**64),
        lambda b: b.update(inclusion_path="00"),
        lambda b: b.update(inclusion_path=["00" * 31]),
        lambda b: b.update(root=b["root"].upper()),
        lambda b: b.update(log_id=log_id_for_fonds("Z002").hex()),
        lambda b: b.update(anchor="0x"),
        lambda b: b["anchor"].pop("tx_hash"),
        lambda b: b["anchor"].update(contract="0x1234"),
        lambda b: b["anchor"].update(chain_id="1337"),
        lambda b: b["anchor"].update(tx_hash="0x12"),
    ],
)
def test_bundle_malformed(mutate) -> None:
    bundle, fake = build()
    mutate(bundle)
    result = check(bundle, fake)
    assert_outcome(result, "not_authentic", "record", "bundle_malformed")
    assert result.steps[0].ok is True  # the content still matched the record


def test_bundle_not_an_object() -> None:
    result = verify_bundle([], content=b"x", trust=TRUST)  # type: ignore[arg-type]
    assert_outcome(result, "not_authentic", "record", "bundle_malformed")
    assert result.steps[0].status == "not_run"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.pop("nonce"),
        lambda r: r.update(size="12"),
        lambda r: r.update(nonce="zz" * 16),
        lambda r: r.update(surprise=True),
    ],
)
def test_record_malformed(mutate) -> None:
    bundle, fake = build()
    mutate(bundle["record"])
    assert_outcome(check(bundle, fake), "not_authentic", "record", "record_malformed")


def test_record_with_unusable_content_hash() -> None:
    bundle, fake = build()
    bundle["record"]["content_sha256"] = "nothex"
    result = check(bundle, fake)
    assert_outcome(result, "not_authentic", "record", "record_malformed")
    assert result.steps[0].status == "not_run"


@pytest.mark.parametrize("field", ["size", "time", "item_id", "type"])
def test_record_tampered(field: str) -> None:
    bundle, fake = build()
    record = bundle["record"]
    record[field] = {
        "size": record["size"] + 1,
        "time": "2026-11-25T08:00:01Z",
        "item_id": "f" * 32,
        "type": "item.destroyed",
    }[field]
    result = check(bundle, fake)
    assert_outcome(result, "not_authentic", "record", "record_tampered")
    computed = record_leaf_hash(record).hex()
    assert result.message == f"leaf hash of the record is {computed}, the bundle says {bundle['leaf_hash']}"


def test_record_and_leaf_hash_both_swapped_fail_inclusion() -> None:
    bundle, fake = build()
    bundle["record"]["size"] += 1
    bundle["leaf_hash"] = record_leaf_hash(bundle["record"]).hex()
    assert_outcome(check(bundle, fake), "not_authentic", "inclusion", "bad_inclusion_path")


# -- inclusion --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.update(leaf_index=2),
        lambda b: b.update(leaf_index=7),
        lambda b: b.update(tree_size=4),
        lambda b: b["inclusion_path"].pop(),
        lambda b: b["inclusion_path"].append("00" * 32),
        lambda b: b["inclusion_path"].__setitem__(0, "00" * 32),
        lambda b: b["inclusion_path"].reverse(),
        lambda b: b.update(root="00" * 32),
    ],
)
def test_bad_inclusion_path(mutate) -> None:
    bundle, fake = build()
    mutate(bundle)
    result = check(bundle, fake)
    assert_outcome(result, "not_authentic", "inclusion", "bad_inclusion_path")
    assert result.step("chain").status == "not_run"


def test_wrong_size_with_the_same_path_shape_is_caught_on_chain() -> None:
    """Leaf 3's path has the same shape in trees of 5..8 leaves, so the math alone accepts size 8
    with the size-7 root; the chain binds roots to sizes and rejects it."""
    bundle, fake = build()
    bundle["tree_size"] = 8
    result = check(bundle, fake)
    assert result.step("inclusion").ok is True
    assert_outcome(result, "not_authentic", "chain", "root_not_on_chain")


# -- chain: trust ---------------------------------------------------------------------------------------------


def test_no_trust_root_is_never_authentic() -> None:
    bundle, fake = build()
    result = check(bundle, fake, trust=None)
    assert_outcome(result, "indeterminate", "chain", "no_trust_root")
    assert [s.status for s in result.steps] == ["passed", "passed", "passed", "indeterminate"]
    assert fake.batches == []  # nothing to ask: the chain to trust is unknown


def test_no_trust_root_offline_too() -> None:
    bundle, _ = build()
    assert_outcome(check(bundle, None, trust=None), "indeterminate", "chain", "no_trust_root")


def test_bundle_naming_another_contract_is_untrusted() -> None:
    """An impostor contract on the same chain answering like ArchiveAnchor with any root."""
    bundle, fake = build()
    fake.code[OTHER] = b"\x60"
    bundle["anchor"]["contract"] = OTHER
    result = check(bundle, fake)
    assert_outcome(result, "not_authentic", "chain", "contract_untrusted")
    assert OTHER in result.message and CONTRACT in result.message
    assert fake.batches == []


def test_bundle_naming_another_chain_is_untrusted() -> None:
    bundle, fake = build()
    bundle["anchor"]["chain_id"] = 4242
    assert_outcome(check(bundle, fake), "not_authentic", "chain", "contract_untrusted")


def test_the_trust_roots_contract_is_asked_not_the_bundles() -> None:
    """Trust root pins OTHER; the bundle names CONTRACT (which holds the root): untrusted, not authentic."""
    bundle, fake = build()
    assert_outcome(
        check(bundle, fake, trust=make_trust(contract=OTHER)), "not_authentic", "chain", "contract_untrusted"
    )


# -- chain: one endpoint -----------------------------------------------------------------------------------------


def test_offline() -> None:
    bundle, _ = build()
    result = check(bundle, None)
    assert_outcome(result, "indeterminate", "chain", "offline")
    assert [s.status for s in result.steps] == ["passed", "passed", "passed", "indeterminate"]


def test_no_anchor_yet() -> None:
    bundle, fake = build()
    bundle["anchor"] = None
    assert_outcome(check(bundle, fake), "indeterminate", "chain", "not_confirmed")


def test_chain_unreachable() -> None:
    bundle, fake = build()
    fake.unreachable = True
    result = check(bundle, fake)
    assert_outcome(result, "indeterminate", "chain", "chain_unreachable")
    assert "fake://a" in result.message


def test_chain_node_error_is_indeterminate() -> None:
    bundle, fake = build()

    def broken(calls):  # type: ignore[no-untyped-def]
        raise VerifierError("JSON-RPC error -32603: internal error")

    fake.batch = broken  # type: ignore[method-assign]
    assert_outcome(check(bundle, fake), "indeterminate", "chain", "chain_unreachable")


@pytest.mark.parametrize("slot", [0, 1, 2])
def test_node_error_on_chain_id_genesis_or_block_number_is_indeterminate(slot: int) -> None:
    bundle, fake = build()
    real = fake.batch

    def answers(calls):  # type: ignore[no-untyped-def]
        out = real(calls)
        out[slot] = RpcCallError(calls[slot][0], -32603, "internal error")
        return out

    fake.batch = answers  # type: ignore[method-assign]
    assert_outcome(check(bundle, fake), "indeterminate", "chain", "chain_unreachable")


@pytest.mark.parametrize("garbage", [None, "12", {"result": 1}, ["0x1"]])
def test_garbage_answers_are_indeterminate(garbage: Any) -> None:
    bundle, fake = build()
    real = fake.batch
    fake.batch = lambda calls: [garbage, *real(calls)[1:]]  # type: ignore[method-assign]
    assert_outcome(check(bundle, fake), "indeterminate", "chain", "chain_unreachable")


def test_short_answer_list_is_indeterminate() -> None:
    bundle, fake = build()
    real = fake.batch
    fake.batch = lambda calls: real(calls)[:-1]  # type: ignore[method-assign]
    assert_outcome(check(bundle, fake), "indeterminate", "chain", "chain_unreachable")


def test_wrong_chain_id() -> None:
    bundle, fake = build()
    fake.id = 1
    result = check(bundle, fake)
    assert_outcome(result, "not_authentic", "chain", "wrong_chain")
    assert "fake://a" in result.message


def test_look_alike_chain_with_the_same_id_but_another_genesis() -> None:
    bundle, fake = build()
    fake.genesis = "0x" + "22" * 32
    result = check(bundle, fake)
    assert_outcome(result, "not_authentic", "chain", "wrong_chain")
    assert "fake://a" in result.message and GENESIS in result.message


def test_contract_without_code() -> None:
    bundle, fake = build()
    fake.code = {}
    assert_outcome(check(bundle, fake), "not_authentic", "chain", "contract_unknown")


def test_contract_with_other_version() -> None:
    bundle, fake = build()
    fake.version = "someone-else/Anchor/9"
    assert_outcome(check(bundle, fake), "not_authentic", "chain", "contract_unknown")


def test_contract_that_reverts_anchor_version() -> None:
    bundle, fake = build()
    fake.revert_version = True
    assert_outcome(check(bundle, fake), "not_authentic", "chain", "contract_unknown")


def test_root_not_on_chain() -> None:
    bundle, _ = build()
    empty = FakeChain()
    empty.mine(10)
    result = check(bundle, empty)
    assert_outcome(result, "not_authentic", "chain", "root_not_on_chain")
    assert "no root" in result.message


def test_other_root_on_chain() -> None:
    bundle, _ = build()
    other = FakeChain()
    other.anchor(bytes.fromhex(bundle["log_id"]), bundle["tree_size"], b"\x42" * 32)
    other.mine(3)
    result = check(bundle, other)
    assert_outcome(result, "not_authentic", "chain", "root_not_on_chain")
    assert "different root" in result.message


def test_forged_log_consistent_bundle_is_not_on_chain() -> None:
    """A whole forged log (self-consistent bundle) fails because its root was never anchored."""
    _, fake = build()
    forged, _ = build()
    forged["record"]["size"] += 1
    leaf = record_leaf_hash(forged["record"])
    forged["leaf_hash"] = leaf.hex()
    forged["root"] = merkle.root_from_inclusion_proof(
        3, 7, leaf, [bytes.fromhex(h) for h in forged["inclusion_path"]]
    ).hex()
    assert_outcome(check(forged, fake), "not_authentic", "chain", "root_not_on_chain")


def test_not_confirmed_then_confirmed() -> None:
    bundle, fake = build()  # anchored in the latest block: 1 confirmation
    result = check(bundle, fake, confirmations=3)
    assert_outcome(result, "indeterminate", "chain", "not_confirmed")
    assert "1 of 3" in result.message
    fake.mine(1)
    assert_outcome(check(bundle, fake, confirmations=3), "indeterminate", "chain", "not_confirmed")
    fake.mine(1)
    assert_outcome(check(bundle, fake, confirmations=3), "authentic", None, None)


def test_trust_roots_confirmations_are_a_floor() -> None:
    bundle, fake = build()
    fake.mine(1)  # 2 confirmations
    deep = make_trust(confirmations=3)
    result = check(bundle, fake, trust=deep)
    assert_outcome(result, "indeterminate", "chain", "not_confirmed")
    assert "2 of 3" in result.message
    assert_outcome(check(bundle, fake, trust=deep, confirmations=1), "indeterminate", "chain", "not_confirmed")
    fake.mine(1)
    assert_outcome(check(bundle, fake, trust=deep), "authentic", None, None)
    assert_outcome(check(bundle, fake, trust=deep, confirmations=4), "indeterminate", "chain", "not_confirmed")


def test_not_confirmed_on_a_short_chain() -> None:
    bundle, fake = build()
    assert_outcome(check(bundle, fake, confirmations=100), "indeterminate", "chain", "not_confirmed")


# -- chain: several endpoints ----------------------------------------------------------------------------------------


def check_many(bundle: dict, chains: list[FakeChain], **kw):
    return verify_bundle(bundle, content=CONTENTS[3], trust=TRUST, chains=chains, **kw)


def test_three_endpoints_agree() -> None:
    bundle, a = build()
    assert_outcome(check_many(bundle, [a, a.mirror("fake://b"), a.mirror("fake://c")]), "authentic", None, None)


def test_endpoints_disagree_on_the_root() -> None:
    bundle, a = build()
    liar = a.mirror("fake://liar")
    liar.lie_root = b"\x42" * 32
    result = check_many(bundle, [a, liar])
    assert_outcome(result, "not_authentic", "chain", "split_view")
    assert "fake://a" in result.message and "fake://liar" in result.message


def test_a_lying_endpoint_that_confirms_a_forged_root() -> None:
    bundle, a = build()
    forged = copy.deepcopy(bundle)
    forged["record"]["size"] += 1
    leaf = record_leaf_hash(forged["record"])
    forged["leaf_hash"] = leaf.hex()
    forged["root"] = merkle.root_from_inclusion_proof(3, 7, leaf, [bytes.fromhex(h) for h in forged["inclusion_path"]])
    liar = a.mirror("fake://liar")
    liar.lie_root = forged["root"]
    forged["root"] = forged["root"].hex()
    assert_outcome(check_many(forged, [liar]), "authentic", None, None)  # alone, a lying node wins...
    assert_outcome(check_many(forged, [liar, a]), "not_authentic", "chain", "split_view")  # ...not with a witness


def test_endpoints_disagree_on_the_anchoring_block() -> None:
    bundle, a = build()
    a.mine(5)
    liar = a.mirror("fake://liar")
    liar.lie_block = 2
    result = check_many(bundle, [a, liar])
    assert_outcome(result, "not_authentic", "chain", "split_view")
    assert "fake://liar" in result.message


def test_endpoints_disagree_on_genesis() -> None:
    bundle, a = build()
    other = a.mirror("fake://other")
    other.genesis = "0x" + "22" * 32
    result = check_many(bundle, [a, other])
    assert_outcome(result, "not_authentic", "chain", "split_view")
    assert "fake://a" in result.message and "fake://other" in result.message


def test_endpoints_disagree_on_the_contract() -> None:
    bundle, a = build()
    other = a.mirror("fake://other")
    other.code = {}
    assert_outcome(check_many(bundle, [a, other]), "not_authentic", "chain", "split_view")


def test_endpoints_on_different_heights_agree() -> None:
    bundle, a = build()
    a.mine(3)
    behind = a.mirror("fake://behind")
    behind.blocks = a.blocks[:-2]
    result = check_many(bundle, [a, behind], confirmations=2)
    assert_outcome(result, "authentic", None, None)
    assert "with 2 confirmation(s)" in result.message  # the lowest head counts


def test_one_endpoint_unreachable() -> None:
    bundle, a = build()
    down = a.mirror("fake://down")
    down.unreachable = True
    result = check_many(bundle, [a, down])
    assert_outcome(result, "indeterminate", "chain", "chain_unreachable")
    assert "fake://down" in result.message and "fake://a" not in result.message


def test_endpoints_are_asked_in_parallel() -> None:
    bundle, a = build()
    slow = [a.mirror(f"fake://slow{i}") for i in range(3)]
    for chain in slow:
        real = chain.batch

        def batch(calls, real=real):  # type: ignore[no-untyped-def]
            time.sleep(0.3)
            return real(calls)

        chain.batch = batch  # type: ignore[method-assign]
    started = time.perf_counter()
    assert_outcome(check_many(bundle, slow), "authentic", None, None)
    assert time.perf_counter() - started < 0.75


def test_disagreement_wins_over_an_unreachable_endpoint() -> None:
    bundle, a = build()
    down, liar = a.mirror("fake://down"), a.mirror("fake://liar")
    down.unreachable = True
    liar.lie_root = b"\x42" * 32
    assert_outcome(check_many(bundle, [a, down, liar]), "not_authentic", "chain", "split_view")


def test_wrong_chain_among_agreeing_endpoints() -> None:
    bundle, a = build()
    b = a.mirror("fake://b")
    a.id = b.id = 1
    result = check_many(bundle, [a, b])
    assert_outcome(result, "not_authentic", "chain", "wrong_chain")


def test_result_to_dict_shape() -> None:
    bundle, fake = build()
    d = check(bundle, fake, content=b"bad").to_dict()
    assert set(d) == {"outcome", "exit_code", "failed_step", "reason_code", "message", "steps"}
    assert d["steps"][0] == {
        "name": "content_hash",
        "ok": False,
        "status": "failed",
        "reason_code": "content_mismatch",
        "message": d["message"],
    }
    assert d["steps"][1]["ok"] is None and d["steps"][1]["status"] == "not_run"


def test_verify_does_not_mutate_bundle() -> None:
    bundle, fake = build()
    before = copy.deepcopy(bundle)
    check(bundle, fake)
    assert bundle == before


# -- on the in-process chain (py-evm): the real ArchiveAnchor and an impostor -------------------------------------


@pytest.fixture(scope="module")
def evm():  # type: ignore[no-untyped-def]
    """A deployed ArchiveAnchor holding the root of records(), an impostor (a second deployment, which
    answers anchorVersion() like ours) holding a forged root, and a trust root pinning the first."""
    from eth_account import Account

    from anchor.chain import ChainClient, Web3ChainReader
    from anchor.deploy import deploy_for_tests
    from anchor.profiles import load_profile
    from contracts import load_artifact

    client = ChainClient(load_profile("test"))
    acct = Account.create()
    fund_from_dev_account(client, acct.address, 10**20)
    artifact = load_artifact("ArchiveAnchor")
    genuine, _ = deploy_for_tests(client, acct)
    impostor, _ = deploy_for_tests(client, acct)

    recs = records()
    root = merkle.root_of([record_leaf_hash(r) for r in recs])
    forged_recs = copy.deepcopy(recs)
    forged_recs[3]["size"] += 1
    forged_root = merkle.root_of([record_leaf_hash(r) for r in forged_recs])
    log_id = log_id_for_fonds("Z001")
    anchored = {}
    for address, r in ((genuine.anchor, root), (impostor.anchor, forged_root)):
        signed = client.send(acct, client.contract(address, artifact).functions.anchor(log_id, 7, r, []))
        anchored[address.lower()] = int(client.wait_confirmed(signed.tx_hash)["blockNumber"])
    reader = Web3ChainReader(client.w3)
    genesis = "0x" + bytes(client.w3.eth.get_block(0)["hash"]).hex()
    trust = make_trust(contract=genuine.anchor.lower(), chain_id=client.chain_id, genesis=genesis)

    def bundle_for(recs: list[dict], address: str) -> dict:
        anchor = {"chain_id": client.chain_id, "contract": address, "tx_hash": "0x" + "11" * 32,
                  "block_number": anchored[address.lower()]}  # fmt: skip
        return make_bundle(recs, 3, anchor)

    return {
        "reader": reader,
        "trust": trust,
        "good": bundle_for(recs, genuine.anchor),
        "impostor": bundle_for(forged_recs, impostor.anchor),
        "forged_at_genuine": bundle_for(forged_recs, genuine.anchor.lower()),
        "forged_content": forged_recs[3],
        "genuine": genuine.anchor,
    }


def test_evm_good_path(evm) -> None:  # type: ignore[no-untyped-def]
    result = verify_bundle(evm["good"], content=CONTENTS[3], trust=evm["trust"], chains=[evm["reader"]])
    assert_outcome(result, "authentic", None, None)
    assert evm["genuine"].lower() in result.message


def test_evm_impostor_contract(evm) -> None:  # type: ignore[no-untyped-def]
    """The impostor really holds the forged root and answers like ArchiveAnchor: the trust root decides."""
    result = verify_bundle(evm["impostor"], content_sha256=evm["forged_content"]["content_sha256"], trust=evm["trust"],
                           chains=[evm["reader"]])  # fmt: skip
    assert_outcome(result, "not_authentic", "chain", "contract_untrusted")


def test_evm_forged_root_named_at_the_genuine_contract(evm) -> None:  # type: ignore[no-untyped-def]
    result = verify_bundle(evm["forged_at_genuine"], trust=evm["trust"], chains=[evm["reader"]])
    assert result.failed_step == "chain" and result.reason_code == "root_not_on_chain"


def test_evm_look_alike_chain(evm) -> None:  # type: ignore[no-untyped-def]
    other = make_trust(contract=evm["trust"].anchor_address, chain_id=evm["trust"].chain_id, genesis="0x" + "22" * 32)
    result = verify_bundle(evm["good"], content=CONTENTS[3], trust=other, chains=[evm["reader"]])
    assert_outcome(result, "not_authentic", "chain", "wrong_chain")


# -- chain.py: selectors and ABI --------------------------------------------------------------------------


def test_selectors_are_keccak_of_signatures() -> None:
    keccak = pytest.importorskip("eth_utils").keccak
    assert keccak(text="anchorVersion()")[:4] == vchain.SELECTOR_ANCHOR_VERSION
    assert keccak(text="rootAt(bytes32,uint64)")[:4] == vchain.SELECTOR_ROOT_AT
    assert keccak(text="anchoredAtBlock(bytes32,uint64)")[:4] == vchain.SELECTOR_ANCHORED_AT_BLOCK


def test_abi_against_eth_abi() -> None:
    eth_abi = pytest.importorskip("eth_abi")
    log_id = bytes(range(32))
    assert vchain.encode_root_at(log_id, 7) == vchain.SELECTOR_ROOT_AT + eth_abi.encode(
        ["bytes32", "uint64"], [log_id, 7]
    )
    assert vchain.encode_anchored_at_block(log_id, 2**64 - 1)[4:] == eth_abi.encode(
        ["bytes32", "uint64"], [log_id, 2**64 - 1]
    )
    for s in ["", ANCHOR_VERSION, "x" * 33, "全宗"]:
        assert vchain.decode_string(eth_abi.encode(["string"], [s])) == s
    assert vchain.decode_uint64(eth_abi.encode(["uint64"], [12345])) == 12345
    assert vchain.decode_bytes32(eth_abi.encode(["bytes32"], [log_id])) == log_id


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\0" * 63,
        (64).to_bytes(32, "big") + b"\0" * 32,
        (32).to_bytes(32, "big") + (99).to_bytes(32, "big"),
    ],
)
def test_decode_string_rejects_garbage(bad: bytes) -> None:
    with pytest.raises(VerifierError):
        vchain.decode_string(bad)


def test_abi_argument_checks() -> None:
    with pytest.raises(VerifierError):
        vchain.encode_root_at(b"short", 1)
    with pytest.raises(VerifierError):
        vchain.encode_root_at(bytes(32), 2**64)
    with pytest.raises(VerifierError):
        vchain.decode_uint64(b"\xff" * 32)


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


@pytest.mark.parametrize(
    ("ret", "expected"),
    [
        (_word(32) + _word(0), ""),  # the shortest string: offset and length words only
        (_word(32) + _word(3) + b"abc", "abc"),  # length reaching exactly the end of the data
        (_word(64) + _word(0) + _word(2) + b"hi", "hi"),  # an offset past a padding word
    ],
)
def test_decode_string_bounds_that_hold(ret: bytes, expected: str) -> None:
    assert vchain.decode_string(ret) == expected


@pytest.mark.parametrize(
    ("ret", "message"),
    [
        (b"\0" * 63, "ABI string: return data too short (63 bytes)"),
        (_word(33) + _word(0), "ABI string: offset out of range"),
        (_word(32) + _word(4) + b"abc", "ABI string: length out of range"),
        (_word(32) + _word(2) + b"\xff\xfe", "ABI string: not UTF-8"),
    ],
)
def test_decode_string_bounds_that_fail(ret: bytes, message: str) -> None:
    with pytest.raises(VerifierError) as info:
        vchain.decode_string(ret)
    assert str(info.value) == message


def test_fixed_size_abi_values_and_their_bounds() -> None:
    assert vchain.decode_uint64(_word(2**64 - 1)) == 2**64 - 1 and vchain.decode_uint64(_word(0)) == 0
    assert vchain.decode_bytes32(bytearray(range(32))) == bytes(range(32))
    assert type(vchain.decode_bytes32(bytearray(32))) is bytes
    for call, ret, message in [
        (vchain.decode_uint64, _word(2**64), "ABI uint64: value out of range"),
        (vchain.decode_uint64, b"\0" * 31, "ABI uint64: expected 32 bytes, got 31"),
        (vchain.decode_uint64, b"\0" * 33, "ABI uint64: expected 32 bytes, got 33"),
        (vchain.decode_bytes32, b"\0" * 31, "ABI bytes32: expected 32 bytes, got 31"),
        (vchain.decode_bytes32, b"\0" * 33, "ABI bytes32: expected 32 bytes, got 33"),
    ]:
        with pytest.raises(VerifierError) as info:
            call(ret)
        assert str(info.value) == message


def test_abi_arguments_and_their_bounds() -> None:
    log_id = bytes(range(32))
    assert vchain.encode_root_at(bytearray(log_id), 0) == vchain.SELECTOR_ROOT_AT + log_id + _word(0)
    assert vchain.encode_anchored_at_block(log_id, 2**64 - 1) == vchain.SELECTOR_ANCHORED_AT_BLOCK + log_id + _word(
        2**64 - 1
    )
    for size in (-1, 2**64, True, "1", 1.0):
        with pytest.raises(VerifierError) as info:
            vchain.encode_root_at(log_id, size)  # type: ignore[arg-type]
        assert str(info.value) == f"uint64 argument out of range: {size!r}"
    for bad in (log_id[:31], log_id + b"\0", log_id.hex()):
        with pytest.raises(VerifierError) as info:
            vchain.encode_anchored_at_block(bad, 1)  # type: ignore[arg-type]
        assert str(info.value) == "bytes32 argument must be 32 bytes"


# -- chain.py: JSON-RPC over a local stub server ------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    mode = "ok"
    seen: ClassVar[list[dict]] = []

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(req)
        mode = type(self).mode
        if mode == "slow":
            time.sleep(1.0)
        if mode == "http500":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"<html>oops</html>")
            return
        if mode == "garbage":
            body = b"not json"
        elif mode == "error":
            body = json.dumps(
                {"jsonrpc": "2.0", "id": req["id"], "error": {"code": 3, "message": "execution reverted"}}
            ).encode()
        else:
            results = {
                "eth_chainId": hex(CHAIN_ID),
                "eth_blockNumber": "0x2a",
                "eth_getCode": "0x6080",
                "eth_call": "0x" + abi_string(ANCHOR_VERSION).hex(),
            }
            body = json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": results[req["method"]]}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out, as the slow mode intends


@pytest.fixture
def rpc() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"mode": "ok", "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_json_rpc_chain(rpc) -> None:
    url, handler = rpc
    c = JsonRpcChain(url)
    assert isinstance(c, vchain.ChainReader)
    assert c.chain_id() == CHAIN_ID
    assert c.block_number() == 42
    assert c.get_code(CONTRACT) == b"\x60\x80"
    assert vchain.anchor_version(c, CONTRACT, 17) == ANCHOR_VERSION
    call = handler.seen[-1]
    assert call["method"] == "eth_call"
    assert call["params"] == [{"to": CONTRACT, "data": "0x10ce7c2a"}, "0x11"]
    assert handler.seen[0]["jsonrpc"] == "2.0"


def test_json_rpc_error_is_a_verifier_error_not_unavailable(rpc) -> None:
    url, handler = rpc
    handler.mode = "error"
    with pytest.raises(VerifierError, match="execution reverted") as info:
        JsonRpcChain(url).call(CONTRACT, b"\x10\xce\x7c\x2a")
    assert not isinstance(info.value, ChainUnavailable)


@pytest.mark.parametrize("mode", ["http500", "garbage"])
def test_json_rpc_bad_answers_are_unavailable(rpc, mode: str) -> None:
    url, handler = rpc
    handler.mode = mode
    with pytest.raises(ChainUnavailable):
        JsonRpcChain(url).chain_id()


def test_json_rpc_timeout(rpc) -> None:
    url, handler = rpc
    handler.mode = "slow"
    with pytest.raises(ChainUnavailable):
        JsonRpcChain(url, timeout=0.2).block_number()


def test_json_rpc_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ChainUnavailable):
        JsonRpcChain(f"http://127.0.0.1:{port}", timeout=2).chain_id()


def test_json_rpc_refuses_non_http_urls() -> None:
    with pytest.raises(VerifierError):
        JsonRpcChain("file:///etc/passwd")


def test_verify_over_json_rpc_unreachable() -> None:
    bundle, _ = build()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    result = check(bundle, JsonRpcChain(url, timeout=2))  # type: ignore[arg-type]
    assert_outcome(result, "indeterminate", "chain", "chain_unreachable")
    assert url in result.message


# -- the verifier stands alone -------------------------------------------------------------------------------


def test_verifier_imports_nothing_of_ours_nor_web3() -> None:
    root = REPO_ROOT
    code = (
        "import sys, verifier.merkle, verifier.records, verifier.chain, verifier.verify, "
        "verifier.certificate, verifier.errors, verifier.bundle, verifier.trustroot, verifier.ethsig, "
        "verifier.cli, verifier.__main__\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('anchor', 'node', 'contracts', 'cli', 'web3', 'eth_utils', 'eth_abi', 'eth_account')]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_split_view_message_says_what_each_endpoint_holds() -> None:
    bundle, a = build()
    genesis = a.genesis
    honest = (f"fake://a says chain 1337, genesis {genesis}, anchorVersion {ANCHOR_VERSION!r}, "
              f"root {bundle['root']}, anchored in block 4")  # fmt: skip
    liar = a.mirror("fake://liar")
    liar.lie_root = b"\x42" * 32
    assert check_many(bundle, [a, liar]).message == (
        f"chain endpoints disagree: {honest}; fake://liar says chain 1337, genesis {genesis}, "
        f"anchorVersion {ANCHOR_VERSION!r}, root {'42' * 32}, anchored in block 4"
    )
    liar.lie_root = bytes(32)  # the liar claims nothing was anchored
    assert check_many(bundle, [a, liar]).message.endswith("; fake://liar says chain 1337, genesis "
                                                          f"{genesis}, anchorVersion {ANCHOR_VERSION!r}, root none, "
                                                          "anchored in block 4")  # fmt: skip
    other = a.mirror("fake://other")
    other.code = {}
    assert check_many(bundle, [a, other]).message == (
        f"chain endpoints disagree: {honest}; fake://other says chain 1337, genesis {genesis}, "
        "is not an ArchiveAnchor: ABI string: return data too short (0 bytes)"
    )


# -- the chain step's messages, exactly (what an auditor reads) ---------------------------------------------------

_LOG = log_id_for_fonds("Z001").hex()
_WHERE = f"log {_LOG} size 7"


def _answers(slot: int, value: Any) -> Any:
    def patch(bundle: dict, fake: FakeChain) -> Any:
        real = fake.batch

        def batch(calls):  # type: ignore[no-untyped-def]
            out = real(calls)
            out[slot] = value(calls) if callable(value) else value
            return out

        fake.batch = batch  # type: ignore[method-assign]
        return check(bundle, fake)

    return patch


def _broken(bundle: dict, fake: FakeChain) -> Any:
    def batch(calls):  # type: ignore[no-untyped-def]
        raise VerifierError("JSON-RPC error -32603: internal error")

    fake.batch = batch  # type: ignore[method-assign]
    return check(bundle, fake)


def _set(**attrs: Any) -> Any:
    def patch(bundle: dict, fake: FakeChain) -> Any:
        for name, value in attrs.items():
            setattr(fake, name, value)
        return check(bundle, fake)

    return patch


def _short(bundle: dict, fake: FakeChain) -> Any:
    real = fake.batch
    fake.batch = lambda calls: real(calls)[:-1]  # type: ignore[method-assign]
    return check(bundle, fake)


def _other_root(bundle: dict, fake: FakeChain) -> Any:
    other = FakeChain()
    other.anchor(bytes.fromhex(bundle["log_id"]), 7, b"\x42" * 32)
    other.mine(3)
    return check(bundle, other)


def _empty(bundle: dict, fake: FakeChain) -> Any:
    empty = FakeChain()
    empty.mine(10)
    return check(bundle, empty)


_NODE = "chain unreachable: fake://a ("
_CHAIN_MESSAGES: list[tuple[str, Any, str, str]] = [
    ("unreachable", _set(unreachable=True), "chain_unreachable", _NODE + "cannot reach fake://a: connection refused)"),
    (
        "node error",
        _broken,
        "chain_unreachable",
        _NODE + "the chain node could not answer: JSON-RPC error -32603: internal error)",
    ),
    ("short", _short, "chain_unreachable", _NODE + "fake://a did not give one answer to each of the 6 calls)"),
    (
        "genesis error",
        _answers(1, lambda calls: RpcCallError(calls[1][0], -32603, "internal error")),
        "chain_unreachable",
        _NODE + "eth_getBlockByNumber: JSON-RPC error -32603: internal error)",
    ),
    (
        "no genesis hash",
        _answers(1, {"number": "0x0"}),
        "chain_unreachable",
        _NODE + "eth_getBlockByNumber(0x0): no block hash in {'number': '0x0'})",
    ),
    (
        "short genesis hash",
        _answers(1, {"hash": "0x" + "11" * 31}),
        "chain_unreachable",
        _NODE + "eth_getBlockByNumber(0x0): no block hash in {'hash': '0x" + "11" * 31 + "'})",
    ),
    ("chain id", _answers(0, "0x"), "chain_unreachable", _NODE + "eth_chainId: expected a hex quantity, got '0x')"),
    (
        "chain id error",
        _answers(0, lambda calls: RpcCallError("eth_chainId", -32603, "internal error")),
        "chain_unreachable",
        _NODE + "eth_chainId: JSON-RPC error -32603: internal error)",
    ),
    (
        "genesis not an object",
        _answers(1, "0x11"),
        "chain_unreachable",
        _NODE + "eth_getBlockByNumber(0x0): no block hash in '0x11')",
    ),
    (
        "block number",
        _answers(2, "12"),
        "chain_unreachable",
        _NODE + "eth_blockNumber: expected a hex quantity, got '12')",
    ),
    (
        "call data",
        _answers(4, "0xabc"),
        "chain_unreachable",
        _NODE + "eth_call rootAt(): expected hex data, got '0xabc')",
    ),
    (
        "block data",
        _answers(5, 7),
        "chain_unreachable",
        _NODE + "eth_call anchoredAtBlock(): expected hex data, got 7)",
    ),
    (
        "wrong chain",
        _set(id=1),
        "wrong_chain",
        f"fake://a is chain 1 with genesis {GENESIS}; the trust root pins chain 1337 with genesis {GENESIS}",
    ),
    (
        "look-alike",
        _set(genesis="0x" + "22" * 32),
        "wrong_chain",
        f"fake://a is chain 1337 with genesis 0x{'22' * 32}; the trust root pins chain 1337 with genesis {GENESIS}",
    ),
    (
        "no code",
        _set(code={}),
        "contract_unknown",
        f"{CONTRACT} (per fake://a): is not an ArchiveAnchor: ABI string: return data too short (0 bytes)",
    ),
    (
        "other version",
        _set(version="x/9"),
        "contract_unknown",
        f"{CONTRACT} answers anchorVersion() = 'x/9', not '{ANCHOR_VERSION}' (per fake://a)",
    ),
    (
        "version reverts",
        _set(revert_version=True),
        "contract_unknown",
        f"{CONTRACT} (per fake://a): is not an ArchiveAnchor: anchorVersion() failed: eth_call: JSON-RPC error 3: "
        "execution reverted",
    ),
    (
        "root failing",
        _answers(4, lambda calls: RpcCallError("eth_call", 3, "execution reverted")),
        "contract_unknown",
        f"{CONTRACT} (per fake://a): is not an ArchiveAnchor: rootAt() failed: eth_call: JSON-RPC error 3: "
        "execution reverted",
    ),
    (
        "bad root word",
        _answers(4, "0x" + "00" * 31),
        "contract_unknown",
        f"{CONTRACT} (per fake://a): is not an ArchiveAnchor: ABI bytes32: expected 32 bytes, got 31",
    ),
    (
        "bad block word",
        _answers(5, "0x" + "ff" * 32),
        "contract_unknown",
        f"{CONTRACT} (per fake://a): is not an ArchiveAnchor: ABI uint64: value out of range",
    ),
    ("no root", _empty, "root_not_on_chain", f"the contract {CONTRACT} holds no root for {_WHERE} (per fake://a)"),
    (
        "empty root answer",
        _answers(4, "0x"),
        "root_not_on_chain",
        f"the contract {CONTRACT} holds no root for {_WHERE} (per fake://a)",
    ),
    (
        "other root",
        _other_root,
        "root_not_on_chain",
        f"the contract {CONTRACT} holds a different root for {_WHERE}: {'42' * 32} (per fake://a)",
    ),
    (
        "anchored in no block",
        _answers(5, "0x"),
        "not_confirmed",
        f"root for {_WHERE} is in block 0 with 0 of 1 confirmations (per fake://a)",
    ),
    (
        "anchored above the head",
        _set(lie_block=100),
        "not_confirmed",
        f"root for {_WHERE} is in block 100 with 0 of 1 confirmations (per fake://a)",
    ),
]


@pytest.mark.parametrize(
    ("patch", "code", "message"), [c[1:] for c in _CHAIN_MESSAGES], ids=[c[0] for c in _CHAIN_MESSAGES]
)
def test_chain_step_messages(patch: Any, code: str, message: str) -> None:
    bundle, fake = build()
    result = patch(bundle, fake)
    assert (result.reason_code, result.failed_step) == (code, "chain")
    assert result.step("chain").message == message and result.message == message


def test_chain_step_messages_before_asking() -> None:
    bundle, fake = build()
    expected = [
        (dict(trust=None), "no_trust_root",
         "no trust root given: the chain, contract and keys to trust are unknown, so nothing can be authentic"),
        (dict(chain=None), "offline", "no chain given: offline check only, the root was not looked up"),
    ]  # fmt: skip
    for kw, code, message in expected:
        result = check(bundle, kw.pop("chain", fake), **kw)
        assert (result.reason_code, result.step("chain").message) == (code, message)
    assert fake.batches == []
    pending = copy.deepcopy(bundle)
    pending["anchor"] = None
    result = check(pending, fake)
    assert (result.reason_code, result.message) == (
        "not_confirmed",
        "the bundle has no anchor yet: its checkpoint is still pending",
    )
    untrusted = copy.deepcopy(bundle)
    untrusted["anchor"]["contract"], untrusted["anchor"]["chain_id"] = OTHER, 5
    result = check(untrusted, fake)
    assert (result.reason_code, result.message) == (
        "contract_untrusted",
        f"the bundle names contract {OTHER} on chain 5; the trust root trusts ArchiveAnchor {CONTRACT} on chain 1337",
    )
    assert fake.batches == []


def test_authentic_chain_message_names_block_depth_floor_and_endpoints() -> None:
    bundle, a = build()
    a.mine(2)
    b = a.mirror("fake://b")
    b.blocks = list(a.blocks)
    b.mine(1)  # b is one block ahead: the depth counts from the lowest head
    root = bundle["root"]
    result = check_many(bundle, [a, b], confirmations=2)
    assert result.step("chain").message == (
        f"root {root} for {_WHERE} is anchored on chain 1337 at {CONTRACT}, block 4, with 3 confirmation(s) "
        "(at least 2); endpoints agreeing: fake://a, fake://b"
    )
    bundle["anchor"]["block_number"] = 2
    assert check(bundle, a).step("chain").message == (
        f"root {root} for {_WHERE} is anchored on chain 1337 at {CONTRACT}, block 4 (the bundle says block 2), "
        "with 3 confirmation(s) (at least 1); endpoints agreeing: fake://a"
    )


def test_several_endpoints_unreachable_or_on_the_wrong_chain_are_all_named() -> None:
    bundle, a = build()
    b, c = a.mirror("fake://b"), a.mirror("fake://c")
    b.unreachable = c.unreachable = True
    result = check_many(bundle, [a, b, c])
    assert (result.reason_code, result.message) == (
        "chain_unreachable",
        "chain unreachable: fake://b (cannot reach fake://b: connection refused); "
        "fake://c (cannot reach fake://c: connection refused)",
    )
    bundle, a = build()
    a.id = 1
    result = check_many(bundle, [a, a.mirror("fake://b")])
    assert result.reason_code == "wrong_chain" and result.message.startswith("fake://a is chain 1 ")


def test_chain_calls_are_the_documented_batch() -> None:
    log_id = log_id_for_fonds("Z001")
    calls = chain_calls(CONTRACT, log_id, 7)
    assert calls[:3] == [("eth_chainId", []), ("eth_getBlockByNumber", ["0x0", False]), ("eth_blockNumber", [])]
    assert calls[3] == ("eth_call", [{"to": CONTRACT, "data": "0x10ce7c2a"}, "latest"])
    assert calls[4] == ("eth_call", [{"to": CONTRACT, "data": "0x" + vchain.encode_root_at(log_id, 7).hex()}, "latest"])


def test_a_reader_without_an_endpoint_name_is_named_by_itself() -> None:
    class Reader:
        def batch(self, calls):  # type: ignore[no-untyped-def]
            raise ChainUnavailable("connection refused")

        def __str__(self) -> str:
            return "reader#1"

    bundle, _ = build()
    result = verify_bundle(bundle, content=CONTENTS[3], trust=TRUST, chains=[Reader()])
    assert result.message == "chain unreachable: reader#1 (connection refused)"


# -- verify_bundle's own refusals and the other steps' messages ---------------------------------------------


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [
        (dict(content=b"x", content_sha256="00" * 32), ValueError, "give content or content_sha256, not both"),
        (dict(content_sha256="00" * 31), ValueError, "content_sha256 must be 64 hex characters"),
        (dict(content_sha256=0), ValueError, "content_sha256 must be 64 hex characters"),
        (dict(confirmations=0), ValueError, "confirmations must be an integer >= 1"),
        (dict(confirmations=True), ValueError, "confirmations must be an integer >= 1"),
        (dict(confirmations=2.0), ValueError, "confirmations must be an integer >= 1"),
        (dict(trust={"v": 1}), TypeError, "trust must be a TrustRoot (verifier.trustroot.load_trust_root) or None"),
    ],
)
def test_bad_arguments_say_which(kw: dict, error: type, message: str) -> None:
    bundle, fake = build()
    args = {"trust": TRUST, "chains": [fake], **kw}
    with pytest.raises(error) as info:
        verify_bundle(bundle, **args)
    assert str(info.value) == message


def test_messages_of_the_steps_that_did_not_pass() -> None:
    bundle, fake = build()
    result = check(bundle, fake, content=None)
    assert result.step("content_hash").message == "no content given: the file itself was not checked"
    assert result.outcome == "indeterminate" and result.step("chain").ok is True
    upper = check(bundle, fake, content=None, content_sha256=bundle["record"]["content_sha256"].upper())
    assert upper.outcome == "authentic"

    broken = copy.deepcopy(bundle)
    broken["record"]["content_sha256"] = 7
    result = check(broken, fake)
    assert result.step("content_hash").message == "not run: the record has no usable content_sha256"
    assert result.step("content_hash").status == "not_run"

    bad = copy.deepcopy(bundle)
    bad["root"] = "00" * 32
    result = check(bad, fake)
    assert result.step("inclusion").message.startswith("inclusion path does not lead to the root: ")
    assert [(s.name, s.status, s.message) for s in result.steps[3:]] == [
        ("chain", "not_run", "not run: an earlier step failed")
    ]

    malformed = copy.deepcopy(bundle)
    malformed["tree_size"] = 0
    result = check(malformed, fake)
    assert (result.failed_step, result.reason_code, result.message) == (
        "record", "bundle_malformed", "bundle.tree_size must be at least 1",
    )  # fmt: skip
