"""verifier.verify (every reason code, with an in-memory chain) and verifier.chain (ABI, JSON-RPC)."""

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
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest

from verifier import chain as vchain
from verifier import merkle
from verifier.chain import ANCHOR_VERSION, JsonRpcChain
from verifier.errors import ChainUnavailable, VerifierError
from verifier.records import log_id_for_fonds, new_record, record_leaf_hash
from verifier.verify import CHUNK_SIZE, STEP_NAMES, hash_content, verify_bundle

CONTRACT = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20
CHAIN_ID = 1337
T = datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)


def abi_string(s: str) -> bytes:
    raw = s.encode()
    padded = raw + b"\0" * (-len(raw) % 32)
    return (32).to_bytes(32, "big") + len(raw).to_bytes(32, "big") + padded


class FakeChain:
    """ArchiveAnchor in memory: block n holds the checkpoints anchored in blocks <= n."""

    def __init__(self, chain_id: int = CHAIN_ID, version: str = ANCHOR_VERSION) -> None:
        self.id = chain_id
        self.version = version
        self.code = {CONTRACT: b"\x60\x80"}
        self.blocks: list[dict[tuple[bytes, int], tuple[bytes, int]]] = [{}]
        self.unreachable = False
        self.revert_version = False
        self.calls: list[tuple[bytes, int | str]] = []

    def anchor(self, log_id: bytes, size: int, root: bytes) -> int:
        state = dict(self.blocks[-1])
        state[(log_id, size)] = (root, len(self.blocks))
        self.blocks.append(state)
        return len(self.blocks) - 1

    def mine(self, n: int = 1) -> None:
        for _ in range(n):
            self.blocks.append(dict(self.blocks[-1]))

    def _up(self) -> None:
        if self.unreachable:
            raise ChainUnavailable("connection refused")

    def chain_id(self) -> int:
        self._up()
        return self.id

    def block_number(self) -> int:
        self._up()
        return len(self.blocks) - 1

    def get_code(self, address: str) -> bytes:
        self._up()
        return self.code.get(address.lower(), b"")

    def call(self, to: str, data: bytes, block: int | str = "latest") -> bytes:
        self._up()
        self.calls.append((data[:4], block))
        if to.lower() not in self.code:
            return b""
        n = len(self.blocks) - 1 if block == "latest" else block
        assert isinstance(n, int) and 0 <= n < len(self.blocks)
        selector, args = data[:4], data[4:]
        if selector == vchain.SELECTOR_ANCHOR_VERSION:
            if self.revert_version:
                raise VerifierError("eth_call: JSON-RPC error 3: execution reverted")
            return abi_string(self.version)
        key = (args[:32], int.from_bytes(args[32:64], "big"))
        root, at = self.blocks[n].get(key, (bytes(32), 0))
        if selector == vchain.SELECTOR_ROOT_AT:
            return root
        if selector == vchain.SELECTOR_ANCHORED_AT_BLOCK:
            return at.to_bytes(32, "big")
        raise VerifierError("eth_call: JSON-RPC error 3: execution reverted")


def mth_path(m: int, hashes: list[bytes]) -> list[bytes]:
    """RFC 9162 PATH over leaf hashes (the oracle of test_merkle, kept local)."""
    if len(hashes) == 1:
        return []
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    if m < k:
        return [*mth_path(m, hashes[:k]), merkle.root_of(hashes[k:])]
    return [*mth_path(m - k, hashes[k:]), merkle.root_of(hashes[:k])]


CONTENTS = [f"document {i}".encode() * (i + 1) for i in range(7)]


def build(index: int = 3, fonds: str = "Z001") -> tuple[dict, FakeChain]:
    """A log of 7 records anchored at size 7, and the bundle of record `index`."""
    recs = [
        new_record(
            "item.ingested",
            fonds,
            f"{i:032x}",
            hash_content(c),
            len(c),
            "00" * 32,
            T,
            nonce=bytes([i]) * 16,
        )
        for i, c in enumerate(CONTENTS)
    ]
    hashes = [record_leaf_hash(r) for r in recs]
    root = merkle.root_of(hashes)
    log_id = log_id_for_fonds(fonds)
    fake = FakeChain()
    fake.mine(3)
    block = fake.anchor(log_id, len(recs), root)
    bundle = {
        "v": 1,
        "record": recs[index],
        "leaf_hash": hashes[index].hex(),
        "leaf_index": index,
        "tree_size": len(recs),
        "inclusion_path": [h.hex() for h in mth_path(index, hashes)],
        "root": root.hex(),
        "log_id": log_id.hex(),
        "anchor": {
            "chain_id": CHAIN_ID,
            "contract": CONTRACT,
            "tx_hash": "0x" + "11" * 32,
            "block_number": block,
        },
    }
    return json.loads(json.dumps(bundle)), fake


def check(bundle: dict, chain: FakeChain | None, content: bytes | None = CONTENTS[3], **kw):
    return verify_bundle(bundle, content=content, chain=chain, **kw)


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
    assert "anchored" in result.message


@pytest.mark.parametrize("index", range(7))
def test_every_leaf_is_authentic(index: int) -> None:
    bundle, fake = build(index)
    fake.mine(5)
    assert_outcome(check(bundle, fake, CONTENTS[index], confirmations=6), "authentic", None, None)


def test_precomputed_content_hash_and_expectations() -> None:
    bundle, fake = build()
    result = verify_bundle(
        bundle,
        content_sha256=hash_content(CONTENTS[3]).upper(),
        chain=fake,
        expected_chain_id=CHAIN_ID,
        expected_contract=CONTRACT.upper().replace("0X", "0x"),
    )
    assert_outcome(result, "authentic", None, None)


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


def test_checks_at_the_confirmed_block() -> None:
    bundle, fake = build()
    fake.mine(9)
    latest = len(fake.blocks) - 1
    fake.calls.clear()
    assert_outcome(check(bundle, fake, confirmations=4), "authentic", None, None)
    root_calls = [b for sel, b in fake.calls if sel == vchain.SELECTOR_ROOT_AT]
    assert root_calls == [latest - 3]


# -- content ----------------------------------------------------------------------------------------------


def test_content_mismatch() -> None:
    bundle, fake = build()
    result = check(bundle, fake, content=b"another file")
    assert_outcome(result, "not_authentic", "content_hash", "content_mismatch")
    assert [s.status for s in result.steps] == ["failed", "not_run", "not_run", "not_run"]


def test_content_mismatch_from_stream() -> None:
    bundle, fake = build()
    assert_outcome(
        verify_bundle(bundle, content=io.BytesIO(CONTENTS[2]), chain=fake),
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
        verify_bundle(bundle, content=b"x", content_sha256="00" * 32, chain=fake)
    with pytest.raises(ValueError):
        verify_bundle(bundle, content_sha256="nothex", chain=fake)
    with pytest.raises(ValueError):
        verify_bundle(bundle, content=b"x", chain=fake, confirmations=0)


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
    result = verify_bundle([], content=b"x", chain=None)  # type: ignore[arg-type]
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
    assert_outcome(check(bundle, fake), "not_authentic", "record", "record_tampered")


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


# -- chain ------------------------------------------------------------------------------------------------


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
    assert_outcome(check(bundle, fake), "indeterminate", "chain", "chain_unreachable")


def test_chain_node_error_is_indeterminate() -> None:
    bundle, fake = build()

    def broken(*args, **kwargs):
        raise VerifierError("eth_blockNumber: JSON-RPC error -32603: internal error")

    fake.block_number = broken  # type: ignore[method-assign]
    assert_outcome(check(bundle, fake), "indeterminate", "chain", "chain_unreachable")


def test_wrong_chain_id() -> None:
    bundle, fake = build()
    fake.id = 1
    assert_outcome(check(bundle, fake), "not_authentic", "chain", "wrong_chain_id")


def test_unexpected_chain_id() -> None:
    bundle, fake = build()
    assert_outcome(check(bundle, fake, expected_chain_id=1), "not_authentic", "chain", "wrong_chain_id")


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


def test_unexpected_contract() -> None:
    bundle, fake = build()
    fake.code[OTHER] = b"\x60"
    assert_outcome(check(bundle, fake, expected_contract=OTHER), "not_authentic", "chain", "contract_unknown")


def test_root_not_on_chain() -> None:
    bundle, _ = build()
    empty = FakeChain()
    empty.mine(10)
    assert_outcome(check(bundle, empty), "not_authentic", "chain", "root_not_on_chain")


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


def test_not_confirmed_on_a_short_chain() -> None:
    bundle, fake = build()
    assert_outcome(check(bundle, fake, confirmations=100), "indeterminate", "chain", "not_confirmed")


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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
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
    result = check(bundle, JsonRpcChain(f"http://127.0.0.1:{port}", timeout=2))
    assert_outcome(result, "indeterminate", "chain", "chain_unreachable")


# -- the verifier stands alone -------------------------------------------------------------------------------


def test_verifier_imports_nothing_of_ours_nor_web3() -> None:
    root = Path(__file__).resolve().parent.parent
    code = (
        "import sys, verifier.merkle, verifier.records, verifier.chain, verifier.verify, "
        "verifier.certificate, verifier.errors\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('anchor', 'node', 'contracts', 'cli', 'web3', 'eth_utils', 'eth_abi', 'eth_account')]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
