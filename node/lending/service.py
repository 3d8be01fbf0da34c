"""Loans: a borrower asks for items with a purpose and a period, an approver decides, the permit goes on
chain, and content is served only while a loan is APPROVED *and* its permit is valid on chain.

States (`LoanStatus`)::

    REQUESTED --approve--> APPROVED --return--> RETURNED
        |                      |----revoke--> REVOKED
        +--reject (reason)--> REJECTED        |----(expires_at passes)--> EXPIRED
                                              +--its renewal approved--> RENEWED

EXPIRED needs no action: a loan is reported EXPIRED as soon as `expires_at` has passed (the stored
status catches up the next time the loan is written), and the permit check refuses on its own.

Choices (see docs/design.md, "Lending"):
- Approval is idempotent on chain. The permit's fields come from the loan as requested (fixed times,
  fixed pseudonyms), so its permitId is fixed; a second approve after a crash between the relay and
  the commit re-sends an identical permit, which the contract takes as a no-op. The relay runs outside
  any database transaction (the chain is slow compared with SQLite's single writer); the loan turns
  APPROVED only if it is still REQUESTED when the result is written.
- Separation of duties: the approver is never the borrower; the approver signs with their own chain
  key (unlocked in memory for this one request from their keystore, or a signature made client-side);
  the node's anchoring key only relays, and the contract checks that the signer is an APPROVER of
  the fonds' log.
- Return: the borrower ends the loan early; the node marks it RETURNED and refuses content at once,
  whatever the chain says (the node is the only content server, so that is safe). The permit stays
  on chain until it expires or an approver / security admin revokes it (revoke is allowed on a
  RETURNED loan for that purpose; the status stays RETURNED).
- Revoke: the node marks the loan REVOKED *first* (access ends at once), then relays the signed
  revocations; if the chain is down, the loan stays REVOKED and a second revoke call relays what
  is missing.
- Renewal (续借, `renew`): the borrower of an APPROVED loan asks for a later end with a reason. The renewal
  is a loan of its own (`renewal_of` = the renewed loan; same items and purpose; from now to the old end plus
  the days asked), decided like any request: the permit's fields (times, loanId) are fixed per loan, so a
  later end needs a new permit, and a new loan is the smallest design that gives one. On approval the
  renewed loan becomes RENEWED (the node refuses content through it at once; its permit stays on chain
  until it expires or is revoked, as for RETURNED). One pending renewal per loan; a renewal of a loan that
  was revoked or returned meanwhile cannot be approved (409 `renewal_of_ended`).
- Physical records (item metadata `extra.medium == "physical"`, with `extra.box` and
  `extra.shelf`): the loan is decided like any other, with a permit on chain (who approved what,
  provable later), but the node serves a check-out slip instead of content.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from anchor.eip712 import Permit
from anchor.errors import LedgerError
from anchor.models import Log, LogEntry
from node.core.errors import ChainRelayFailed, Conflict, Forbidden, InvalidInput, NodeError, NotConfigured, NotFound
from node.core.models import Item, Loan, LoanItem, LoanStatus, PermitRow
from node.core.principal import Principal
from node.lending.permits import PermitCache, PermitLedger, Relayed
from node.lending.views import (  # noqa: F401  (the views' names stay importable from here)
    DIGITAL,
    LOANS_DECIDE,
    LOANS_READ,
    LOANS_REQUEST,
    LOANS_REVOKE,
    PHYSICAL,
    LoanViews,
    _uid,
    as_utc,
    effective_status,
    item_medium,
)

if TYPE_CHECKING:
    from node.core.context import NodeContext

logger = logging.getLogger(__name__)

MAX_ITEMS_PER_LOAN = 500
ROLES_GRANT = "roles:grant"  # held by the security admin only (node/core/roles.py)


class RequestEvent(Protocol):
    """The audit event of the request a workflow step serves (node/audit/request.py, RequestAudit):
    `declare` names its target whatever the outcome; `record` writes the outcome-ok event inside the
    step's transaction. Refusals and failures are written by the HTTP boundary, not here."""

    def declare(self, *, target: str | None = None, fonds: str | None = None, **details: Any) -> None: ...

    def record(
        self, session: Session, *, target: str | None = None, details: dict[str, Any] | None = None,
        fonds: str | None = None, outcome: str = "ok",
    ) -> None: ...  # fmt: skip


# certify(item_id, permit summary) -> certificate (dict)
CertifyHook = Callable[[str, dict[str, Any]], dict[str, Any]]


def loan_id_bytes32(loan_id: str) -> bytes:
    """The loan id (32 hex = 16 random bytes) as the permit's bytes32, left-padded with zeros."""
    return bytes.fromhex(loan_id).rjust(32, b"\x00")


@dataclass(frozen=True)
class Access:
    """The answer of the permit branch of authorize_content."""

    allowed: bool
    reason: str  # "permit" when allowed; else why not
    loan_id: str | None = None
    permit_id: str | None = None
    block: int | None = None
    physical: dict[str, Any] | None = None


@dataclass
class Lending(LoanViews):
    """The workflow over a database and a permit ledger. Stateless apart from the permit cache."""

    sessions: sessionmaker[Session]
    reader: sessionmaker[Session]
    ledger: Callable[[], PermitLedger]  # made on first use: a chain outage must not stop requests
    pseudonym: Callable[[str], bytes]  # user id -> bytes32 grantee
    chain_id: int
    contract: Callable[[], str]  # ReadPermits address
    max_period_s: float = 90 * 86400.0
    clock: Callable[[], float] = time.time
    certify: CertifyHook | None = None
    cache: PermitCache | None = None
    _cache_ledger: Any = field(default=None, repr=False)

    def permit_cache(self) -> PermitCache:
        if self.cache is None:
            self.cache = PermitCache(self.ledger(), clock=self.clock)
        return self.cache


    # -- request ------------------------------------------------------------------------------------------
    def request(
        self,
        actor: Principal,
        item_ids: Sequence[str],
        purpose: str,
        expires_at: datetime,
        not_before: datetime | None = None,
        *,
        audit: RequestEvent | None = None,
        volume: str | None = None,
    ) -> dict[str, Any]:
        """`volume`: a whole volume (卷), expanded to the items arranged in it (added to `item_ids`)."""
        if audit:
            audit.declare(target="loan:new")
        if LOANS_REQUEST not in actor.actions:
            raise Forbidden("only borrowers request loans")
        now = self.now()
        start = as_utc(not_before) if not_before else now
        end = as_utc(expires_at)
        ids = list(dict.fromkeys(item_ids))
        if volume is not None:
            ids = list(dict.fromkeys([*ids, *self._volume_items(volume)]))
        if not ids:
            raise InvalidInput("a loan needs at least one item", reason="no_items")
        if len(ids) > MAX_ITEMS_PER_LOAN:
            raise InvalidInput(f"at most {MAX_ITEMS_PER_LOAN} items per loan", reason="too_many_items")
        if not purpose.strip():
            raise InvalidInput("a purpose is required", reason="no_purpose")
        if end <= start or end <= now:
            raise InvalidInput("expires_at must be after not_before and in the future", reason="bad_period")
        if (end - start).total_seconds() > self.max_period_s:
            raise InvalidInput(
                f"the period exceeds the maximum of {timedelta(seconds=self.max_period_s)}",
                reason="period_too_long",
            )
        loan_id = uuid.uuid4().hex
        with self.sessions() as s, s.begin():
            items = {i.id: i for i in s.scalars(select(Item).where(Item.id.in_(ids)))}
            missing = [i for i in ids if i not in items]
            if missing:
                raise NotFound(f"no item(s) {', '.join(missing)}", reason="item_not_found")
            loan = Loan(
                id=loan_id, borrower_id=_uid(actor), purpose=purpose.strip(), not_before=start,
                expires_at=end, status=LoanStatus.REQUESTED, requested_at=now,
            )  # fmt: skip
            s.add(loan)
            s.flush()
            for iid in ids:
                s.add(LoanItem(loan_id=loan_id, item_id=iid, medium=item_medium(items[iid])[0]))
            s.flush()
            if audit:
                fonds = sorted({i.fonds_code for i in items.values()})
                audit.record(s, target=f"loan:{loan_id}", fonds=fonds[0] if len(fonds) == 1 else None,
                             details={"items": ids, "purpose": loan.purpose, "expires_at": end.isoformat(),
                                      **({"volume": volume} if volume else {})})  # fmt: skip
            return self.view(s, loan)

    def _volume_items(self, volume_id: str) -> list[str]:
        from node.arrangement.service import get_volume, volume_item_ids

        with self.reader() as s:
            get_volume(s, volume_id)  # 404 volume_not_found
            ids = volume_item_ids(s, volume_id)
        if not ids:
            raise InvalidInput(f"volume {volume_id} holds no items", reason="empty_volume")
        return ids

    def renew(
        self, actor: Principal, loan_id: str, reason: str, *, days: float | None = None,
        expires_at: datetime | None = None, audit: RequestEvent | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """A renewal request (续借) of the borrower's own APPROVED loan: a new REQUESTED loan linked by
        `renewal_of`, ending `days` after the renewed loan's end (or at `expires_at`)."""
        if audit:
            audit.declare(target=f"loan:{loan_id}")
        if LOANS_REQUEST not in actor.actions:
            raise Forbidden("only borrowers renew loans")
        if (days is None) == (expires_at is None):
            raise InvalidInput("give exactly one of days or expires_at", reason="bad_period")
        if not reason or not reason.strip():
            raise InvalidInput("a renewal needs a reason", reason="no_reason")
        now = self.now()
        with self.sessions() as s, s.begin():
            old = self._load(s, loan_id)
            if old.borrower_id != _uid(actor):
                raise NotFound(f"no loan {loan_id}", reason="loan_not_found")  # not even its existence
            status = effective_status(old, now)
            if status != LoanStatus.APPROVED:
                raise Conflict(f"loan {loan_id} is {status.value}: only an approved, still valid loan is renewed",
                               reason="not_renewable")  # fmt: skip
            pending = s.scalar(select(Loan.id).where(
                Loan.renewal_of == loan_id, Loan.status == LoanStatus.REQUESTED, Loan.expires_at > now).limit(1))
            if pending is not None:
                raise Conflict(f"loan {loan_id} already has a renewal awaiting a decision ({pending})",
                               reason="renewal_pending")  # fmt: skip
            old_end = as_utc(old.expires_at)
            end = as_utc(expires_at) if expires_at is not None else old_end + timedelta(days=float(days or 0))
            if end <= old_end:
                raise InvalidInput("a renewal must end after the loan it renews", reason="bad_period")
            if (end - now).total_seconds() > self.max_period_s:
                raise InvalidInput(
                    f"the period exceeds the maximum of {timedelta(seconds=self.max_period_s)}",
                    reason="period_too_long",
                )
            items = s.execute(select(LoanItem.item_id, LoanItem.medium, Item.fonds_code)
                              .join(Item, Item.id == LoanItem.item_id)
                              .where(LoanItem.loan_id == loan_id).order_by(LoanItem.item_id)).all()  # fmt: skip
            renewal = Loan(
                id=uuid.uuid4().hex, borrower_id=old.borrower_id, purpose=old.purpose, not_before=now, expires_at=end,
                status=LoanStatus.REQUESTED, requested_at=now, renewal_of=loan_id, renewal_reason=reason.strip(),
            )  # fmt: skip
            s.add(renewal)
            s.flush()
            for iid, medium, _ in items:
                s.add(LoanItem(loan_id=renewal.id, item_id=iid, medium=medium))
            s.flush()
            if audit:
                fonds = sorted({f for _, _, f in items})
                audit.record(s, target=f"loan:{loan_id}", fonds=fonds[0] if len(fonds) == 1 else None,
                             details={"renewal": renewal.id, "reason": renewal.renewal_reason,
                                      "expires_at": end.isoformat(), "previous_expires_at": old_end.isoformat()})
            return self.view(s, renewal)

    def _check_renewed_loan(self, s: Session, loan: Loan) -> Loan | None:
        """A renewal is approved only while the loan it renews still stands (not revoked or returned)."""
        if loan.renewal_of is None:
            return None
        old = self._load(s, loan.renewal_of)
        if old.status not in (LoanStatus.APPROVED, LoanStatus.EXPIRED):
            raise Conflict(f"loan {loan.id} renews loan {old.id}, which is {old.status.value}",
                           reason="renewal_of_ended")  # fmt: skip
        return old

    # -- reading: node/lending/views.py (LoanViews) ------------------------------------------------------

    # -- approval ---------------------------------------------------------------------------------------
    def permits_to_sign(self, loan_id: str) -> list[tuple[str, Permit]]:
        """(item id, Permit) for every item of the loan, from the loan as requested."""
        with self.reader() as s:
            loan = self._load(s, loan_id)
            rows = s.execute(
                select(Item, Log.log_id, LogEntry.leaf_hash)
                .join(LoanItem, LoanItem.item_id == Item.id)
                .join(Log, Log.id == Item.log_pk)
                .join(LogEntry, (LogEntry.log_pk == Item.log_pk) & (LogEntry.index == Item.leaf_index))
                .where(LoanItem.loan_id == loan_id)
                .order_by(Item.id)
            ).all()
            grantee = self.pseudonym(loan.borrower_id)
            nb, exp = int(as_utc(loan.not_before).timestamp()), int(as_utc(loan.expires_at).timestamp())
            return [
                (item.id, Permit(bytes(log_id), bytes(leaf), grantee, nb, exp, loan_id_bytes32(loan_id)))
                for item, log_id, leaf in rows
            ]

    def typed_data(self, actor: Principal, loan_id: str) -> dict[str, Any]:
        """What an approver signs client-side: one Permit per item, with the EIP-712 domain."""
        if LOANS_DECIDE not in actor.actions:
            raise Forbidden("only approvers sign permits")
        ledger = self.ledger()
        return {
            "domain": {"name": "ArchiveLedger ReadPermits", "version": "1", "chainId": self.chain_id,
                       "verifyingContract": self.contract()},
            "permits": [
                {"item_id": iid, "permit_id": ledger.permit_id(p).hex(), "permit": p.to_dict()}
                for iid, p in self.permits_to_sign(loan_id)
            ],
        }  # fmt: skip

    def _check_decidable(self, actor: Principal, loan: Loan, now: datetime) -> None:
        if LOANS_DECIDE not in actor.actions:
            raise Forbidden("only approvers decide loans")
        if loan.borrower_id == _uid(actor):
            raise Forbidden("an approver cannot decide their own request", reason="own_request")
        status = effective_status(loan, now)
        if status != LoanStatus.REQUESTED:
            raise Conflict(f"loan {loan.id} is {status.value}, not REQUESTED", reason="invalid_state")

    def approve(
        self,
        actor: Principal,
        loan_id: str,
        *,
        account: Any | None = None,
        signatures: dict[str, bytes] | None = None,
        signer: str | None = None,
        audit: RequestEvent | None = None,
    ) -> dict[str, Any]:
        """Sign (with `account`, the approver's unlocked key) or take client-side `signatures`
        (item id -> 65 bytes, made by `signer`), relay, wait for confirmation, certify, commit."""
        if audit:
            audit.declare(target=f"loan:{loan_id}")
        now = self.now()
        with self.reader() as s:
            loan = self._load(s, loan_id)
            self._check_decidable(actor, loan, now)
            if as_utc(loan.expires_at) <= now:
                raise Conflict(f"loan {loan_id} ended before it was decided", reason="period_over")
            self._check_renewed_loan(s, loan)
            borrower = loan.borrower_id
        if account is None and signatures is None:
            raise InvalidInput("give the approver's password or one signature per item", reason="no_signature")
        to_sign = self.permits_to_sign(loan_id)
        ledger = self.ledger()
        grants: list[tuple[str, Permit, bytes]] = []
        for iid, permit in to_sign:
            if account is not None:
                sig = ledger.sign_permit(account, permit)
            else:
                assert signatures is not None
                if iid not in signatures:
                    raise InvalidInput(f"no signature for item {iid}", reason="missing_signature")
                sig = signatures[iid]
            grants.append((iid, permit, sig))
        signer_address = account.address if account is not None else (signer or "")
        try:
            relayed = ledger.grant_many([(p, sig) for _, p, sig in grants])
        except LedgerError as exc:
            raise ChainRelayFailed(f"the permit could not be put on chain: {exc}") from exc
        permit_ids = [ledger.permit_id(p).hex() for _, p, _ in grants]
        certificates: dict[str, dict[str, Any]] = {}
        for (iid, permit, _), pid, tx in zip(grants, permit_ids, relayed, strict=True):
            summary = self._permit_summary(pid, permit, tx, signer_address)
            if self.certify is not None:
                try:
                    certificates[iid] = self.certify(iid, summary)
                except LedgerError as exc:  # the loan stands; the certificate can be re-issued
                    logger.warning("no certificate for item %s of loan %s: %s", iid, loan_id, exc)
        with self.sessions() as s, s.begin():
            loan = self._load(s, loan_id)
            self._check_decidable(actor, loan, self.now())  # decided meanwhile by someone else?
            renewed = self._check_renewed_loan(s, loan)  # revoked or returned meanwhile?
            loan.status = LoanStatus.APPROVED
            loan.decided_at = self.now()
            loan.decided_by = _uid(actor)
            loan.approver_address = signer_address
            if renewed is not None:  # superseded: content through it ends now (the renewal's permit serves)
                renewed.status = LoanStatus.RENEWED
                renewed.ended_at, renewed.ended_by = loan.decided_at, _uid(actor)
            for (iid, permit, sig), pid, tx in zip(grants, permit_ids, relayed, strict=True):
                if s.get(PermitRow, pid) is not None:
                    continue
                s.add(PermitRow(
                    permit_id=pid, loan_id=loan_id, item_id=iid, log_id=permit.log_id.hex(),
                    item_key=permit.item_key.hex(), grantee=permit.grantee.hex(), not_before=permit.not_before,
                    expires_at=permit.expires_at, signer=signer_address, signature=sig.hex(),
                    contract=self.contract(), chain_id=self.chain_id, tx_hash=tx.tx_hash,
                    block_number=tx.block_number,
                    certificate_json=json.dumps(certificates[iid]) if iid in certificates else None,
                ))  # fmt: skip
            s.flush()
            if audit:
                audit.record(s, details={"decision": "approve", "borrower": borrower, "permits": permit_ids,
                                         "tx_hashes": [t.tx_hash for t in relayed], "signer": signer_address,
                                         **({"renewal_of": renewed.id} if renewed is not None else {})})
            return self.view(s, loan)

    def _permit_summary(self, pid: str, permit: Permit, tx: Relayed, signer: str) -> dict[str, Any]:
        return {
            "permit_id": pid,
            "chain_id": self.chain_id,
            "contract": self.contract(),
            "tx_hash": tx.tx_hash,
            "block_number": tx.block_number,
            "approver": signer,
            **permit.to_dict(),
            "not_before_iso": datetime.fromtimestamp(permit.not_before, UTC).isoformat(),
            "expires_at_iso": datetime.fromtimestamp(permit.expires_at, UTC).isoformat(),
        }

    def reject(
        self, actor: Principal, loan_id: str, reason: str, *, audit: RequestEvent | None = None
    ) -> dict[str, Any]:
        if audit:
            audit.declare(target=f"loan:{loan_id}")
        if not reason or not reason.strip():
            raise InvalidInput("a rejection needs a reason", reason="no_reason")
        with self.sessions() as s, s.begin():
            loan = self._load(s, loan_id)
            self._check_decidable(actor, loan, self.now())
            loan.status = LoanStatus.REJECTED
            loan.reason = reason.strip()
            loan.decided_at = self.now()
            loan.decided_by = _uid(actor)
            if audit:
                audit.record(s, details={"decision": "reject", "reason": loan.reason})
            return self.view(s, loan)

    # -- ending -------------------------------------------------------------------------------------------
    def return_loan(self, actor: Principal, loan_id: str, *, audit: RequestEvent | None = None) -> dict[str, Any]:
        """The borrower ends the loan early: access ends at once in the node (see the module doc)."""
        if audit:
            audit.declare(target=f"loan:{loan_id}")
        with self.sessions() as s, s.begin():
            loan = self._load(s, loan_id)
            if loan.borrower_id != _uid(actor):
                raise NotFound(f"no loan {loan_id}", reason="loan_not_found")
            now = self.now()
            status = effective_status(loan, now)
            if status != LoanStatus.APPROVED:
                if status == LoanStatus.EXPIRED:
                    loan.status = LoanStatus.EXPIRED
                raise Conflict(f"loan {loan_id} is {status.value}, not APPROVED", reason="invalid_state")
            loan.status = LoanStatus.RETURNED
            loan.ended_at, loan.ended_by = now, _uid(actor)
            if audit:
                audit.record(s)
            return self.view(s, loan)

    def revoke(
        self,
        actor: Principal,
        loan_id: str,
        *,
        account: Any | None = None,
        signatures: dict[str, bytes] | None = None,
        reason: str | None = None,
        audit: RequestEvent | None = None,
    ) -> dict[str, Any]:
        """Approver or security admin: the loan is REVOKED in the node first (access ends now), then
        each permit's signed revocation is relayed; calling again relays whatever is still missing."""
        if audit:
            audit.declare(target=f"loan:{loan_id}")
        if LOANS_REVOKE not in actor.actions:
            raise Forbidden("only approvers and security admins revoke loans")
        if account is None and signatures is None:
            raise InvalidInput("give your password or one signature per permit", reason="no_signature")
        with self.sessions() as s, s.begin():
            loan = self._load(s, loan_id)
            now = self.now()
            status = effective_status(loan, now)
            # As on chain (ReadPermits.revoke): the loan's own approver or a security admin (the one
            # holder of roles:grant), never another approver; checked before the node ends access.
            if ROLES_GRANT not in actor.actions and loan.decided_by != _uid(actor):
                raise Forbidden(f"only the approver of loan {loan_id} or a security admin revokes it",
                                reason="not_loan_approver")  # fmt: skip
            if status not in (LoanStatus.APPROVED, LoanStatus.REVOKED, LoanStatus.RETURNED, LoanStatus.RENEWED):
                raise Conflict(f"loan {loan_id} is {status.value}: nothing to revoke", reason="invalid_state")
            revoked_now = status == LoanStatus.APPROVED
            if revoked_now:  # the request's one event: written with the change (the relay may fail after it)
                loan.status = LoanStatus.REVOKED
                loan.ended_at, loan.ended_by = now, _uid(actor)
                loan.reason = (reason or "").strip() or loan.reason
                if audit:
                    audit.record(s, details={"reason": reason, "stage": "node"})
            pending = [p.permit_id for p in s.scalars(
                select(PermitRow).where(PermitRow.loan_id == loan_id, PermitRow.revoke_tx_hash.is_(None))
            )]  # fmt: skip
        ledger = self.ledger()
        done: dict[str, Relayed] = {}
        error: Exception | None = None
        for pid in pending:
            try:
                raw = bytes.fromhex(pid)
                if account is not None:
                    sig = ledger.sign_revoke(account, raw)
                else:
                    assert signatures is not None
                    if pid not in signatures:
                        raise InvalidInput(f"no signature for permit {pid}", reason="missing_signature")
                    sig = signatures[pid]
                done[pid] = ledger.revoke(raw, sig)
            except LedgerError as exc:
                error = exc
                break
            finally:
                if self.cache is not None:
                    self.cache.forget(bytes.fromhex(pid))
        with self.sessions() as s, s.begin():
            for pid, tx in done.items():
                row = s.get(PermitRow, pid)
                if row is not None:
                    row.revoke_tx_hash, row.revoked_at = tx.tx_hash, self.now()
            if audit and done and not revoked_now:  # finishing an earlier revoke on chain: this request's event
                audit.record(s, details={"stage": "chain", "permits": list(done),
                                         "tx_hashes": [t.tx_hash for t in done.values()]})  # fmt: skip
            loan = self._load(s, loan_id)
            answer = self.view(s, loan)
        if error is not None:
            if isinstance(error, NodeError) and not isinstance(error, ChainRelayFailed):
                raise error
            raise ChainRelayFailed(
                f"loan {loan_id} is revoked in the node, but relaying the revocation failed: {error}; "
                "run revoke again to finish it on chain"
            ) from error
        return answer

    # -- content access ------------------------------------------------------------------------------------
    def content_access(self, actor: Principal, item_id: str) -> Access:
        """The permit branch: `actor` may fetch `item_id` only while a loan of theirs covering it is
        APPROVED (not returned, revoked or expired) and its permit is valid on chain now."""
        now_ts = self.clock()
        now = datetime.fromtimestamp(now_ts, UTC)
        with self.reader() as s:
            rows = s.execute(
                select(Loan, LoanItem, PermitRow)
                .join(LoanItem, LoanItem.loan_id == Loan.id)
                .outerjoin(PermitRow, (PermitRow.loan_id == Loan.id) & (PermitRow.item_id == LoanItem.item_id))
                .where(Loan.borrower_id == _uid(actor), LoanItem.item_id == item_id)
                .order_by(Loan.expires_at.desc())
            ).all()
        if not rows:
            return Access(False, "no_loan")
        reason = "no_loan"
        for loan, li, permit in rows:
            status = effective_status(loan, now)
            if status != LoanStatus.APPROVED:
                reason = f"loan_{status.value.lower()}"
                continue
            if permit is None:
                reason = "no_permit"
                continue
            if li.medium == PHYSICAL:
                with self.reader() as s:
                    item = s.get(Item, item_id)
                    info = item_medium(item)[1] if item else {}
                return Access(False, "physical_record", loan.id, permit.permit_id, None, info)
            check = self.permit_cache().check(
                bytes.fromhex(permit.permit_id), permit.not_before, permit.expires_at, now=now_ts
            )
            if check.allowed:
                return Access(True, "permit", loan.id, permit.permit_id, check.block)
            reason = f"permit_{check.reason}"
        return Access(False, reason)

    # (slips, certificates, permits: node/lending/views.py)


# -- wiring into a running node ------------------------------------------------------------------------

def issue_loan_certificate(ctx: NodeContext, item_id: str, permit: dict[str, Any]) -> dict[str, Any]:
    """The verifier's certificate for one lent item: the item's proof bundle verified against the
    chain *and* its stored bytes, plus the permit (tx, approver, validity), signed with the node's
    verifier key. An item not anchored yet is anchored first (the approval waits for it)."""
    from anchor.bundles import NotAnchoredYet, proof_bundle

    def bundle() -> tuple[Item, dict[str, Any]]:
        with ctx.reader() as s:
            item = s.get(Item, item_id)
            if item is None:
                raise NotFound(f"no item {item_id}", reason="item_not_found")
            return item, proof_bundle(s, s.get(Log, item.log_pk), item.leaf_index)

    try:
        item, proof = bundle()
    except NotAnchoredYet:
        ctx.anchor_now(wait=True)
        item, proof = bundle()
    path = ctx.blobs.path_for(item.content_sha256)
    with open(path, "rb") if path.exists() else contextlib.nullcontext() as stream:
        result = ctx.verify_proof(proof, content=stream)  # the node's own trust root and chain
    return ctx.certify(result, proof, extra={"permit": permit})


def build_lending(ctx: NodeContext) -> Lending:
    """The node's `Lending` (and so its one permit cache); NodeContext.lending() builds it once."""
    settings = ctx.settings
    ledgers: list[PermitLedger] = []
    ledger_lock = threading.Lock()

    def contract() -> str:
        address = settings.permits_address
        if not address:
            raise NotConfigured("no ReadPermits contract is configured: run `archive-ledger init`")
        return address

    def ledger() -> PermitLedger:
        with ledger_lock:
            if not ledgers:
                from anchor.keystore import load_account
                from node.lending.permits import ChainPermits

                relay = load_account(
                    settings.keystore_path, settings.keystore_password_file,
                    password_env=settings.keystore_password_env,
                )  # fmt: skip
                ledgers.append(ChainPermits(ctx.chain(), relay, contract()))
            return ledgers[0]

    key: list[bytes] = []

    def pseudonym(user_id: str) -> bytes:
        from node.users.service import grantee_pseudonym, load_pseudonym_key

        if not key:
            key.append(load_pseudonym_key(settings.pseudonym_key_path))
        return grantee_pseudonym(key[0], user_id)

    return Lending(
        sessions=ctx.sessions,
        reader=ctx.reader,
        ledger=ledger,
        pseudonym=pseudonym,
        chain_id=ctx.profile.chain_id,
        contract=contract,
        max_period_s=settings.loan_max_period_s,
        certify=lambda item_id, permit: issue_loan_certificate(ctx, item_id, permit),
    )
