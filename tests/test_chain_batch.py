"""ChainReader.batch: JsonRpcChain (one HTTP POST of a JSON-RPC batch) and the node's Web3ChainReader."""

from __future__ import annotations

import contextlib
import http.server
import json
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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
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


@pytest.mark.parametrize("mode", ["missing", "duplicate", "no_result", "object", "refused", "huge"])
def test_malformed_batch_replies_are_unavailable(rpc, mode: str) -> None:  # type: ignore[no-untyped-def]
    url, handler = rpc
    handler.mode = mode
    with pytest.raises(ChainUnavailable) as info:
        JsonRpcChain(url).batch(CALLS)
    assert url in str(info.value)


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
