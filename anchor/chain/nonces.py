"""Nonces: web3.py does not serialise them, so every (client, address) pair has one `NonceManager`.

Its lock is held while a nonce is taken and, for `ChainClient.send`, while the transaction is
broadcast. The anchorer persists a signed transaction *before* broadcasting it, so it uses the split
API: `ChainClient.prepare` (reserve a nonce and sign) then `ChainClient.broadcast` (idempotent).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_utils import to_checksum_address

from anchor.chain.transport import translate_errors

if TYPE_CHECKING:
    from anchor.chain.client import ChainClient


@dataclass(frozen=True)
class SignedTx:
    """A locally signed transaction: what the anchorer stores before broadcasting."""

    raw: bytes
    tx_hash: str  # 0x-prefixed, lower case
    nonce: int
    sender: str | None = None

    def __repr__(self) -> str:  # the raw bytes are not secret, just long
        return f"SignedTx(tx_hash={self.tx_hash}, nonce={self.nonce}, sender={self.sender})"


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


__all__ = ["NonceManager", "SignedTx"]
