"""The node's own tables. They share anchor.db.Base, so one Alembic history covers everything."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from anchor.db import Base
from anchor.models import utcnow


class Item(Base):
    """An archived item (件): its file is a blob named by content_sha256; its record is a log leaf."""

    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_dedupe", "fonds_code", "content_sha256", "source_path"),
        Index("ix_items_arrangement", "fonds_code", "category", "year"),
        Index("ix_items_created", "created_at", "id"),  # newest first (request form, extraction's queue)
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    fonds_code: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(1000))
    category: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    retention: Mapped[str] = mapped_column(String(16))
    archival_code: Mapped[str | None] = mapped_column(String(128), unique=True)
    metadata_json: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str | None] = mapped_column(String(1000))
    source_path: Mapped[str] = mapped_column(String(2000), default="")
    log_pk: Mapped[int] = mapped_column(ForeignKey("logs.id"))
    leaf_index: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """An integrator's API key; only its SHA-256 is stored (the key itself has 256 random bits)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    actions: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of actions (node/core/roles.py)
    fonds: Mapped[str | None] = mapped_column(Text)  # JSON list of fonds codes; NULL: every fonds
    created_by: Mapped[str | None] = mapped_column(String(32))  # user id; NULL: made by `init`


# -- lending (issue 3): loans, the items they cover, the permits granted on chain for them ------------


class LoanStatus(enum.StrEnum):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    RETURNED = "RETURNED"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    RENEWED = "RENEWED"  # superseded by its approved renewal (a loan with `renewal_of` = this one)


class Loan(Base):
    """A borrower's request for items, for a purpose and a period; decided by an approver."""

    __tablename__ = "loans"
    __table_args__ = (Index("ix_loans_status", "status", "requested_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    borrower_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[LoanStatus] = mapped_column(Enum(LoanStatus, native_enum=False, length=16))
    reason: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(32))
    approver_address: Mapped[str | None] = mapped_column(String(42))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_by: Mapped[str | None] = mapped_column(String(32))
    # A renewal (续借) is a loan of its own, asked for by the borrower of an approved loan: same items and
    # purpose, a later end; approved like any request, it supersedes the loan it renews (status RENEWED).
    renewal_of: Mapped[str | None] = mapped_column(ForeignKey("loans.id"), index=True)
    renewal_reason: Mapped[str | None] = mapped_column(Text)


class LoanItem(Base):
    """One item of a loan; `medium` is "physical" for records lent on paper (a slip, no content)."""

    __tablename__ = "loan_items"

    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True, index=True)
    medium: Mapped[str] = mapped_column(String(16), default="digital")


class PermitRow(Base):
    """A read permit relayed to ReadPermits for one item of an approved loan, and its certificate."""

    __tablename__ = "permits"
    __table_args__ = (Index("ix_permits_loan_item", "loan_id", "item_id"),)

    permit_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # hex, no 0x
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"))
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"))
    log_id: Mapped[str] = mapped_column(String(64))
    item_key: Mapped[str] = mapped_column(String(64))
    grantee: Mapped[str] = mapped_column(String(64))
    not_before: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    signer: Mapped[str] = mapped_column(String(42))
    signature: Mapped[str] = mapped_column(Text)
    contract: Mapped[str] = mapped_column(String(42))
    chain_id: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    block_number: Mapped[int] = mapped_column(BigInteger)
    revoke_tx_hash: Mapped[str | None] = mapped_column(String(66))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    certificate_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# -- users, roles, tokens, audit (issue 3) ---------------------------------------------------------


class User(Base):
    """A person: argon2id password hash, and (for officers and approvers) an encrypted chain key."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(32))
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    chain_address: Mapped[str | None] = mapped_column(String(42))
    chain_keystore: Mapped[str | None] = mapped_column(Text)  # Web3 Secret Storage JSON, scrypt(password)
    # After a reset by the system admin: "pending" (no login until the security admin confirms), then
    # "must_change" (the user's token may only change the password); None otherwise.
    password_reset_state: Mapped[str | None] = mapped_column(String(16))


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    granted_by: Mapped[str | None] = mapped_column(String(32))


class AuthToken(Base):
    """A login session: only the SHA-256 of the bearer token is stored."""

    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OfficerProposal(Base):
    """An officer role change proposed by one officer, applied when another officer confirms it."""

    __tablename__ = "officer_proposals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    target_user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(32))
    change: Mapped[str] = mapped_column(String(8))  # "grant" | "revoke"
    status: Mapped[str] = mapped_column(String(16), default="PENDING")  # PENDING | CONFIRMED | CANCELLED
    proposed_by: Mapped[str] = mapped_column(String(32))
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    confirmed_by: Mapped[str | None] = mapped_column(String(32))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """One audit event, hash-chained: hash = SHA-256(prev_hash || RFC 8785 bytes of the event).

    `log_fonds`/`leaf_index` locate its `audit.event` record in the Merkle log (NULL leaf_index:
    not sealed into the log yet, see node/audit/service.py)."""

    __tablename__ = "audit_events"
    __table_args__ = (  # the trail's filters, newest first, without sorting every matching event
        Index("ix_audit_events_action_seq", "action", "seq"),
        Index("ix_audit_events_principal_seq", "principal_id", "seq"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    time: Mapped[str] = mapped_column(String(32), index=True)
    principal_kind: Mapped[str | None] = mapped_column(String(16))
    principal_id: Mapped[str | None] = mapped_column(String(64), index=True)
    principal_name: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(500))
    outcome: Mapped[str] = mapped_column(String(16))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    details_json: Mapped[str] = mapped_column(Text, default="{}")
    fonds: Mapped[str | None] = mapped_column(String(64))
    log_fonds: Mapped[str] = mapped_column(String(80))
    leaf_index: Mapped[int | None] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


# -- filing of transfer packages (issue 4): packages, item check reports, reference-code counters ---


class Package(Base):
    """A transfer package received for filing, with its four-properties check report.

    `digest` identifies the package's content (node/filing/service.py: SHA-256 of the canonical manifest of
    what was received); `filed_digest` is set only when it was FILED, and is unique: a package is
    never filed twice, while a REJECTED one may be sent again (corrected or not) and checked again."""

    __tablename__ = "packages"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    filed_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))  # FILED | REJECTED
    fonds: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of the fonds codes of its items
    item_count: Mapped[int] = mapped_column(Integer)
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    report_json: Mapped[str] = mapped_column(Text)
    report_sha256: Mapped[str] = mapped_column(String(64))
    submitted_by: Mapped[str | None] = mapped_column(String(200))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class ItemCheck(Base):
    """The check report of a filed item; its SHA-256 is `checks_sha256` in the item's ledger record."""

    __tablename__ = "item_checks"

    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True)
    package_id: Mapped[str] = mapped_column(ForeignKey("packages.id"), index=True)
    report_json: Mapped[str] = mapped_column(Text)
    report_sha256: Mapped[str] = mapped_column(String(64))


class FilingJob(Base):
    """A transfer package uploaded through the web UI, checked and filed by a background worker
    (node/filing/jobs.py). Progress lives here so a reload (or another tab) sees it; a job a restart
    interrupted is marked FAILED (`job_interrupted`) at the next start, its upload removed."""

    __tablename__ = "filing_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # QUEUED | RUNNING | DONE | FAILED
    stage: Mapped[str] = mapped_column(String(16))  # queued | opening | checking | filing | done
    name: Mapped[str] = mapped_column(String(500))
    size: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes received
    items_total: Mapped[int] = mapped_column(Integer, default=0)
    items_checked: Mapped[int] = mapped_column(Integer, default=0)
    package_id: Mapped[str | None] = mapped_column(String(32))  # the package row (FILED or REJECTED), when done
    duplicate: Mapped[bool] = mapped_column(Boolean, default=False)  # the same package was filed before
    reason: Mapped[str | None] = mapped_column(String(64))  # a FAILED job's reason code
    message: Mapped[str | None] = mapped_column(Text)
    principal_kind: Mapped[str] = mapped_column(String(16))
    principal_id: Mapped[str] = mapped_column(String(64), index=True)
    principal_name: Mapped[str] = mapped_column(String(200))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DedupeKey(Base):
    """Duplicate-check keys of filed items (document number, title+date per fonds), by SHA-256 of the key."""

    __tablename__ = "item_dedupe_keys"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True)


class RefcodeCounter(Base):
    """The highest item number issued in one numbering scope of a reference-code rule (never goes down)."""

    __tablename__ = "refcode_counters"

    scope: Mapped[str] = mapped_column(String(400), primary_key=True)  # JSON list of the rule's scope values
    fonds_code: Mapped[str] = mapped_column(String(64), index=True)
    last_number: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# -- arrangement (件/卷/盒), metadata versions, long-term preservation checks (issue 4) ---------------


class Box(Base):
    """A box (盒): holds items and volumes of one fonds; where it stands in the storeroom."""

    __tablename__ = "boxes"
    __table_args__ = (UniqueConstraint("fonds_code", "code", name="uq_boxes_fonds_code"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    fonds_code: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(128))
    storeroom: Mapped[str] = mapped_column(String(200), default="")
    shelf: Mapped[str] = mapped_column(String(100), default="")
    position: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Volume(Base):
    """A volume (卷): items of one fonds arranged together; it may sit in a box."""

    __tablename__ = "volumes"
    __table_args__ = (Index("ix_volumes_arrangement", "fonds_code", "category", "year"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    fonds_code: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    retention: Mapped[str] = mapped_column(String(16))
    archival_code: Mapped[str | None] = mapped_column(String(128), unique=True)
    title: Mapped[str] = mapped_column(String(1000))
    box_id: Mapped[str | None] = mapped_column(ForeignKey("boxes.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ItemPlacement(Base):
    """Where an item is arranged now: its volume and/or box (no row: not arranged yet)."""

    __tablename__ = "item_placements"

    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True)
    volume_id: Mapped[str | None] = mapped_column(ForeignKey("volumes.id"), index=True)
    box_id: Mapped[str | None] = mapped_column(ForeignKey("boxes.id"), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ArrangementRecord(Base):
    """One `item.arranged` / `volume.arranged` record of the log: the arrangement object whose digest
    is the record's metadata_sha256, so the arrangement history is provable."""

    __tablename__ = "arrangement_records"
    __table_args__ = (Index("ix_arrangement_records_subject", "subject_kind", "subject_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16))  # "item" | "volume"
    subject_id: Mapped[str] = mapped_column(String(32))
    fonds_code: Mapped[str] = mapped_column(String(64))
    arrangement_json: Mapped[str] = mapped_column(Text)
    metadata_sha256: Mapped[str] = mapped_column(String(64))
    leaf_index: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))


class ItemVersion(Base):
    """A version of an item's metadata: 1 is the ingest record's, later ones `item.metadata_updated`
    records. Each version's record stays in the log and provable; nothing is overwritten."""

    __tablename__ = "item_versions"

    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    record_type: Mapped[str] = mapped_column(String(64))
    metadata_json: Mapped[str] = mapped_column(Text)
    metadata_sha256: Mapped[str] = mapped_column(String(64))
    leaf_index: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))


class PreservationRun(Base):
    """One pass of the long-term preservation checks; its report's digest is a `preservation.run` record."""

    __tablename__ = "preservation_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16))  # "schedule" | "manual"
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    items_checked: Mapped[int] = mapped_column(Integer, default=0)
    bytes_checked: Mapped[int] = mapped_column(BigInteger, default=0)
    alerts: Mapped[int] = mapped_column(Integer, default=0)
    cycle_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    report_json: Mapped[str] = mapped_column(Text, default="{}")
    report_sha256: Mapped[str | None] = mapped_column(String(64))


class PreservationAlert(Base):
    """A difference found by a preservation run (hash, record, usability), open until resolved."""

    __tablename__ = "preservation_alerts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("preservation_runs.id"), index=True)
    item_id: Mapped[str | None] = mapped_column(ForeignKey("items.id"), index=True)
    fonds_code: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    expected: Mapped[str | None] = mapped_column(String(200))
    actual: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PreservationItem(Base):
    """The last preservation check of an item: the baseline a usability change is measured against."""

    __tablename__ = "preservation_items"

    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    content_ok: Mapped[bool] = mapped_column(Boolean)
    format: Mapped[str | None] = mapped_column(String(32))
    usable: Mapped[bool | None] = mapped_column(Boolean)  # None: no parser for the format
    message: Mapped[str] = mapped_column(Text, default="")


class PreservationState(Base):
    """Named values of the preservation job (the resumable cursor: the last item id checked)."""

    __tablename__ = "preservation_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)


# -- search (issue 10): the text extracted from each item, kept so the index can be rebuilt --------------


class TextStatus(enum.StrEnum):
    PENDING = "pending"  # queued: the extraction job has not reached it yet
    DONE = "done"  # text extracted (possibly empty: a file with no words)
    SKIPPED = "skip"  # nothing to extract with (unknown format, or OCR not installed: `message` says how)
    FAILED = "failed"  # the extractor failed or hit a bound (pages, pixels, time): `message` says which


class ItemText(Base):
    """The full text of an item as extracted (text layer, OCR or markup): derived data, re-creatable from
    the blob, stored with its SHA-256 so the search index can be rebuilt without re-extracting."""

    __tablename__ = "item_texts"

    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=TextStatus.PENDING, index=True)
    method: Mapped[str | None] = mapped_column(String(32))  # e.g. "pdf-text", "ocr", "ofd", "docx", "txt"
    text: Mapped[str] = mapped_column(Text, default="")
    text_sha256: Mapped[str | None] = mapped_column(String(64))
    pages: Mapped[int] = mapped_column(Integer, default=0)
    ocr_pages: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    extracted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
