"""Every exception the anchor package raises: one root, `LedgerError`, and all its kinds in this module.

Every message says what went wrong *and* what the operator can do about it. None of them ever
contains key material or passwords. The node's errors (node/core/errors.py) derive from `LedgerError`
too, through their own root `NodeError`; the HTTP status of each class is decided there, in one table.
"""

from __future__ import annotations

from typing import Any

from verifier import errors as verifier_errors
from verifier.errors import ChainUnavailable as _VerifierChainUnavailable


class LedgerError(Exception):
    """Base class of every error archive-ledger raises on purpose."""


class ProfileError(LedgerError):
    """A chain profile is missing, unreadable or inconsistent."""


class KeystoreError(LedgerError):
    """The signing keystore cannot be created, read or decrypted."""


class ChainError(LedgerError):
    """Talking to the chain failed (wrong chain, rejected transaction, ...)."""


class ChainUnavailable(ChainError, _VerifierChainUnavailable):
    """The chain node does not answer (connection refused, timeout, node down).

    The one ChainUnavailable of the node: it *is* the verifier's (which stands alone and declares its
    own), so an outage caught by either package's name is the same outage."""


class NonceTooLow(ChainError):
    """The node rejected a transaction because its nonce was already used by another transaction.

    For a prepared (persisted) transaction this usually means either that *this* transaction was
    already mined (check its receipt) or that another transaction from the same key took the nonce.
    """

    def __init__(self, message: str, *, tx_hash: str | None = None, nonce: int | None = None) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash
        self.nonce = nonce


class TransactionTimeout(ChainError):
    """A transaction was not mined or not confirmed within the allowed time."""

    def __init__(self, message: str, *, tx_hash: str | None = None) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class TransactionReverted(ChainError):
    """A transaction (or a call) reverted.

    ``error_name`` is the Solidity custom error (e.g. ``"EmptyCheckpoint"``), ``"Error"`` for a
    ``require(..., "reason")`` string, ``"Panic"`` for an assert/overflow, or ``None`` if the revert
    data could not be decoded. ``args`` holds the decoded arguments (a tuple), ``revert_data`` the raw
    bytes returned by the EVM.
    """

    def __init__(
        self,
        message: str,
        *,
        error_name: str | None = None,
        error_args: tuple[Any, ...] = (),
        revert_data: bytes = b"",
        tx_hash: str | None = None,
        receipt: Any = None,
    ) -> None:
        super().__init__(message)
        self.error_name = error_name
        # ``Exception.args`` normally holds the constructor arguments; here it is the decoded
        # arguments of the custom error, as the anchorer expects (e.g. ``args[1]`` = latestSize).
        self.args = tuple(error_args)
        self.revert_data = revert_data
        self.tx_hash = tx_hash
        self.receipt = receipt
        self._message = message

    def __str__(self) -> str:
        return self._message


class ReaderCallReverted(TransactionReverted, verifier_errors.VerifierError):
    """An eth_call through the verifier's adapter reverted (also a VerifierError, so the verifier
    handles it as its own; anchor/chain/reader.py)."""


class ReaderRPCError(ChainError, verifier_errors.VerifierError):
    """The chain node answered a read of the verifier's adapter with a JSON-RPC error."""


class LogNotFound(LedgerError):
    """No log is known under this id or fonds code (anchor/log.py)."""


class TreeSizeError(LedgerError):
    """A size or index outside what the log holds (anchor/log.py)."""


class NotAnchoredYet(LedgerError):
    """The record is in the log but no confirmed checkpoint covers it yet (anchor/bundles.py)."""


class AnchorBusy(LedgerError):
    """Another process holds the anchoring lease for this database (anchor/anchorer.py)."""


class LogDiverged(LedgerError):
    """The chain holds a checkpoint for a log that our database cannot reproduce (anchor/anchorer.py)."""


__all__ = [
    "AnchorBusy",
    "ChainError",
    "ChainUnavailable",
    "KeystoreError",
    "LedgerError",
    "LogDiverged",
    "LogNotFound",
    "NonceTooLow",
    "NotAnchoredYet",
    "ProfileError",
    "ReaderCallReverted",
    "ReaderRPCError",
    "TransactionReverted",
    "TransactionTimeout",
    "TreeSizeError",
]
