"""Chain client: web3.py for reads, eth-account for local signing, our own nonce management.

One `ChainClient` per chain profile. Transactions are always signed locally (EIP-155: the chain id
comes from the profile, and `connect` refuses a node whose chain id differs) and sent raw.

Nonces: web3.py does not serialise them, so every (client, address) pair has one `NonceManager`
whose lock is held while a nonce is taken and, for `send`, while the transaction is broadcast.
The anchorer persists a signed transaction *before* broadcasting it, so it uses the split API:
`prepare` (reserve a nonce and sign) then `broadcast` (idempotent: re-sending a transaction the
node already knows is a success).

Every network failure (connection refused, timeout) becomes `ChainUnavailable`.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import eth_abi
import requests
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from eth_utils.abi import abi_to_signature, get_abi_input_types
from hexbytes import HexBytes
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.exceptions import (
    BlockNotFound,
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)

from anchor.errors import (
    ChainError,
    ChainUnavailable,
    NonceTooLow,
    TransactionReverted,
    TransactionTimeout,
)
from anchor.profiles import ChainProfile
from verifier import errors as verifier_errors

log = logging.getLogger(__name__)

ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)

# Substrings (lower case) of node error messages, per client.
_ALREADY_KNOWN = (
    "already known",  # geth
    "known transaction",  # geth (old), besu "Known transaction"
    "already imported",  # parity/openethereum, besu "Transaction already imported"
    "already in pool",
    "transaction_already_known",
    "already_known",
)
_NONCE_TOO_LOW = (
    "nonce too low",  # geth, besu "Nonce too low"
    "nonce_too_low",  # besu error code name
    "nonce is too low",
    "the tx doesn't have the correct nonce",  # ganache 7 (nonce lower than the account's)
    "invalid transaction nonce",  # eth-tester / py-evm "Invalid transaction nonce: Expected 1, but got 0"
)
try:  # eth-tester (dev extra) reports reverts with its own exception type
    from eth_tester.exceptions import TransactionFailed as _EthTesterTransactionFailed

    _REVERT_ERRORS: tuple[type[BaseException], ...] = (ContractLogicError, _EthTesterTransactionFailed)
except ImportError:  # pragma: no cover - production installs have no eth-tester
    _REVERT_ERRORS = (ContractLogicError,)

_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,  # the node died while answering
    requests.exceptions.RequestException,  # and the rest: a proxy's 502/503 in front of a dead node, a bad URL
    ProviderConnectionError,
    ConnectionError,
    TimeoutError,
)


# --------------------------------------------------------------------------------------------------
# values


@dataclass(frozen=True)
class SignedTx:
    """A locally signed transaction: what the anchorer stores before broadcasting."""

    raw: bytes
    tx_hash: str  # 0x-prefixed, lower case
    nonce: int
    sender: str | None = None

    def __repr__(self) -> str:  # the raw bytes are not secret, just long
        return f"SignedTx(tx_hash={self.tx_hash}, nonce={self.nonce}, sender={self.sender})"


def _hex_hash(h: Any) -> str:
    if isinstance(h, bytes | bytearray):
        return "0x" + bytes(h).hex()
    s = str(h).lower()
    return s if s.startswith("0x") else "0x" + s


# --------------------------------------------------------------------------------------------------
# revert decoding


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


def _revert_data_from_exception(e: BaseException) -> bytes | None:
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


def _describe_revert(name: str | None, args: tuple) -> str:
    if name is None:
        return "reverted without a decodable reason (out of gas, or an error not in the ABI)"
    if name == "Error" and args:
        return f"reverted: {args[0]}"
    shown = ", ".join("0x" + a.hex() if isinstance(a, bytes) else str(a) for a in args)
    return f"reverted with {name}({shown})"


# --------------------------------------------------------------------------------------------------
# connection


def connect(profile: ChainProfile, *, check_chain_id: bool = True) -> Web3:
    """A Web3 for the profile: in-process py-evm for ``eth-tester``, HTTP JSON-RPC otherwise.

    Raises `ChainUnavailable` if the node does not answer and `ChainError` ("wrong chain") if its
    chain id is not the profile's.
    """
    if profile.kind == "eth-tester":
        w3 = Web3(EthereumTesterProvider())
    else:
        provider = HTTPProvider(
            profile.rpc_url,
            request_kwargs={"timeout": profile.request_timeout_s},
            # fail fast: the anchorer has its own retry loop, and "node down" must be reported quickly
            exception_retry_configuration=None,
        )
        w3 = Web3(provider)
    if check_chain_id:
        check_chain(w3, profile)
    return w3


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
    except _CONNECTION_ERRORS as e:
        raise ChainUnavailable(
            f"chain node {where} does not answer ({type(e).__name__}); check that it is running "
            f"and reachable (for the dev chain: `archive-ledger dev-chain status`)"
        ) from e


def _error_message(e: BaseException) -> str:
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


# --------------------------------------------------------------------------------------------------
# nonces


class NonceManager:
    """Hands out the nonces of one address, for one client.

    The next nonce is ``max(pending transaction count on chain, local next)``: the chain's count
    covers transactions sent by other processes, the local counter covers transactions prepared
    here but not broadcast yet. ``lock`` is held while a nonce is taken and used.
    """

    def __init__(self, client: ChainClient, address: str) -> None:
        self.client = client
        self.address = to_checksum_address(address)
        self.lock = threading.Lock()
        self._next: int | None = None

    def _take_locked(self) -> int:
        with translate_errors(self.client.where):
            on_chain = self.client.w3.eth.get_transaction_count(self.address, "pending")
        return on_chain if self._next is None else max(on_chain, self._next)

    def _commit_locked(self, nonce: int) -> None:
        self._next = nonce + 1

    def release(self, signed: SignedTx) -> None:
        """Give back the nonce of a prepared transaction that will never be broadcast.

        Only the most recent reservation can be given back; otherwise the next nonce is re-read
        from the chain (the gap then stays until the abandoned nonce is used)."""
        with self.lock:
            if self._next is not None and signed.nonce == self._next - 1:
                self._next = signed.nonce

    def resync(self) -> None:
        """Forget the local counter: the next nonce comes from the chain's pending count."""
        with self.lock:
            self._next = None


# --------------------------------------------------------------------------------------------------
# the client


class ChainClient:
    """Everything the node does on chain, for one profile.

    ``w3`` may be given to share one in-process eth-tester chain between several clients.
    """

    def __init__(self, profile: ChainProfile, w3: Web3 | None = None, *, check_chain_id: bool = True) -> None:
        self.profile = profile
        self.where = profile.rpc_url or f"({profile.kind})"
        if w3 is None:
            w3 = connect(profile, check_chain_id=check_chain_id)
        elif check_chain_id:
            check_chain(w3, profile)
        self.w3 = w3
        self._nonce_managers: dict[str, NonceManager] = {}
        self._nm_lock = threading.Lock()
        self._abis: dict[str, list[dict[str, Any]]] = {}  # address (lower) -> ABI, for revert decoding

    # -- basics -------------------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        return self.profile.chain_id

    def block_number(self) -> int:
        with translate_errors(self.where):
            return int(self.w3.eth.block_number)

    def block_hash(self, number: int) -> str | None:
        """The hash of the block at ``number`` on the chain as it is now; None if the chain is shorter."""
        with translate_errors(self.where):
            try:
                block = self.w3.eth.get_block(number)
            except BlockNotFound:
                return None
            except Web3RPCError as e:
                raise ChainError(f"the chain node at {self.where} refused block {number}: {_error_message(e)}") from e
        return _hex_hash(block["hash"]) if block is not None else None

    def events(self, event: Any, from_block: int, to_block: int, argument_filters: Mapping[str, Any]) -> list[Any]:
        """The logs of a contract event (``contract.events.X()``) in a block range."""
        with translate_errors(self.where):
            try:
                return list(
                    event.get_logs(from_block=from_block, to_block=to_block, argument_filters=dict(argument_filters))
                )
            except Web3RPCError as e:
                raise ChainError(f"the chain node at {self.where} refused a log query: {_error_message(e)}") from e

    def balance(self, address: str) -> int:
        with translate_errors(self.where):
            return int(self.w3.eth.get_balance(to_checksum_address(address)))

    def get_code(self, address: str, block: int | str = "latest") -> bytes:
        with translate_errors(self.where):
            return bytes(self.w3.eth.get_code(to_checksum_address(address), block))

    def nonce_manager(self, address: str) -> NonceManager:
        key = to_checksum_address(address)
        with self._nm_lock:
            nm = self._nonce_managers.get(key)
            if nm is None:
                nm = self._nonce_managers[key] = NonceManager(self, key)
            return nm

    def register_abi(self, address: str, abi: Iterable[Mapping[str, Any]]) -> None:
        self._abis[address.lower()] = [dict(x) for x in abi]

    def contract(self, address: str, artifact: Mapping[str, Any]) -> Any:
        """A web3 contract object for a deployed contract (artifact: dict with "abi", or the ABI list)."""
        abi = artifact["abi"] if isinstance(artifact, Mapping) else list(artifact)
        self.register_abi(address, abi)
        return self.w3.eth.contract(address=to_checksum_address(address), abi=abi)

    # -- building and signing ----------------------------------------------------------------------

    def _abi_of(self, fn_or_tx: Any, to: str | None = None) -> list[dict[str, Any]]:
        abi = getattr(fn_or_tx, "contract_abi", None) or getattr(fn_or_tx, "abi", None)
        if isinstance(abi, list):
            return abi
        if to and to.lower() in self._abis:
            return self._abis[to.lower()]
        return [item for abi in self._abis.values() for item in abi]

    def _base_tx(self, sender: str, fn_or_tx: Any) -> dict[str, Any]:
        """to/data/value (+ gas if given) of a contract function, constructor or tx dict."""
        if isinstance(fn_or_tx, Mapping):
            tx = {k: v for k, v in fn_or_tx.items() if k in ("to", "data", "value", "gas")}
        else:
            built = fn_or_tx.build_transaction(
                {"from": sender, "gas": 1, "nonce": 0, "chainId": self.chain_id, "gasPrice": 0}
            )
            tx = {k: built[k] for k in ("to", "data", "value") if k in built}
        if tx.get("to"):
            tx["to"] = to_checksum_address(tx["to"])
        tx.setdefault("value", 0)
        tx.setdefault("data", b"")
        return tx

    def _estimate_gas(self, sender: str, tx: dict[str, Any], abi: list[dict[str, Any]]) -> int:
        call = {"from": sender, **{k: v for k, v in tx.items() if k != "gas"}}
        with translate_errors(self.where):
            try:
                estimate = int(self.w3.eth.estimate_gas(call))
            except _REVERT_ERRORS as e:
                raise self._reverted(_revert_data_from_exception(e), abi, "transaction would revert") from e
            block_limit = int(self.w3.eth.get_block("latest")["gasLimit"])
        return min(int(estimate * self.profile.gas.estimate_multiplier) + 1, block_limit)

    def _fees(self) -> dict[str, int]:
        g = self.profile.gas
        with translate_errors(self.where):
            if g.mode == "legacy":
                price = g.gas_price_wei if g.gas_price_wei is not None else int(self.w3.eth.gas_price)
                return {"gasPrice": price}
            prio = g.max_priority_fee_per_gas_wei
            if prio is None:
                prio = int(self.w3.eth.max_priority_fee)
            max_fee = g.max_fee_per_gas_wei
            if max_fee is None:
                base = int(self.w3.eth.get_block("latest").get("baseFeePerGas") or 0)
                max_fee = 2 * base + prio
        return {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": min(prio, max_fee)}

    def _unsigned(self, account: LocalAccount, fn_or_tx: Any, gas: int | None) -> dict[str, Any]:
        tx = self._base_tx(account.address, fn_or_tx)
        if gas is not None:
            tx["gas"] = gas
        elif "gas" not in tx:
            tx["gas"] = self.profile.gas.gas_limit or self._estimate_gas(
                account.address, tx, self._abi_of(fn_or_tx, tx.get("to"))
            )
        tx.update(self._fees())
        tx["chainId"] = self.chain_id
        if not tx.get("to"):
            tx.pop("to", None)
        return tx

    @staticmethod
    def _sign_with_nonce(account: LocalAccount, tx: dict[str, Any], nonce: int) -> SignedTx:
        signed = account.sign_transaction({**tx, "nonce": nonce})
        return SignedTx(
            raw=bytes(signed.raw_transaction),
            tx_hash=_hex_hash(signed.hash),
            nonce=nonce,
            sender=account.address,
        )

    def sign(
        self, account: LocalAccount, fn_or_tx: Any, *, nonce: int | None = None, gas: int | None = None
    ) -> SignedTx:
        """Build and sign a transaction without reserving a nonce (``nonce=None``: the next one).

        Use `prepare` or `send` unless you manage nonces yourself."""
        tx = self._unsigned(account, fn_or_tx, gas)
        if nonce is None:
            nm = self.nonce_manager(account.address)
            with nm.lock:
                nonce = nm._take_locked()
        return self._sign_with_nonce(account, tx, nonce)

    def prepare(self, account: LocalAccount, fn_or_tx: Any, *, gas: int | None = None) -> SignedTx:
        """Reserve the next nonce of ``account`` and sign. Persist the result, then `broadcast` it.

        Raises `TransactionReverted` (decoded) if the gas estimate shows the call would revert."""
        tx = self._unsigned(account, fn_or_tx, gas)
        nm = self.nonce_manager(account.address)
        with nm.lock:
            nonce = nm._take_locked()
            signed = self._sign_with_nonce(account, tx, nonce)
            nm._commit_locked(nonce)
        return signed

    def send(self, account: LocalAccount, fn_or_tx: Any, *, gas: int | None = None) -> SignedTx:
        """Take a nonce, sign and broadcast, all under the address's lock. Returns the signed tx."""
        tx = self._unsigned(account, fn_or_tx, gas)
        nm = self.nonce_manager(account.address)
        with nm.lock:
            for attempt in (1, 2):
                nonce = nm._take_locked()
                signed = self._sign_with_nonce(account, tx, nonce)
                try:
                    self.broadcast(signed)
                except NonceTooLow:
                    if attempt == 2:
                        raise
                    nm._next = None  # someone else used our nonce: re-read it from the chain
                    continue
                nm._commit_locked(nonce)
                return signed
        raise AssertionError("unreachable")

    def release(self, signed: SignedTx) -> None:
        """Give back the nonce of a prepared transaction that will never be broadcast."""
        if signed.sender:
            self.nonce_manager(signed.sender).release(signed)

    # -- broadcasting --------------------------------------------------------------------------------

    def broadcast(self, signed: SignedTx) -> None:
        """Send a signed transaction. Idempotent: if the node already has it (pending or mined),
        nothing is sent and this is a success.

        Raises `NonceTooLow` if the nonce was used by *another* transaction, `ChainUnavailable` if
        the node does not answer, `ChainError` for any other rejection.
        """
        # Checking first is not only cheaper: ganache 7.9.2 re-executes an EIP-1559 transaction that
        # is sent again after it was mined (it skips the nonce check), so never resend a known one.
        if self.transaction_known(signed.tx_hash):
            return
        with translate_errors(self.where):
            try:
                returned = self.w3.eth.send_raw_transaction(signed.raw)
            except _CONNECTION_ERRORS:
                raise
            except Exception as e:
                self._broadcast_failed(signed, e)
                return
        if _hex_hash(returned) != signed.tx_hash:
            raise ChainError(
                f"the node returned hash {_hex_hash(returned)} for transaction {signed.tx_hash}: "
                "it is not the transaction that was signed"
            )

    def _broadcast_failed(self, signed: SignedTx, e: Exception) -> None:
        msg = _error_message(e)
        low = msg.lower()
        if any(s in low for s in _ALREADY_KNOWN):
            return
        if self.transaction_known(signed.tx_hash):
            return
        if any(s in low for s in _NONCE_TOO_LOW):
            raise NonceTooLow(
                f"transaction {signed.tx_hash} was rejected, its nonce {signed.nonce} is already used "
                f"by another transaction of {signed.sender or 'the sender'} (node said: {msg})",
                tx_hash=signed.tx_hash,
                nonce=signed.nonce,
            ) from e
        if isinstance(e, _REVERT_ERRORS):
            raise self._reverted(_revert_data_from_exception(e), [], "transaction reverted") from e
        raise ChainError(f"the node rejected transaction {signed.tx_hash}: {msg}") from e

    # -- receipts and confirmations ------------------------------------------------------------------

    def receipt(self, tx_hash: str) -> Any | None:
        """The receipt of a mined transaction, or None if it is pending or unknown."""
        with translate_errors(self.where):
            try:
                return self.w3.eth.get_transaction_receipt(tx_hash)
            except TransactionNotFound:
                return None
            except Web3RPCError as e:  # some nodes answer "transaction indexing in progress"
                if "indexing" in _error_message(e).lower():
                    return None
                raise ChainError(f"cannot read receipt of {tx_hash}: {_error_message(e)}") from e

    def transaction_known(self, tx_hash: str) -> bool:
        """Whether the node knows the transaction (in its pool or mined)."""
        with translate_errors(self.where):
            try:
                tx = self.w3.eth.get_transaction(tx_hash)
            except TransactionNotFound:
                return False
        return tx is not None

    def wait_for_receipt(self, tx_hash: str, timeout: float | None = None) -> Any:
        """Poll until the transaction is mined; `TransactionTimeout` after ``timeout`` seconds."""
        timeout = self.profile.tx_timeout_s if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            rcpt = self.receipt(tx_hash)
            if rcpt is not None:
                return rcpt
            if time.monotonic() >= deadline:
                raise TransactionTimeout(
                    f"transaction {tx_hash} was not mined within {timeout:g} s; it may still be pending "
                    "(it is safe to broadcast the same signed transaction again)",
                    tx_hash=tx_hash,
                )
            time.sleep(self.profile.poll_interval_s)

    def confirmations_of(self, receipt: Any) -> int:
        """Number of blocks that hold or follow the receipt's block (1 = just mined)."""
        return max(0, self.block_number() - int(receipt["blockNumber"]) + 1)

    def wait_confirmed(
        self,
        tx_hash: str,
        confirmations: int | None = None,
        timeout: float | None = None,
        *,
        abi: Iterable[Mapping[str, Any]] | None = None,
    ) -> Any:
        """Wait until the transaction has ``confirmations`` (default: the profile's) and return its
        receipt. Raises `TransactionReverted` (with the decoded custom error) if it failed."""
        confirmations = self.profile.confirmations if confirmations is None else confirmations
        timeout = self.profile.tx_timeout_s if timeout is None else timeout
        deadline = time.monotonic() + timeout
        rcpt = self.wait_for_receipt(tx_hash, timeout)
        if int(rcpt["status"]) != 1:
            raise self._reverted_receipt(tx_hash, rcpt, abi)
        while self.confirmations_of(rcpt) < confirmations:
            if time.monotonic() >= deadline:
                raise TransactionTimeout(
                    f"transaction {tx_hash} has {self.confirmations_of(rcpt)} of {confirmations} "
                    f"confirmations after {timeout:g} s",
                    tx_hash=tx_hash,
                )
            time.sleep(self.profile.poll_interval_s)
            fresh = self.receipt(tx_hash)  # a reorg may have moved or dropped it
            rcpt = fresh or self.wait_for_receipt(tx_hash, max(0.0, deadline - time.monotonic()))
            if int(rcpt["status"]) != 1:
                raise self._reverted_receipt(tx_hash, rcpt, abi)
        return rcpt

    # -- reverts ---------------------------------------------------------------------------------------

    def _reverted(
        self,
        data: bytes | None,
        abi: Iterable[Mapping[str, Any]],
        what: str,
        *,
        tx_hash: str | None = None,
        receipt: Any = None,
    ) -> TransactionReverted:
        abi = list(abi) or [item for a in self._abis.values() for item in a]
        name, args = decode_revert(data, abi)
        subject = f"{what} {tx_hash}" if tx_hash else what
        return TransactionReverted(
            f"{subject} {_describe_revert(name, args)}",
            error_name=name,
            error_args=args,
            revert_data=data or b"",
            tx_hash=tx_hash,
            receipt=receipt,
        )

    def revert_data(self, tx_hash: str, receipt: Any) -> bytes | None:
        """Replay a failed transaction with eth_call (before its block, then at it) to get the
        revert data; None if the replay does not revert (e.g. it ran out of gas)."""
        with translate_errors(self.where):
            tx = self.w3.eth.get_transaction(tx_hash)
            call: dict[str, Any] = {
                "from": tx["from"],
                "data": tx["input"],
                "value": tx["value"],
                "gas": tx["gas"],
            }
            if tx.get("to"):
                call["to"] = tx["to"]
            block = int(receipt["blockNumber"])
            for at in (block - 1, block):
                if at < 0:
                    continue
                try:
                    self.w3.eth.call(call, at)
                except _REVERT_ERRORS as e:
                    return _revert_data_from_exception(e) or b""
                except Web3RPCError as e:
                    log.debug("replay of %s at block %s failed: %s", tx_hash, at, _error_message(e))
        return None

    def _reverted_receipt(
        self, tx_hash: str, rcpt: Any, abi: Iterable[Mapping[str, Any]] | None
    ) -> TransactionReverted:
        data = self.revert_data(tx_hash, rcpt)
        if abi is None:
            to = rcpt.get("to")
            abi = self._abis.get(str(to).lower(), []) if to else []
        return self._reverted(data, abi, "transaction", tx_hash=tx_hash, receipt=rcpt)

    # -- calls, deployment, funding ---------------------------------------------------------------

    def call(self, fn: Any, block: int | str = "latest") -> Any:
        """Call a contract view function; reverts become a decoded `TransactionReverted`."""
        with translate_errors(self.where):
            try:
                return fn.call(block_identifier=block)
            except _REVERT_ERRORS as e:
                raise self._reverted(_revert_data_from_exception(e), self._abi_of(fn), "call") from e
            except Web3RPCError as e:  # the node answered with an error: ours to report, never a bare 500
                raise ChainError(f"the chain node at {self.where} refused a call: {_error_message(e)}") from e

    def deploy(self, account: LocalAccount, artifact: Mapping[str, Any], *args: Any) -> tuple[str, Any]:
        """Deploy a compiled contract (dict with "abi" and "bytecode"); wait for the profile's
        confirmations; return (checksummed address, receipt)."""
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        signed = self.send(account, factory.constructor(*args))
        rcpt = self.wait_confirmed(signed.tx_hash, abi=artifact["abi"])
        address = rcpt.get("contractAddress")
        if not address:
            raise ChainError(f"deployment {signed.tx_hash} was mined but created no contract")
        address = to_checksum_address(address)
        self.register_abi(address, artifact["abi"])
        return address, rcpt

    def fund_from_dev_account(self, address: str, wei: int) -> Any:
        """Send ``wei`` to ``address`` from the node's unlocked accounts[0] (ganache, eth-tester).
        Development chains only: production chains have no unlocked accounts."""
        with translate_errors(self.where):
            accounts = self.w3.eth.accounts
            if not accounts:
                raise ChainError(
                    f"the chain at {self.where} has no unlocked account to fund {address} from; "
                    "fund it by other means (fund_from_dev_account is for ganache only)"
                )
            try:
                tx_hash = self.w3.eth.send_transaction(
                    {"from": accounts[0], "to": to_checksum_address(address), "value": int(wei)}
                )
            except Web3RPCError as e:
                raise ChainError(f"funding {address} from the dev account failed: {_error_message(e)}") from e
        return self.wait_confirmed(_hex_hash(tx_hash))

    def wait_for_transaction(self, tx_hash: str, timeout: float | None = None) -> Any:
        """web3-compatible alias of `wait_for_receipt`."""
        try:
            return self.wait_for_receipt(tx_hash, timeout)
        except TimeExhausted as e:  # pragma: no cover - defensive
            raise TransactionTimeout(str(e), tx_hash=tx_hash) from e


# --------------------------------------------------------------------------------------------------
# verifier adapter


def _block_param(tag: Any) -> int | str:
    """A JSON-RPC block parameter ("0x1a" or a tag) as web3 takes it."""
    if isinstance(tag, str) and tag.startswith("0x"):
        return int(tag, 16)
    return tag


class ReaderChainUnavailable(ChainUnavailable, verifier_errors.ChainUnavailable):
    """Chain unreachable, catchable both as anchor's and as the verifier's ChainUnavailable."""


class ReaderCallReverted(TransactionReverted, verifier_errors.VerifierError):
    """An eth_call reverted (also a VerifierError, so the verifier handles it as its own)."""


class ReaderRPCError(ChainError, verifier_errors.VerifierError):
    """The node answered a read with a JSON-RPC error."""


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
        connection failures raise the verifier's ChainUnavailable (ReaderChainUnavailable)."""
        return [self._one(method, list(params)) for method, params in calls]

    def _one(self, method: str, params: list[Any]) -> Any:
        try:
            with self._guard_batch():
                return self._answer(method, params)
        except Web3RPCError as e:
            rpc = getattr(e, "rpc_response", None)
            err = rpc.get("error") if isinstance(rpc, Mapping) else None
            code = err.get("code") if isinstance(err, Mapping) else None
            return verifier_errors.RpcCallError(method, code, _error_message(e))
        except _REVERT_ERRORS as e:
            raw = _revert_data_from_exception(e) or b""
            name, args = decode_revert(raw)
            message = f"execution {_describe_revert(name, args)}"
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
            return {"hash": _hex_hash(block["hash"]), "number": hex(int(block["number"]))}
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
        except _CONNECTION_ERRORS as e:
            raise ReaderChainUnavailable(f"chain node {self.endpoint} does not answer ({type(e).__name__})") from e

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except _CONNECTION_ERRORS as e:
            raise ReaderChainUnavailable(f"chain node does not answer ({type(e).__name__})") from e
        except Web3RPCError as e:
            raise ReaderRPCError(f"JSON-RPC error: {_error_message(e)}") from e

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
            except _REVERT_ERRORS as e:
                raw = _revert_data_from_exception(e) or b""
                name, args = decode_revert(raw)
                raise ReaderCallReverted(
                    f"call to {to} {_describe_revert(name, args)}",
                    error_name=name,
                    error_args=args,
                    revert_data=raw,
                ) from e


__all__ = [
    "ChainClient",
    "NonceManager",
    "ReaderCallReverted",
    "ReaderChainUnavailable",
    "ReaderRPCError",
    "SignedTx",
    "Web3ChainReader",
    "check_chain",
    "connect",
    "decode_revert",
    "translate_errors",
]
