"""Transport: the Web3 connection for a chain profile, and network failures as `ChainUnavailable`.

In-process py-evm for ``eth-tester`` profiles, HTTP JSON-RPC otherwise. ``connect`` refuses a node
whose chain id is not the profile's (transactions are EIP-155 signed for the profile's chain).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import requests
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.exceptions import ProviderConnectionError

from anchor.errors import ChainError, ChainUnavailable
from anchor.profiles import ChainProfile

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,  # the node died while answering
    requests.exceptions.RequestException,  # and the rest: a proxy's 502/503 in front of a dead node, a bad URL
    ProviderConnectionError,
    ConnectionError,
    TimeoutError,
)


def connect(profile: ChainProfile, *, check_chain_id: bool = True) -> Web3:
    """A Web3 for the profile: in-process py-evm for ``eth-tester``, HTTP JSON-RPC otherwise.

    Raises `ChainUnavailable` if the node does not answer and `ChainError` ("wrong chain") if its
    chain id is not the profile's.
    """
    if profile.kind == "eth-tester":
        w3 = Web3(EthereumTesterProvider())
    else:
        w3 = http_web3(profile.rpc_url or "", profile.request_timeout_s)
    if check_chain_id:
        check_chain(w3, profile)
    return w3


def http_web3(rpc_url: str, timeout_s: float) -> Web3:
    """A Web3 over HTTP JSON-RPC that fails fast (no retries: callers have their own loops, and
    "node down" must be reported quickly)."""
    provider = HTTPProvider(
        rpc_url,
        request_kwargs={"timeout": timeout_s},
        exception_retry_configuration=None,
    )
    return Web3(provider)


def check_chain(w3: Web3, profile: ChainProfile) -> None:
    with translate_errors(profile.rpc_url or profile.name):
        actual = w3.eth.chain_id
    if actual != profile.chain_id:
        raise ChainError(
            f"wrong chain: the node at {profile.rpc_url or profile.kind} has chain id {actual}, "
            f"but profile '{profile.name}' expects {profile.chain_id}; fix rpc_url or chain_id in "
            f"{profile.source or 'the profile'}"
        )


@contextlib.contextmanager
def translate_errors(where: str | None) -> Iterator[None]:
    """Map network failures to `ChainUnavailable`."""
    try:
        yield
    except CONNECTION_ERRORS as e:
        raise ChainUnavailable(
            f"chain node {where} does not answer ({type(e).__name__}); check that it is running "
            f"and reachable (for the dev chain: `archive-ledger dev-chain status`)"
        ) from e


def error_message(e: BaseException) -> str:
    """The node's own error message (without ganache's JS stack trace)."""
    rpc = getattr(e, "rpc_response", None)
    if isinstance(rpc, Mapping) and isinstance(rpc.get("error"), Mapping) and rpc["error"].get("message"):
        return str(rpc["error"]["message"])
    msg = getattr(e, "message", None)
    if isinstance(msg, Mapping):
        msg = msg.get("message")
    if not msg and e.args:
        first = e.args[0]
        msg = first.get("message") if isinstance(first, Mapping) else first
    return str(msg or e)


def hex_hash(h: Any) -> str:
    """A transaction or block hash as 0x-prefixed lower-case hex, whatever web3 returned."""
    if isinstance(h, bytes | bytearray):
        return "0x" + bytes(h).hex()
    s = str(h).lower()
    return s if s.startswith("0x") else "0x" + s


__all__ = ["CONNECTION_ERRORS", "check_chain", "connect", "error_message", "hex_hash", "http_web3", "translate_errors"]
