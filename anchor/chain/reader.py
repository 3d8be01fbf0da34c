"""The verifier's adapter: its `ChainReader` protocol over a Web3, so the verifier can read the
in-process eth-tester chain in tests and the node can verify through its own connection.

In production the standalone verifier uses its own urllib JSON-RPC reader (verifier/chain.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import BlockNotFound, Web3RPCError

from anchor.chain.reverts import REVERT_ERRORS, decode_revert, describe_revert, revert_data_from_exception
from anchor.chain.transport import CONNECTION_ERRORS, error_message, hex_hash
from anchor.errors import ChainUnavailable, ReaderCallReverted, ReaderRPCError
from verifier import errors as verifier_errors

# anchor's ChainUnavailable is also the verifier's: the old name stays for callers that used it.
ReaderChainUnavailable = ChainUnavailable


def _block_param(tag: Any) -> int | str:
    """A JSON-RPC block parameter ("0x1a" or a tag) as web3 takes it."""
    if isinstance(tag, str) and tag.startswith("0x"):
        return int(tag, 16)
    return tag


class Web3ChainReader:
    """The verifier's ChainReader protocol over a Web3 (so the verifier can run against the
    in-process eth-tester chain in tests; in production it uses its own urllib JSON-RPC reader).

    `batch` answers each call through web3's `w3.eth` (eth-tester's provider does not speak the
    JSON-RPC wire format: it takes and returns ints, and wants `from` in eth_call) and returns the
    results as JSON-RPC would: hex strings, and block objects with hex `hash`/`number`.
    """

    def __init__(self, w3: Web3, endpoint: str | None = None) -> None:
        self.w3 = w3
        self.endpoint = endpoint or str(getattr(w3.provider, "endpoint_uri", None) or type(w3.provider).__name__)

    def batch(self, calls: Sequence[tuple[str, list]]) -> list[Any]:
        """One answer per call, in order; JSON-RPC errors and reverts as RpcCallError in their slot;
        connection failures raise ChainUnavailable (anchor's, which is also the verifier's)."""
        return [self._one(method, list(params)) for method, params in calls]

    def _one(self, method: str, params: list[Any]) -> Any:
        try:
            with self._guard_batch():
                return self._answer(method, params)
        except Web3RPCError as e:
            rpc = getattr(e, "rpc_response", None)
            err = rpc.get("error") if isinstance(rpc, Mapping) else None
            code = err.get("code") if isinstance(err, Mapping) else None
            return verifier_errors.RpcCallError(method, code, error_message(e))
        except REVERT_ERRORS as e:
            raw = revert_data_from_exception(e) or b""
            name, args = decode_revert(raw)
            message = f"execution {describe_revert(name, args)}"
            return verifier_errors.RpcCallError(method, 3, message, "0x" + raw.hex())
        except BlockNotFound as e:
            return verifier_errors.RpcCallError(method, -32000, f"block not found: {e}")

    def _answer(self, method: str, params: list[Any]) -> Any:
        eth = self.w3.eth
        if method == "eth_chainId":
            return hex(int(eth.chain_id))
        if method == "eth_blockNumber":
            return hex(int(eth.block_number))
        if method == "eth_getBlockByNumber":
            block = eth.get_block(_block_param(params[0]), bool(params[1]) if len(params) > 1 else False)
            return {"hash": hex_hash(block["hash"]), "number": hex(int(block["number"]))}
        block_tag = _block_param(params[1]) if len(params) > 1 else "latest"
        if method == "eth_getCode":
            return "0x" + bytes(eth.get_code(to_checksum_address(params[0]), block_tag)).hex()
        if method == "eth_call":
            tx = {"to": to_checksum_address(params[0]["to"]), "data": params[0].get("data", "0x")}
            return "0x" + bytes(eth.call(tx, block_tag)).hex()
        return verifier_errors.RpcCallError(method, -32601, f"method {method} is not supported by Web3ChainReader")

    @contextlib.contextmanager
    def _guard_batch(self) -> Iterator[None]:
        try:
            yield
        except CONNECTION_ERRORS as e:
            raise ChainUnavailable(f"chain node {self.endpoint} does not answer ({type(e).__name__})") from e

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except CONNECTION_ERRORS as e:
            raise ChainUnavailable(f"chain node does not answer ({type(e).__name__})") from e
        except Web3RPCError as e:
            raise ReaderRPCError(f"JSON-RPC error: {error_message(e)}") from e

    def chain_id(self) -> int:
        with self._guard():
            return int(self.w3.eth.chain_id)

    def block_number(self) -> int:
        with self._guard():
            return int(self.w3.eth.block_number)

    def get_code(self, address: str, block: int | str = "latest") -> bytes:
        with self._guard():
            return bytes(self.w3.eth.get_code(to_checksum_address(address), block))

    def call(self, to: str, data: bytes, block: int | str = "latest") -> bytes:
        with self._guard():
            try:
                return bytes(self.w3.eth.call({"to": to_checksum_address(to), "data": data}, block))
            except REVERT_ERRORS as e:
                raw = revert_data_from_exception(e) or b""
                name, args = decode_revert(raw)
                raise ReaderCallReverted(
                    f"call to {to} {describe_revert(name, args)}",
                    error_name=name,
                    error_args=args,
                    revert_data=raw,
                ) from e


__all__ = ["ReaderCallReverted", "ReaderChainUnavailable", "ReaderRPCError", "Web3ChainReader"]
