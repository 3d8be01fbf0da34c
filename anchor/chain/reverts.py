"""Revert decoding: turn the bytes a reverted call or transaction returns into (error name, args).

Shared by the chain client (which raises `TransactionReverted`) and the verifier adapter (which
reports a JSON-RPC error in the call's slot). Every node client reports reverts in its own shape;
`revert_data_from_exception` digs the raw bytes out of whichever exception web3 (or eth-tester) raised.
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

import eth_abi
from eth_utils import keccak, to_checksum_address
from eth_utils.abi import abi_to_signature, get_abi_input_types
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError

ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)

try:  # eth-tester (dev extra) reports reverts with its own exception type
    from eth_tester.exceptions import TransactionFailed as _EthTesterTransactionFailed

    REVERT_ERRORS: tuple[type[BaseException], ...] = (ContractLogicError, _EthTesterTransactionFailed)
except ImportError:  # pragma: no cover - production installs have no eth-tester
    REVERT_ERRORS = (ContractLogicError,)


def decode_revert(data: bytes | str | None, abi: Iterable[Mapping[str, Any]] = ()) -> tuple[str | None, tuple]:
    """Decode revert data into (error name, args). ``(None, ())`` if it cannot be decoded."""
    if data is None:
        return None, ()
    if isinstance(data, str):
        try:
            data = bytes(HexBytes(data))
        except ValueError:
            return None, ()
    if len(data) < 4:
        return None, ()
    selector, body = data[:4], data[4:]
    try:
        if selector == ERROR_STRING_SELECTOR:
            return "Error", tuple(eth_abi.decode(["string"], body))
        if selector == PANIC_SELECTOR:
            return "Panic", tuple(eth_abi.decode(["uint256"], body))
        for item in abi:
            if item.get("type") != "error":
                continue
            if keccak(text=abi_to_signature(item))[:4] == selector:
                types = list(get_abi_input_types(item))
                values = eth_abi.decode(types, body)
                return item["name"], tuple(
                    to_checksum_address(v) if t == "address" else v for t, v in zip(types, values, strict=True)
                )
    except Exception:  # malformed data: report as undecodable
        return None, ()
    return None, ()


def revert_data_from_exception(e: BaseException) -> bytes | None:
    """Best effort: the raw revert data carried by a web3 (or eth-tester) exception, or None."""
    # eth-tester: web3 re-raises TransactionFailed("execution reverted: ...") from the original
    # TransactionFailed whose first argument is the raw revert bytes (possibly wrapped once more).
    seen: BaseException | None = e
    for _ in range(5):
        if seen is None:
            break
        first = seen.args[0] if seen.args else None
        if isinstance(first, BaseException) and first.args:
            first = first.args[0]
        if isinstance(first, bytes | bytearray):
            return bytes(first)
        if isinstance(first, str):  # eth_call: the bytes arrive as their repr, "b'\\xe6...'"
            literal = first.removeprefix("execution reverted: ")
            if literal.startswith(("b'", 'b"')):
                with contextlib.suppress(ValueError, SyntaxError):
                    value = ast.literal_eval(literal)
                    if isinstance(value, bytes):
                        return value
        seen = seen.__cause__ or seen.__context__
    data: Any = getattr(e, "data", None)
    if isinstance(data, Mapping):  # some nodes nest it: {"data": "0x..."} or {hash: {"return": ...}}
        inner = data.get("data") or data.get("result")
        if inner is None:
            for v in data.values():
                if isinstance(v, Mapping) and "return" in v:
                    inner = v["return"]
                    break
        data = inner
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes(HexBytes(data))
        except ValueError:
            return None
    return None


def describe_revert(name: str | None, args: tuple) -> str:
    """The tail of a revert message: "reverted with EmptyCheckpoint(...)", "reverted: reason", ..."""
    if name is None:
        return "reverted without a decodable reason (out of gas, or an error not in the ABI)"
    if name == "Error" and args:
        return f"reverted: {args[0]}"
    shown = ", ".join("0x" + a.hex() if isinstance(a, bytes) else str(a) for a in args)
    return f"reverted with {name}({shown})"


__all__ = [
    "ERROR_STRING_SELECTOR",
    "PANIC_SELECTOR",
    "REVERT_ERRORS",
    "decode_revert",
    "describe_revert",
    "revert_data_from_exception",
]
