"""ChainReader.batch: JsonRpcChain (one HTTP POST of a JSON-RPC batch) and the node's Web3ChainReader."""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from anchor.chain.dev import fund_from_dev_account
from verifier import chain as vchain
from verifier.chain import MAX_REPLY_BYTES, JsonRpcChain
from verifier.errors import ChainUnavailable, RpcCallError

CALLS: list[tuple[str, list]] = [
    ("eth_chainId", []),
    ("eth_blockNumber", []),
    ("eth_call", [{"to": "0x" + "ab" * 20, "data": "0x10ce7c2a"}, "latest"]),
]


class _Batch(http.server.BaseHTTPRequestHandler):
    mode = "ok"
    posts: ClassVar[list[Any]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).posts.append(req)
        mode = type(self).mode
        answers = {"eth_chainId": "0x539", "eth_blockNumber": "0x2a", "eth_call": "0x" + "00" * 32}
        replies: Any = [{"jsonrpc": "2.0", "id": r["id"], "result": answers[r["method"]]} for r in req]
        if mode == "reversed":
            replies.reverse()
        elif mode == "error":
            replies[2] = {"jsonrpc": "2.0", "id": req[2]["id"], "error": {"code": 3, "message": "execution reverted"}}
        elif mode == "missing":
            replies.pop(1)
        elif mode == "duplicate":
            replies[1]["id"] = replies[0]["id"]
        elif mode == "no_result":
            del replies[0]["result"]
        elif mode == "object":
            replies = replies[0]
        elif mode == "refused":
            replies = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "batch not supported"}}
        elif mode == "huge":
            replies[0]["result"] = "0x" + "00" * MAX_REPLY_BYTES
        body = json.dumps(replies).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


@pytest.fixture
def rpc() -> Iterator[tuple[str, type[_Batch]]]:
    handler = type("Handler", (_Batch,), {"mode": "ok", "posts": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_one_post_for_the_whole_batch(rpc) -> None:  # type: ignore[no-untyped-def]
    url, handler = rpc
    chain = JsonRpcChain(url)
    assert isinstance(chain, vchain.ChainReader) and chain.endpoint == url
    assert chain.batch(CALLS) == ["0x539", "0x2a", "0x" + "00" * 32]
    assert len(handler.posts) == 1
    sent = handler.posts[0]
    assert [c["method"] for c in sent] == ["eth_chainId", "eth_blockNumber", "eth_call"]
    assert sent[2]["params"] == CALLS[2][1] and all(c["jsonrpc"] == "2.0" for c in sent)
    assert len({c["id"] for c in sent}) == 3


def test_replies_matched_by_id(rpc) -> None:  # type: ignore[no-untyped-def]
    url, handler = rpc
    handler.mode = "reversed"
    assert JsonRpcChain(url).batch(CALLS) == ["0x539", "0x2a", "0x" + "00" * 32]


def test_error_object_comes_back_in_its_slot(rpc) -> None:  # type: ignore[no-untyped-def]
    url, handler = rpc
    handler.mode = "error"
    results = JsonRpcChain(url).batch(CALLS)
    assert results[:2] == ["0x539", "0x2a"]
    assert isinstance(results[2], RpcCallError) and results[2].code == 3
    assert "execution reverted" in str(results[2])


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("missing", "did not answer eth_blockNumber (id 2)"),
        ("duplicate", "gave a malformed JSON-RPC batch reply"),
        ("no_result", "answered eth_chainId without a result"),
        ("object", "did not answer with a JSON-RPC batch"),
        ("refused", "refused the batch: -32600: batch not supported"),
        ("huge", f"answered more than {MAX_REPLY_BYTES} bytes"),
    ],
)
def test_malformed_batch_replies_are_unavailable(rpc, mode: str, message: str) -> None:  # type: ignore[no-untyped-def]
    url, handler = rpc
    handler.mode = mode
    with pytest.raises(ChainUnavailable) as info:
        JsonRpcChain(url).batch(CALLS)
    assert str(info.value) == f"batch of 3 call(s): {url} {message}"


def test_empty_batch_sends_nothing(rpc) -> None:  # type: ignore[no-untyped-def]
    url, handler = rpc
    assert JsonRpcChain(url).batch([]) == []
    assert handler.posts == []


def test_unreachable_endpoint() -> None:
    from tests.helpers.ganache_fixture import closed_port_url

    url = closed_port_url()
    with pytest.raises(ChainUnavailable, match="cannot reach"):
        JsonRpcChain(url, timeout=2).batch(CALLS)


# -- the node's Web3ChainReader on the in-process chain ----------------------------------------------------


@pytest.fixture(scope="module")
def deployed():  # type: ignore[no-untyped-def]
    from eth_account import Account

    from anchor.chain import ChainClient
    from anchor.deploy import deploy_for_tests
    from anchor.profiles import load_profile

    client = ChainClient(load_profile("test"))
    acct = Account.create()
    fund_from_dev_account(client, acct.address, 10**20)
    deployment, _ = deploy_for_tests(client, acct)
    return client, deployment


def test_web3_reader_batch(deployed) -> None:  # type: ignore[no-untyped-def]
    from anchor.chain import Web3ChainReader

    client, deployment = deployed
    reader = Web3ChainReader(client.w3)
    assert isinstance(reader, vchain.ChainReader) and reader.endpoint
    anchor = deployment.anchor.lower()
    out = reader.batch(
        [
            ("eth_chainId", []),
            ("eth_getBlockByNumber", ["0x0", False]),
            ("eth_blockNumber", []),
            ("eth_call", [{"to": anchor, "data": "0x" + vchain.encode_anchor_version().hex()}, "latest"]),
            ("eth_call", [{"to": anchor, "data": "0xdeadbeef"}, "latest"]),
            ("eth_getBlockByNumber", [hex(10**6), False]),
            ("eth_getCode", [anchor, "latest"]),
        ]
    )
    assert int(out[0], 16) == client.chain_id
    assert out[1]["hash"] == "0x" + bytes(client.w3.eth.get_block(0)["hash"]).hex() and out[1]["number"] == "0x0"
    assert int(out[2], 16) == client.w3.eth.block_number
    assert vchain.decode_string(bytes.fromhex(out[3][2:])) == vchain.ANCHOR_VERSION
    assert isinstance(out[4], RpcCallError)  # no such function: the contract reverts
    assert isinstance(out[5], RpcCallError)  # no such block
    assert len(out[6]) > 2


def test_web3_reader_unreachable() -> None:
    from web3 import HTTPProvider, Web3

    from anchor.chain import Web3ChainReader
    from tests.helpers.ganache_fixture import closed_port_url

    url = closed_port_url()
    reader = Web3ChainReader(Web3(HTTPProvider(url, request_kwargs={"timeout": 2})))
    assert reader.endpoint == url
    with pytest.raises(ChainUnavailable, match=url):
        reader.batch(CALLS)


# -- JsonRpcChain single calls and the ArchiveAnchor views, against a scripted JSON-RPC server ------------

ANCHOR = "0x" + "cd" * 20
LOG_ID = bytes(range(32))
ROOT = bytes([7]) * 32


class _Single(http.server.BaseHTTPRequestHandler):
    """Answers one JSON-RPC request per POST with whatever `answer(request)` returns: (HTTP status, body)."""

    posts: ClassVar[list[Any]] = []
    content_types: ClassVar[list[str]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def answer(self, req: Any) -> tuple[int, Any]:  # replaced per test
        return 200, {"jsonrpc": "2.0", "id": req["id"], "result": "0x1"}

    def do_POST(self) -> None:
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).posts.append(req)
        type(self).content_types.append(self.headers["Content-Type"])
        status, reply = type(self).answer(req)
        body = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


@pytest.fixture
def single() -> Iterator[tuple[str, type[_Single]]]:
    handler = type("Handler", (_Single,), {"posts": [], "content_types": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def _result(value: Any) -> Any:
    return staticmethod(lambda req: (200, {"jsonrpc": "2.0", "id": req["id"], "result": value}))


def _error(error: Any, status: int = 200) -> Any:
    return staticmethod(lambda req: (status, {"jsonrpc": "2.0", "id": req["id"], "error": error}))


def test_single_calls_send_the_documented_params(single) -> None:  # type: ignore[no-untyped-def]
    url, handler = single
    chain = JsonRpcChain(url)
    handler.answer = _result("0xAB")  # hex digits in either case are a quantity
    assert chain.chain_id() == 0xAB
    assert chain.block_number() == 0xAB
    handler.answer = _result("0x60Ab")
    assert chain.get_code(ANCHOR) == bytes.fromhex("60ab")
    sent = handler.posts
    assert [(p["method"], p["params"]) for p in sent] == [
        ("eth_chainId", []),
        ("eth_blockNumber", []),
        ("eth_getCode", [ANCHOR, "latest"]),
    ]
    assert all(isinstance(p["id"], int) and p["jsonrpc"] == "2.0" for p in sent)
    assert len({p["id"] for p in sent}) == 3
    assert handler.content_types == ["application/json"] * 3  # nodes refuse JSON-RPC sent as a form


def test_only_http_urls_are_endpoints() -> None:
    assert JsonRpcChain("https://rpc.example.org").endpoint == "https://rpc.example.org"
    for url in ("ftp://rpc.example.org", "ws://127.0.0.1:8546", "rpc.example.org"):
        with pytest.raises(vchain.VerifierError, match=f"^chain RPC url must be http\\(s\\), got '{url}'$"):
            JsonRpcChain(url)


def test_reply_of_exactly_the_limit_is_read(single) -> None:  # type: ignore[no-untyped-def]
    url, handler = single

    def answer(req: Any) -> tuple[int, bytes]:
        body = json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": "0x"}).encode()
        padded = body[:-1] + b" " * (MAX_REPLY_BYTES - len(body)) + b"}"
        assert len(padded) == MAX_REPLY_BYTES
        return 200, padded

    handler.answer = staticmethod(answer)
    assert JsonRpcChain(url).get_code(ANCHOR) == b""


@pytest.mark.parametrize(
    ("block", "tag"),
    [(0, "0x0"), (1, "0x1"), (255, "0xff"), ("latest", "latest"), ("safe", "safe"), ("finalized", "finalized"),
     ("earliest", "earliest"), ("pending", "pending")],
)
def test_call_block_tags(single, block: Any, tag: str) -> None:  # type: ignore[no-untyped-def]
    url, handler = single
    handler.answer = _result("0x")
    assert JsonRpcChain(url).call(ANCHOR, b"\x01\x02", block) == b""
    assert handler.posts[0]["params"] == [{"to": ANCHOR, "data": "0x0102"}, tag]


@pytest.mark.parametrize(
    ("block", "message"), [(-1, "negative block number -1"), ("LATEST", "bad block tag 'LATEST'"),
                           (True, "bad block tag True"), ("0x10", "bad block tag '0x10'")]
)
def test_call_refuses_bad_block_tags(single, block: Any, message: str) -> None:  # type: ignore[no-untyped-def]
    url, handler = single
    with pytest.raises(vchain.VerifierError, match=message):
        JsonRpcChain(url).call(ANCHOR, b"", block)
    assert handler.posts == []


@pytest.mark.parametrize("address", ["nope", "0x" + "cd" * 19, "0x" + "zz" * 20, 42])
def test_addresses_are_checked_before_asking(single, address: Any) -> None:  # type: ignore[no-untyped-def]
    url, handler = single
    assert vchain.is_address(address) is False
    with pytest.raises(vchain.VerifierError, match="not an address"):
        JsonRpcChain(url).get_code(address)
    with pytest.raises(vchain.VerifierError, match="not an address"):
        JsonRpcChain(url).call(address, b"")
    assert handler.posts == []
    assert vchain.is_address(ANCHOR) and vchain.is_address("0x" + "AbC1" * 10)


@pytest.mark.parametrize(
    ("value", "call", "message"),
    [(1337, "chain_id", "expected a hex quantity, got 1337"), ("0x", "chain_id", "hex quantity"),
     ("0xg1", "block_number", "hex quantity"), ("539", "chain_id", "hex quantity"),
     (None, "get_code", "expected hex data, got None"), ("0x123", "get_code", "hex data"),
     ("0xzz", "get_code", "hex data"), (96, "get_code", "hex data")],
)
def test_malformed_results_are_unavailable(single, value: Any, call: str, message: str) -> None:  # type: ignore[no-untyped-def]
    url, handler = single
    handler.answer = _result(value)
    chain = JsonRpcChain(url)
    with pytest.raises(ChainUnavailable, match=message):
        getattr(chain, call)(*([ANCHOR] if call == "get_code" else []))


def test_single_call_error_object_is_raised_with_its_details(single) -> None:  # type: ignore[no-untyped-def]
    url, handler = single
    handler.answer = _error({"code": 3, "message": "execution reverted", "data": "0x08c379a0"})
    with pytest.raises(RpcCallError, match="eth_call: JSON-RPC error 3: execution reverted") as info:
        JsonRpcChain(url).call(ANCHOR, b"")
    err = info.value
    assert (err.method, err.code, err.rpc_message, err.data) == ("eth_call", 3, "execution reverted", "0x08c379a0")


def test_single_call_error_that_is_not_an_object(single) -> None:  # type: ignore[no-untyped-def]
    url, handler = single
    handler.answer = _error("node is syncing")
    with pytest.raises(RpcCallError) as info:
        JsonRpcChain(url).chain_id()
    err = info.value
    assert (err.method, err.code, err.rpc_message, err.data) == ("eth_chainId", None, "'node is syncing'", None)
    assert str(err) == "eth_chainId: JSON-RPC error None: 'node is syncing'"


def test_rpc_error_sent_with_an_http_error_status_is_kept(single) -> None:  # type: ignore[no-untyped-def]
    url, handler = single
    handler.answer = _error({"code": -32000, "message": "header not found"}, status=500)
    with pytest.raises(RpcCallError, match="header not found") as info:
        JsonRpcChain(url).block_number()
    assert info.value.method == "eth_blockNumber" and info.value.code == -32000


def test_rpc_error_of_exactly_the_reply_limit_with_an_http_error_status(single) -> None:  # type: ignore[no-untyped-def]
    url, handler = single

    def answer(req: Any) -> tuple[int, bytes]:
        body = json.dumps({"jsonrpc": "2.0", "id": req["id"], "error": {"code": 1, "message": ""}}).encode()
        padded = body.replace(b'"message": ""', b'"message": "' + b"x" * (MAX_REPLY_BYTES - len(body)) + b'"')
        assert len(padded) == MAX_REPLY_BYTES
        return 500, padded

    handler.answer = staticmethod(answer)
    with pytest.raises(RpcCallError, match="xxxx"):
        JsonRpcChain(url).block_number()


def test_http_error_without_rpc_error_names_the_call(single) -> None:  # type: ignore[no-untyped-def]
    url, handler = single
    handler.answer = staticmethod(lambda req: (503, b"overloaded"))
    with pytest.raises(ChainUnavailable, match=f"^eth_chainId: {url} answered HTTP 503$"):
        JsonRpcChain(url).chain_id()


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (lambda req: [{"jsonrpc": "2.0", "id": req["id"], "result": "0x1"}], "malformed JSON-RPC reply"),
        (lambda req: {"jsonrpc": "2.0", "id": req["id"] + 1, "result": "0x1"}, "malformed JSON-RPC reply"),
        (lambda req: {"jsonrpc": "2.0", "id": str(req["id"]), "result": "0x1"}, "malformed JSON-RPC reply"),
        (lambda req: {"jsonrpc": "2.0", "id": req["id"]}, "reply without a result"),
    ],
)
def test_malformed_single_replies_are_unavailable(single, reply: Any, message: str) -> None:  # type: ignore[no-untyped-def]
    url, handler = single
    handler.answer = staticmethod(lambda req: (200, reply(req)))
    with pytest.raises(ChainUnavailable, match=f"^eth_chainId: {url} .*{message}"):
        JsonRpcChain(url).chain_id()


def test_refused_batch_names_the_node_error(rpc) -> None:  # type: ignore[no-untyped-def]
    url, handler = rpc
    handler.mode = "refused"
    with pytest.raises(ChainUnavailable, match=f"{url} refused the batch: -32600: batch not supported$"):
        JsonRpcChain(url).batch(CALLS)


def test_refused_batch_with_a_bare_error(single) -> None:  # type: ignore[no-untyped-def]
    url, handler = single
    handler.answer = staticmethod(lambda req: (200, {"jsonrpc": "2.0", "id": None, "error": "no batches"}))
    with pytest.raises(ChainUnavailable, match=r"refused the batch: 'no batches'$"):
        JsonRpcChain(url).batch(CALLS)


def test_batch_error_slot_keeps_method_and_data(single) -> None:  # type: ignore[no-untyped-def]
    url, handler = single
    handler.answer = staticmethod(
        lambda req: (
            200,
            [
                {"jsonrpc": "2.0", "id": req[0]["id"], "error": {"code": 3, "message": "no", "data": "0x01"}},
                {"jsonrpc": "2.0", "id": req[1]["id"], "error": ["odd"]},
            ],
        )
    )
    first, second = JsonRpcChain(url).batch(CALLS[:2])
    assert (first.method, first.code, first.rpc_message, first.data) == ("eth_chainId", 3, "no", "0x01")
    assert (second.method, second.code, second.rpc_message, second.data) == ("eth_blockNumber", None, "['odd']", None)


def _anchor_contract(roots: dict[tuple[bytes, int], tuple[bytes, int]]) -> Any:
    """An ArchiveAnchor as eth_call sees it: rootAt / anchoredAtBlock / anchorVersion by selector;
    any other address has no code (empty return data)."""

    def answer(req: Any) -> tuple[int, Any]:
        tx, _block = req["params"]
        data = bytes.fromhex(tx["data"][2:])
        if tx["to"] != ANCHOR:
            out = b""
        elif data[:4] == vchain.SELECTOR_ANCHOR_VERSION:
            text = vchain.ANCHOR_VERSION.encode()
            out = (32).to_bytes(32, "big") + len(text).to_bytes(32, "big") + text.ljust(64, b"\0")
        else:
            log_id, size = data[4:36], int.from_bytes(data[36:68], "big")
            root, block = roots.get((log_id, size), (bytes(32), 0))
            out = root if data[:4] == vchain.SELECTOR_ROOT_AT else block.to_bytes(32, "big")
        return 200, {"jsonrpc": "2.0", "id": req["id"], "result": "0x" + out.hex()}

    return staticmethod(answer)


def test_anchor_views_ask_the_contract_for_the_right_checkpoint(single) -> None:  # type: ignore[no-untyped-def]
    url, handler = single
    handler.answer = _anchor_contract({(LOG_ID, 5): (ROOT, 42)})
    chain = JsonRpcChain(url)
    assert vchain.anchor_version(chain, ANCHOR) == vchain.ANCHOR_VERSION
    assert vchain.root_at(chain, ANCHOR, LOG_ID, 5) == ROOT
    assert vchain.anchored_at_block(chain, ANCHOR, LOG_ID, 5) == 42
    assert vchain.root_at(chain, ANCHOR, LOG_ID, 4) == bytes(32)  # another size: not anchored
    assert vchain.anchored_at_block(chain, ANCHOR, LOG_ID, 4) == 0
    assert vchain.root_at(chain, ANCHOR, bytes(32), 5) == bytes(32)  # another log
    calls = [p["params"] for p in handler.posts]
    assert all(c[0]["to"] == ANCHOR and c[1] == "latest" for c in calls)
    assert calls[1][0]["data"] == "0x" + vchain.encode_root_at(LOG_ID, 5).hex()
    assert calls[2][0]["data"] == "0x" + vchain.encode_anchored_at_block(LOG_ID, 5).hex()


def test_anchor_views_at_a_block(single) -> None:  # type: ignore[no-untyped-def]
    url, handler = single
    handler.answer = _anchor_contract({(LOG_ID, 5): (ROOT, 42)})
    chain = JsonRpcChain(url)
    assert vchain.anchor_version(chain, ANCHOR, 7) == vchain.ANCHOR_VERSION
    assert vchain.root_at(chain, ANCHOR, LOG_ID, 5, 42) == ROOT
    assert vchain.anchored_at_block(chain, ANCHOR, LOG_ID, 5, "finalized") == 42
    assert [p["params"][1] for p in handler.posts] == ["0x7", "0x2a", "finalized"]


def test_anchor_views_where_there_is_no_contract(single) -> None:  # type: ignore[no-untyped-def]
    url, handler = single
    handler.answer = _anchor_contract({})
    chain = JsonRpcChain(url)
    other = "0x" + "ee" * 20
    assert vchain.root_at(chain, other, LOG_ID, 5) == bytes(32)  # empty return data: nothing anchored
    assert vchain.anchored_at_block(chain, other, LOG_ID, 5) == 0


@pytest.mark.parametrize("ret", ["0x" + "00" * 31, "0x" + "00" * 64])
def test_anchor_views_refuse_wrong_sized_answers(single, ret: str) -> None:  # type: ignore[no-untyped-def]
    url, handler = single
    handler.answer = _result(ret)
    chain = JsonRpcChain(url)
    with pytest.raises(vchain.VerifierError, match="bytes32: expected 32 bytes"):
        vchain.root_at(chain, ANCHOR, LOG_ID, 5)
    with pytest.raises(vchain.VerifierError, match="uint64: expected 32 bytes"):
        vchain.anchored_at_block(chain, ANCHOR, LOG_ID, 5)


@pytest.mark.parametrize(
    "reply",
    [
        lambda req: ["not an object", *({"jsonrpc": "2.0", "id": r["id"], "result": "0x1"} for r in req)],
        lambda req: [{"jsonrpc": "2.0", "id": str(r["id"]), "result": "0x1"} for r in req],
        lambda req: [{"jsonrpc": "2.0", "id": req[0]["id"], "result": "0x1"}] * 2,
    ],
)
def test_malformed_batch_items_name_the_batch(single, reply: Any) -> None:  # type: ignore[no-untyped-def]
    url, handler = single
    handler.answer = staticmethod(lambda req: (200, reply(req)))
    message = f"^batch of 2 call\\(s\\): {url} gave a malformed JSON-RPC batch reply$"
    with pytest.raises(ChainUnavailable, match=message):
        JsonRpcChain(url).batch(CALLS[:2])


def test_reply_that_is_not_json_names_the_call_and_the_endpoint(single) -> None:  # type: ignore[no-untyped-def]
    url, handler = single
    handler.answer = staticmethod(lambda req: (200, b"<html>proxy error</html>"))
    with pytest.raises(ChainUnavailable, match=re.escape(f"eth_chainId: {url} did not answer JSON") + "$"):
        JsonRpcChain(url).chain_id()
    with pytest.raises(ChainUnavailable, match=re.escape(f"batch of 3 call(s): {url} did not answer JSON") + "$"):
        JsonRpcChain(url).batch(CALLS)
