"""Read permits on chain: the check made on every content fetch, and the node's relay of grants and
revocations to `ReadPermits`.

The check (`PermitCache.check`) asks the chain `isValid(permitId, now)`, with a cache keyed by
(permitId, block number): an answer is reused only while the chain head is still the block it was
read at, so each fetch costs one `eth_blockNumber` and a revocation is seen at most one block late
(in practice at the first fetch after the revoking block is mined). Expiry and not-before are also
checked locally against the permit's own times, so a permit ends at `expiresAt` even when the chain
head does not move (a dev chain mines only on transactions) and without any transaction at all.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from anchor import eip712
from anchor.chain.contracts import permit_view  # the one getPermit -> JSON view (re-exported here)
from anchor.eip712 import Permit
from anchor.errors import ChainUnavailable


@dataclass(frozen=True)
class Relayed:
    """A transaction the node relayed and saw confirmed."""

    tx_hash: str
    block_number: int


class PermitLedger(Protocol):
    """What the node needs of the ReadPermits contract (real: `ChainPermits`; tests: a fake)."""

    def block_number(self) -> int: ...

    def is_valid(self, permit_id: bytes, at: int, block: int | str = "latest") -> bool: ...

    def permit_id(self, permit: Permit) -> bytes: ...

    def sign_permit(self, account: Any, permit: Permit) -> bytes: ...

    def sign_revoke(self, account: Any, permit_id: bytes) -> bytes: ...

    def grant_many(self, grants: Sequence[tuple[Permit, bytes]]) -> list[Relayed]: ...

    def revoke(self, permit_id: bytes, signature: bytes) -> Relayed: ...

    def get_permit(self, permit_id: bytes) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PermitCheck:
    allowed: bool
    reason: str  # "valid", "not_yet_valid", "expired", "revoked_or_invalid", "chain_unavailable"
    block: int | None
    cached: bool


class PermitCache:
    """`isValid` answers cached per (permitId, block number), bounded in size.

    `check` makes exactly one `eth_blockNumber` call per fetch (plus one `isValid` call when the head
    moved or the permit was not asked about at this head). Thread-safe."""

    def __init__(
        self,
        ledger: PermitLedger,
        *,
        clock: Callable[[], float] = time.time,
        max_entries: int = 10_000,
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.max_entries = max_entries
        self._answers: OrderedDict[bytes, tuple[int, bool]] = OrderedDict()  # permitId -> (block, valid)
        self._lock = threading.Lock()
        self.chain_calls = 0  # isValid calls made (for tests and the benchmark)

    def check(self, permit_id: bytes, not_before: int, expires_at: int, *, now: float | None = None) -> PermitCheck:
        now = self.clock() if now is None else now
        if now >= expires_at:  # local: expiry needs neither a transaction nor a new block
            return PermitCheck(False, "expired", None, False)
        if now < not_before:
            return PermitCheck(False, "not_yet_valid", None, False)
        try:
            head = self.ledger.block_number()
        except ChainUnavailable:
            return PermitCheck(False, "chain_unavailable", None, False)
        with self._lock:
            hit = self._answers.get(permit_id)
            if hit is not None and hit[0] == head:
                self._answers.move_to_end(permit_id)
                return PermitCheck(hit[1], "valid" if hit[1] else "revoked_or_invalid", head, True)
        try:
            valid = bool(self.ledger.is_valid(permit_id, int(now), head))
        except ChainUnavailable:
            return PermitCheck(False, "chain_unavailable", head, False)
        with self._lock:
            self.chain_calls += 1
            self._answers[permit_id] = (head, valid)
            self._answers.move_to_end(permit_id)
            while len(self._answers) > self.max_entries:
                self._answers.popitem(last=False)
        return PermitCheck(valid, "valid" if valid else "revoked_or_invalid", head, False)

    def forget(self, permit_id: bytes) -> None:
        """Drop a cached answer (the node calls it after relaying a revocation itself)."""
        with self._lock:
            self._answers.pop(permit_id, None)


class ChainPermits:
    """`PermitLedger` over the node's chain client: reads with web3, signs EIP-712 with
    anchor.eip712, relays with the node's anchoring account (any sender may relay)."""

    def __init__(self, client: Any, relay_account: Any, address: str, *, confirmations: int | None = None) -> None:
        from contracts import load_artifact

        self.client = client
        self.account = relay_account
        self.address = address
        self.artifact = load_artifact("ReadPermits")
        self.contract = client.contract(address, self.artifact)
        self.confirmations = confirmations

    # -- typed data ---------------------------------------------------------------------------------
    def permit_id(self, permit: Permit) -> bytes:
        return bytes(eip712.permit_id(permit))

    def sign_permit(self, account: Any, permit: Permit) -> bytes:
        return bytes(eip712.sign_permit(account, permit, self.client.chain_id, self.address))

    def sign_revoke(self, account: Any, permit_id: bytes) -> bytes:
        return bytes(eip712.sign_revoke(account, permit_id, self.client.chain_id, self.address))

    # -- reads ------------------------------------------------------------------------------------------
    def block_number(self) -> int:
        return self.client.block_number()

    def is_valid(self, permit_id: bytes, at: int, block: int | str = "latest") -> bool:
        return bool(self.client.call(self.contract.functions.isValid(permit_id, int(at)), block))

    def get_permit(self, permit_id: bytes) -> dict[str, Any]:
        return permit_view(self.client.call(self.contract.functions.getPermit(permit_id)), self.artifact)

    # -- relay ------------------------------------------------------------------------------------------
    def grant_many(self, grants: Sequence[tuple[Permit, bytes]]) -> list[Relayed]:
        """Send every grant, then wait for all: the transactions share blocks where the chain allows."""
        sent = [self.client.send(self.account, self.contract.functions.grant(p.as_tuple(), sig)) for p, sig in grants]
        out = []
        for signed in sent:
            rcpt = self.client.wait_confirmed(signed.tx_hash, self.confirmations, abi=self.artifact["abi"])
            out.append(Relayed(signed.tx_hash, int(rcpt["blockNumber"])))
        return out

    def revoke(self, permit_id: bytes, signature: bytes) -> Relayed:
        signed = self.client.send(self.account, self.contract.functions.revoke(permit_id, signature))
        rcpt = self.client.wait_confirmed(signed.tx_hash, self.confirmations, abi=self.artifact["abi"])
        return Relayed(signed.tx_hash, int(rcpt["blockNumber"]))


__all__ = [
    "ChainPermits",
    "PermitCache",
    "PermitCheck",
    "PermitLedger",
    "Relayed",
    "permit_view",
]
