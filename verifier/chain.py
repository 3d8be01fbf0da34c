"""Read-only chain access for the verifier: a small protocol, a JSON-RPC client over urllib, and
hand-written ABI for the three ArchiveAnchor views it needs.

The verifier asks each chain endpoint everything in ONE JSON-RPC batch (`ChainReader.batch`): one
round trip, and every answer comes from the same node at (nearly) the same moment.
No web3 here on purpose: an auditor checks a checkpoint with the standard library alone.
"""

from __future__ import annotations

import http.client
import itertools
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from verifier.errors import ChainUnavailable, RpcCallError, VerifierError

ANCHOR_VERSION = "archive-ledger/ArchiveAnchor/1"

# First 4 bytes of keccak256 of the signature (hashlib has no keccak; a test recomputes them).
SELECTOR_ANCHOR_VERSION = bytes.fromhex("10ce7c2a")  # anchorVersion()
SELECTOR_ROOT_AT = bytes.fromhex("930b6ace")  # rootAt(bytes32,uint64)
SELECTOR_ANCHORED_AT_BLOCK = bytes.fromhex("9fad2d3f")  # anchoredAtBlock(bytes32,uint64)

BlockTag = int | str
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_UINT64_MAX = 2**64 - 1
MAX_REPLY_BYTES = 1 << 20  # a verifier reads at most this much of a node's answer

__all__ = [
    "ANCHOR_VERSION",
    "MAX_REPLY_BYTES",
    "SELECTOR_ANCHORED_AT_BLOCK",
    "SELECTOR_ANCHOR_VERSION",
    "SELECTOR_ROOT_AT",
    "ChainReader",
    "ContractCaller",
    "JsonRpcChain",
    "anchor_version",
    "anchored_at_block",
    "decode_bytes32",
    "decode_string",
    "decode_uint64",
    "encode_anchor_version",
    "encode_anchored_at_block",
    "encode_root_at",
    "is_address",
    "root_at",
]


@runtime_checkable
class ChainReader(Protocol):
    """One chain endpoint, asked in batches.

    `batch` returns the results in the order of `calls` (the JSON-RPC `result` values as sent on the
    wire: hex strings, block objects); a call answered with a JSON-RPC error object comes back as an
    RpcCallError in its slot. It raises ChainUnavailable when the endpoint cannot be reached or
    answers something that is not a JSON-RPC reply to the batch.
    """

    endpoint: str  # shown in messages

    def batch(self, calls: Sequence[tuple[str, list]]) -> list[Any]: ...


class ContractCaller(Protocol):
    """A single eth_call (what the view helpers below need; the node's audit check uses them)."""

    def call(self, to: str, data: bytes, block: BlockTag = "latest") -> bytes: ...


class JsonRpcChain:
    """ChainReader over Ethereum JSON-RPC (HTTP POST) with urllib.

    Transport failures, timeouts, HTTP errors and non-JSON-RPC answers raise ChainUnavailable (the
    answer is unknown). In `batch` a JSON-RPC error object is returned as an RpcCallError in its slot;
    the single-call helpers (`chain_id`, `block_number`, `get_code`, `call`) raise it.
    """

    def __init__(self, url: str, timeout: float = 10) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise VerifierError(f"chain RPC url must be http(s), got {url!r}")
        self.url = url
        self.endpoint = url
        self.timeout = timeout
        self._ids = itertools.count(1)

    def batch(self, calls: Sequence[tuple[str, list]]) -> list[Any]:
        """All `calls` in one HTTP POST of a JSON-RPC batch array; replies matched by id."""
        if not calls:
            return []
        requests = [(next(self._ids), method, list(params)) for method, params in calls]
        payload = [{"jsonrpc": "2.0", "id": i, "method": method, "params": params} for i, method, params in requests]
        what = f"batch of {len(calls)} call(s)"
        reply = self._post(json.dumps(payload).encode(), what)
        if isinstance(reply, dict) and "error" in reply:
            raise ChainUnavailable(f"{what}: {self.url} refused the batch: {_error_text(reply['error'])}")
        if not isinstance(reply, list):
            raise ChainUnavailable(f"{what}: {self.url} did not answer with a JSON-RPC batch")
        by_id: dict[int, dict] = {}
        for item in reply:
            if not isinstance(item, dict) or not isinstance(item.get("id"), int) or item["id"] in by_id:
                raise ChainUnavailable(f"{what}: {self.url} gave a malformed JSON-RPC batch reply")
            by_id[item["id"]] = item
        results: list[Any] = []
        for i, method, _params in requests:
            item = by_id.get(i)
            if item is None:
                raise ChainUnavailable(f"{what}: {self.url} did not answer {method} (id {i})")
            if item.get("error") is not None:
                results.append(_rpc_error(method, item["error"]))
            elif "result" in item:
                results.append(item["result"])
            else:
                raise ChainUnavailable(f"{what}: {self.url} answered {method} without a result")
        return results

    def chain_id(self) -> int:
        return _quantity(self._rpc("eth_chainId", []))

    def block_number(self) -> int:
        return _quantity(self._rpc("eth_blockNumber", []))

    def get_code(self, address: str) -> bytes:
        _check_address(address)
        return _data(self._rpc("eth_getCode", [address, "latest"]))

    def call(self, to: str, data: bytes, block: BlockTag = "latest") -> bytes:
        _check_address(to)
        tx = {"to": to, "data": "0x" + bytes(data).hex()}
        return _data(self._rpc("eth_call", [tx, _block_tag(block)]))

    def _rpc(self, method: str, params: list[Any]) -> Any:
        req_id = next(self._ids)
        body = json.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params}).encode()
        reply = self._post(body, method)
        if not isinstance(reply, dict) or reply.get("id") != req_id:
            raise ChainUnavailable(f"{method}: {self.url} gave a malformed JSON-RPC reply")
        if reply.get("error") is not None:
            raise _rpc_error(method, reply["error"])
        if "result" not in reply:
            raise ChainUnavailable(f"{method}: {self.url} gave a JSON-RPC reply without a result")
        return reply["result"]

    def _post(self, body: bytes, what: str) -> Any:
        """POST a JSON-RPC body; the decoded JSON reply (at most MAX_REPLY_BYTES are read)."""
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})  # POST
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read(MAX_REPLY_BYTES + 1)
        except urllib.error.HTTPError as exc:
            # Some nodes send JSON-RPC errors with an HTTP error status: keep the RPC error if so.
            raw = _read_quietly(exc)
            if b'"error"' not in raw:
                raise ChainUnavailable(f"{what}: {self.url} answered HTTP {exc.code}") from exc
        except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as exc:
            raise ChainUnavailable(f"{what}: cannot reach {self.url}: {exc}") from exc
        if len(raw) > MAX_REPLY_BYTES:
            raise ChainUnavailable(f"{what}: {self.url} answered more than {MAX_REPLY_BYTES} bytes")
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ChainUnavailable(f"{what}: {self.url} did not answer JSON") from exc


# -- ABI -----------------------------------------------------------------------------------------------


def encode_anchor_version() -> bytes:
    return SELECTOR_ANCHOR_VERSION


def encode_root_at(log_id: bytes, tree_size: int) -> bytes:
    return SELECTOR_ROOT_AT + _bytes32(log_id) + _uint64(tree_size)


def encode_anchored_at_block(log_id: bytes, tree_size: int) -> bytes:
    return SELECTOR_ANCHORED_AT_BLOCK + _bytes32(log_id) + _uint64(tree_size)


def decode_string(ret: bytes) -> str:
    """Decode an ABI `string` return value; VerifierError if it is not one."""
    if len(ret) < 64:
        raise VerifierError(f"ABI string: return data too short ({len(ret)} bytes)")
    offset = int.from_bytes(ret[:32], "big")
    if offset + 32 > len(ret):
        raise VerifierError("ABI string: offset out of range")
    length = int.from_bytes(ret[offset : offset + 32], "big")
    start = offset + 32
    if start + length > len(ret):
        raise VerifierError("ABI string: length out of range")
    try:
        return ret[start : start + length].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerifierError("ABI string: not UTF-8") from exc


def decode_bytes32(ret: bytes) -> bytes:
    if len(ret) != 32:
        raise VerifierError(f"ABI bytes32: expected 32 bytes, got {len(ret)}")
    return bytes(ret)


def decode_uint64(ret: bytes) -> int:
    if len(ret) != 32:
        raise VerifierError(f"ABI uint64: expected 32 bytes, got {len(ret)}")
    value = int.from_bytes(ret, "big")
    if value > _UINT64_MAX:
        raise VerifierError("ABI uint64: value out of range")
    return value


# -- the views, over any ChainReader ----------------------------------------------------------------


def anchor_version(chain: ContractCaller, contract: str, block: BlockTag = "latest") -> str:
    return decode_string(chain.call(contract, encode_anchor_version(), block))


def root_at(chain: ContractCaller, contract: str, log_id: bytes, tree_size: int, block: BlockTag = "latest") -> bytes:
    """The root the contract holds for (log_id, tree_size) at `block`; 32 zero bytes if none.

    Empty return data (no contract at that block yet) also means none.
    """
    ret = chain.call(contract, encode_root_at(log_id, tree_size), block)
    return bytes(32) if ret == b"" else decode_bytes32(ret)


def anchored_at_block(
    chain: ContractCaller, contract: str, log_id: bytes, tree_size: int, block: BlockTag = "latest"
) -> int:
    """Block in which (log_id, tree_size) was anchored; 0 if it was not."""
    ret = chain.call(contract, encode_anchored_at_block(log_id, tree_size), block)
    return 0 if ret == b"" else decode_uint64(ret)


def is_address(value: object) -> bool:
    return isinstance(value, str) and _ADDRESS_RE.fullmatch(value) is not None


# -- helpers -----------------------------------------------------------------------------------------


def _bytes32(value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise VerifierError("bytes32 argument must be 32 bytes")
    return bytes(value)


def _uint64(value: int) -> bytes:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _UINT64_MAX:
        raise VerifierError(f"uint64 argument out of range: {value!r}")
    return value.to_bytes(32, "big")


def _check_address(address: str) -> None:
    if not is_address(address):
        raise VerifierError(f"not an address: {address!r}")


def _block_tag(block: BlockTag) -> str:
    if isinstance(block, int) and not isinstance(block, bool):
        if block < 0:
            raise VerifierError(f"negative block number {block}")
        return hex(block)
    if block in ("latest", "safe", "finalized", "earliest", "pending"):
        return block
    raise VerifierError(f"bad block tag {block!r}")


def _rpc_error(method: str, err: Any) -> RpcCallError:
    if isinstance(err, dict):
        return RpcCallError(method, err.get("code"), str(err.get("message")), err.get("data"))
    return RpcCallError(method, None, repr(err))


def _error_text(err: Any) -> str:
    return f"{err.get('code')}: {err.get('message')}" if isinstance(err, dict) else repr(err)


def _read_quietly(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read(MAX_REPLY_BYTES + 1)
    except (OSError, http.client.HTTPException):
        return b""


def _quantity(value: Any) -> int:
    if not isinstance(value, str) or not re.fullmatch(r"0x[0-9a-fA-F]+", value):
        raise ChainUnavailable(f"expected a hex quantity, got {value!r}")
    return int(value, 16)


def _data(value: Any) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(r"0x([0-9a-fA-F]{2})*", value):
        raise ChainUnavailable(f"expected hex data, got {value!r}")
    return bytes.fromhex(value[2:])
