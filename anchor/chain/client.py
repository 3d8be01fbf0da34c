"""Chain client: web3.py for reads, eth-account for local signing, our own nonce management.

One `ChainClient` per chain profile. Transactions are always signed locally (EIP-155: the chain id
comes from the profile, and `connect` refuses a node whose chain id differs) and sent raw.
The parts live beside it: `transport` (connection, network failures as `ChainUnavailable`),
`nonces` (one `NonceManager` per address), `reverts` (revert decoding), `contracts` (the wrappers of
ArchiveAnchor, ArchiveRoles and ReadPermits), `reader` (the verifier's adapter) and `dev`
(development-chain helpers, never used against a production chain).

Every network failure (connection refused, timeout) becomes `ChainUnavailable`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import BlockNotFound, TimeExhausted, TransactionNotFound, Web3RPCError

from anchor.chain.nonces import NonceManager, SignedTx
from anchor.chain.reverts import REVERT_ERRORS, decode_revert, describe_revert, revert_data_from_exception
from anchor.chain.transport import (
    CONNECTION_ERRORS,
    check_chain,
    connect,
    error_message,
    hex_hash,
    translate_errors,
)
from anchor.errors import ChainError, NonceTooLow, TransactionReverted, TransactionTimeout
from anchor.profiles import ChainProfile

log = logging.getLogger(__name__)

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
                raise ChainError(f"the chain node at {self.where} refused block {number}: {error_message(e)}") from e
        return hex_hash(block["hash"]) if block is not None else None

    def events(self, event: Any, from_block: int, to_block: int, argument_filters: Mapping[str, Any]) -> list[Any]:
        """The logs of a contract event (``contract.events.X()``) in a block range."""
        with translate_errors(self.where):
            try:
                return list(
                    event.get_logs(from_block=from_block, to_block=to_block, argument_filters=dict(argument_filters))
                )
            except Web3RPCError as e:
                raise ChainError(f"the chain node at {self.where} refused a log query: {error_message(e)}") from e

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
            except REVERT_ERRORS as e:
                raise self._reverted(revert_data_from_exception(e), abi, "transaction would revert") from e
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
            tx_hash=hex_hash(signed.hash),
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
            except CONNECTION_ERRORS:
                raise
            except Exception as e:
                self._broadcast_failed(signed, e)
                return
        if hex_hash(returned) != signed.tx_hash:
            raise ChainError(
                f"the node returned hash {hex_hash(returned)} for transaction {signed.tx_hash}: "
                "it is not the transaction that was signed"
            )

    def _broadcast_failed(self, signed: SignedTx, e: Exception) -> None:
        msg = error_message(e)
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
        if isinstance(e, REVERT_ERRORS):
            raise self._reverted(revert_data_from_exception(e), [], "transaction reverted") from e
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
                if "indexing" in error_message(e).lower():
                    return None
                raise ChainError(f"cannot read receipt of {tx_hash}: {error_message(e)}") from e

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
            f"{subject} {describe_revert(name, args)}",
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
                except REVERT_ERRORS as e:
                    return revert_data_from_exception(e) or b""
                except Web3RPCError as e:
                    log.debug("replay of %s at block %s failed: %s", tx_hash, at, error_message(e))
        return None

    def _reverted_receipt(
        self, tx_hash: str, rcpt: Any, abi: Iterable[Mapping[str, Any]] | None
    ) -> TransactionReverted:
        data = self.revert_data(tx_hash, rcpt)
        if abi is None:
            to = rcpt.get("to")
            abi = self._abis.get(str(to).lower(), []) if to else []
        return self._reverted(data, abi, "transaction", tx_hash=tx_hash, receipt=rcpt)

    # -- calls and deployment --------------------------------------------------------------------

    def call(self, fn: Any, block: int | str = "latest") -> Any:
        """Call a contract view function; reverts become a decoded `TransactionReverted`."""
        with translate_errors(self.where):
            try:
                return fn.call(block_identifier=block)
            except REVERT_ERRORS as e:
                raise self._reverted(revert_data_from_exception(e), self._abi_of(fn), "call") from e
            except Web3RPCError as e:  # the node answered with an error: ours to report, never a bare 500
                raise ChainError(f"the chain node at {self.where} refused a call: {error_message(e)}") from e

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

    def wait_for_transaction(self, tx_hash: str, timeout: float | None = None) -> Any:
        """web3-compatible alias of `wait_for_receipt`."""
        try:
            return self.wait_for_receipt(tx_hash, timeout)
        except TimeExhausted as e:  # pragma: no cover - defensive
            raise TransactionTimeout(str(e), tx_hash=tx_hash) from e


__all__ = ["ChainClient"]
