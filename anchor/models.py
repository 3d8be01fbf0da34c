"""Tables of the Merkle log and of anchoring. The node's own tables live in node/models.py."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from anchor.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """A stored time as an aware UTC datetime: SQLite hands back naive datetimes, and every time we
    store is UTC. The one helper for this (node services use it too)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso_utc(value: datetime | None) -> str | None:
    """A stored time (or None) as ISO 8601 in UTC, for JSON views."""
    return None if value is None else as_utc(value).isoformat()


class Log(Base):
    """One append-only log per fonds; `size` is the number of leaves appended so far."""

    __tablename__ = "logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log_id: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    fonds_code: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LogEntry(Base):
    """A record appended to a log, kept as its canonical bytes so it can be served verbatim."""

    __tablename__ = "log_entries"

    log_pk: Mapped[int] = mapped_column(ForeignKey("logs.id"), primary_key=True)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    record: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    type: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[str | None] = mapped_column(String(64), index=True)


class MerkleNode(Base):
    """Hash of a perfect aligned subtree: leaves [index * 2**level, (index + 1) * 2**level)."""

    __tablename__ = "merkle_nodes"

    log_pk: Mapped[int] = mapped_column(ForeignKey("logs.id"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class CheckpointStatus(enum.StrEnum):
    PENDING = "PENDING"
    SUBMITTED = "SUBMITTED"
    CONFIRMED = "CONFIRMED"


class SubmissionStatus(enum.StrEnum):
    SUBMITTED = "SUBMITTED"
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"


class Submission(Base):
    """One signed transaction carrying one or more checkpoints (anchorMany).

    The raw signed bytes are stored before broadcasting so a crash after signing can resend the
    very same transaction (same nonce, same hash) instead of creating a second one.
    """

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    raw_tx: Mapped[bytes | None] = mapped_column(LargeBinary)
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    sender: Mapped[str | None] = mapped_column(String(42))
    chain_id: Mapped[int] = mapped_column(BigInteger)
    contract: Mapped[str] = mapped_column(String(42))
    status: Mapped[SubmissionStatus] = mapped_column(Enum(SubmissionStatus, native_enum=False))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    # Hash of the block that mined it, kept once confirmed: a different hash at that height later means
    # the chain replaced the block (reorg, reset, restored validators), so the anchor may be lost.
    block_hash: Mapped[str | None] = mapped_column(String(66))
    gas_used: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Checkpoint(Base):
    """(log, tree_size, root); anchored when its submission is confirmed on chain."""

    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("log_pk", "tree_size"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log_pk: Mapped[int] = mapped_column(ForeignKey("logs.id"), index=True)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    previous_size: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[CheckpointStatus] = mapped_column(Enum(CheckpointStatus, native_enum=False))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    log: Mapped[Log] = relationship()
    submission: Mapped[Submission | None] = relationship()


class ChainRollback(Base):
    """Confirmed checkpoints of a log the chain no longer holds, noticed by the anchorer's reconcile.

    The lost checkpoints go back to PENDING and are anchored again at the same sizes; `reanchored_at`
    is set once none of the log's checkpoints is left waiting."""

    __tablename__ = "chain_rollbacks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log_pk: Mapped[int] = mapped_column(ForeignKey("logs.id"), index=True)
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    chain_size: Mapped[int] = mapped_column(BigInteger)  # the contract's head for the log when noticed
    lost_sizes: Mapped[str] = mapped_column(Text)  # comma-separated tree sizes
    lost_count: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    tx_hashes: Mapped[str] = mapped_column(Text)  # comma-separated transactions that were lost
    reanchored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    log: Mapped[Log] = relationship()


class Lease(Base):
    """A named lock with an expiry, so only one anchoring writer runs per node database."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
