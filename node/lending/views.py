"""What a loan looks like from outside: the JSON views of loans, slips, certificates and permits, and
who may see which (a borrower their own loans; loans:read, loans:decide, loans:revoke every loan). The
workflow that changes loans is node/lending/service.py; `Lending` inherits these reads."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from anchor.errors import LedgerError
from anchor.models import as_utc
from node.core.errors import Conflict, NotFound
from node.core.models import Item, Loan, LoanItem, LoanStatus, PermitRow
from node.core.principal import Principal
from node.lending.permits import PermitLedger

PHYSICAL = "physical"
DIGITAL = "digital"

# actions (node/core/roles.py names them too; strings here so the domain does not import the API layer)
LOANS_REQUEST = "loans:request"
LOANS_DECIDE = "loans:decide"
LOANS_REVOKE = "loans:revoke"
LOANS_READ = "loans:read"


def _uid(actor: Principal) -> str:
    return str(actor.id)


def item_medium(item: Item) -> tuple[str, dict[str, Any]]:
    """("physical", {"box", "shelf"}) for a paper record, ("digital", {}) otherwise."""
    meta = json.loads(item.metadata_json or "{}")
    extra = meta.get("extra") or {}
    if str(extra.get("medium", "")).lower() == PHYSICAL:
        return PHYSICAL, {"box": extra.get("box"), "shelf": extra.get("shelf")}
    return DIGITAL, {}


def effective_status(loan: Loan, now: datetime) -> LoanStatus:
    if loan.status == LoanStatus.APPROVED and now >= as_utc(loan.expires_at):
        return LoanStatus.EXPIRED
    return loan.status


class LoanViews:
    """The read side of `Lending` (a mixin: `Lending` provides the fields annotated here)."""

    reader: sessionmaker[Session]
    ledger: Callable[[], PermitLedger]
    clock: Callable[[], float]

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _load(self, s: Session, loan_id: str) -> Loan:
        loan = s.get(Loan, loan_id)
        if loan is None:
            raise NotFound(f"no loan {loan_id}", reason="loan_not_found")
        return loan

    def _visible(self, actor: Principal, loan: Loan) -> None:
        """A borrower sees their own loans; loans:read (approvers, auditors, officers) sees all."""
        if LOANS_READ in actor.actions or LOANS_DECIDE in actor.actions or LOANS_REVOKE in actor.actions:
            return
        if loan.borrower_id != _uid(actor):
            raise NotFound(f"no loan {loan.id}", reason="loan_not_found")  # not even its existence

    def view(self, s: Session, loan: Loan) -> dict[str, Any]:
        now = self.now()
        rows = s.execute(
            select(LoanItem, Item).join(Item, Item.id == LoanItem.item_id).where(LoanItem.loan_id == loan.id)
        ).all()
        permits = {p.item_id: p for p in s.scalars(select(PermitRow).where(PermitRow.loan_id == loan.id))}
        items = []
        for li, item in rows:
            p = permits.get(item.id)
            items.append({
                "item_id": item.id, "fonds": item.fonds_code, "title": item.title, "medium": li.medium,
                "permit_id": p.permit_id if p else None, "tx_hash": p.tx_hash if p else None,
                "revoke_tx_hash": p.revoke_tx_hash if p else None,
            })  # fmt: skip
        return {
            "id": loan.id,
            "borrower_id": loan.borrower_id,
            "purpose": loan.purpose,
            "not_before": as_utc(loan.not_before).isoformat(),
            "expires_at": as_utc(loan.expires_at).isoformat(),
            "status": effective_status(loan, now).value,
            "reason": loan.reason,
            "requested_at": as_utc(loan.requested_at).isoformat(),
            "decided_at": as_utc(loan.decided_at).isoformat() if loan.decided_at else None,
            "decided_by": loan.decided_by,
            "approver_address": loan.approver_address,
            "ended_at": as_utc(loan.ended_at).isoformat() if loan.ended_at else None,
            "ended_by": loan.ended_by,
            "renewal_of": loan.renewal_of,
            "renewal_reason": loan.renewal_reason,
            "items": items,
        }

    def list(self, actor: Principal, *, status: str | None = None, mine: bool = False, limit: int = 100,
             offset: int = 0) -> dict[str, Any]:  # fmt: skip
        sees_all = bool({LOANS_READ, LOANS_DECIDE, LOANS_REVOKE} & actor.actions)
        query = select(Loan)
        if mine or not sees_all:
            query = query.where(Loan.borrower_id == _uid(actor))
        now = self.now()
        with self.reader() as s:
            if status is not None:
                wanted = LoanStatus(status.upper())
                if wanted == LoanStatus.EXPIRED:  # stored EXPIRED, or APPROVED past its end
                    query = query.where(
                        (Loan.status == LoanStatus.EXPIRED)
                        | ((Loan.status == LoanStatus.APPROVED) & (Loan.expires_at <= now))
                    )
                elif wanted == LoanStatus.APPROVED:
                    query = query.where(Loan.status == LoanStatus.APPROVED, Loan.expires_at > now)
                else:
                    query = query.where(Loan.status == wanted)
            loans = s.scalars(query.order_by(Loan.requested_at.desc(), Loan.id).limit(limit).offset(offset)).all()
            return {"loans": [self.view(s, loan) for loan in loans]}

    def get(self, actor: Principal, loan_id: str) -> dict[str, Any]:
        with self.reader() as s:
            loan = self._load(s, loan_id)
            self._visible(actor, loan)
            return self.view(s, loan)

    def slip(self, actor: Principal, loan_id: str) -> dict[str, Any]:
        """The check-out slip of the physical records of an approved loan (box and shelf)."""
        with self.reader() as s:
            loan = self._load(s, loan_id)
            self._visible(actor, loan)
            status = effective_status(loan, self.now())
            if status != LoanStatus.APPROVED:
                raise Conflict(f"loan {loan_id} is {status.value}: no slip", reason="invalid_state")
            rows = s.execute(
                select(Item, LoanItem, PermitRow)
                .join(LoanItem, LoanItem.item_id == Item.id)
                .outerjoin(PermitRow, (PermitRow.loan_id == LoanItem.loan_id) & (PermitRow.item_id == Item.id))
                .where(LoanItem.loan_id == loan_id, LoanItem.medium == PHYSICAL)
                .order_by(Item.archival_code, Item.id)
            ).all()
            if not rows:
                raise NotFound(f"loan {loan_id} has no physical records", reason="no_physical_records")
            return {
                "loan_id": loan.id,
                "borrower_id": loan.borrower_id,
                "purpose": loan.purpose,
                "approved_by": loan.decided_by,
                "approver_address": loan.approver_address,
                "not_before": as_utc(loan.not_before).isoformat(),
                "due": as_utc(loan.expires_at).isoformat(),
                "records": [
                    {"item_id": item.id, "archival_code": item.archival_code, "title": item.title,
                     "fonds": item.fonds_code, **item_medium(item)[1],
                     "permit_id": p.permit_id if p else None}
                    for item, _li, p in rows
                ],
            }  # fmt: skip

    def certificates(self, actor: Principal, loan_id: str) -> dict[str, Any]:
        with self.reader() as s:
            loan = self._load(s, loan_id)
            self._visible(actor, loan)
            rows = s.scalars(select(PermitRow).where(PermitRow.loan_id == loan_id).order_by(PermitRow.item_id))
            return {
                "loan_id": loan_id,
                "certificates": [
                    {"item_id": p.item_id, "permit_id": p.permit_id,
                     "certificate": json.loads(p.certificate_json) if p.certificate_json else None}
                    for p in rows
                ],
            }  # fmt: skip

    def certificate_for(self, actor: Principal, item_id: str) -> dict[str, Any] | None:
        """The certificate of the borrower's current loan of the item (None if none)."""
        with self.reader() as s:
            row = s.execute(
                select(PermitRow)
                .join(Loan, Loan.id == PermitRow.loan_id)
                .where(PermitRow.item_id == item_id, Loan.borrower_id == _uid(actor))
                .order_by(PermitRow.created_at.desc())
                .limit(1)
            ).scalar_one_or_none()
            return json.loads(row.certificate_json) if row and row.certificate_json else None

    def permit(self, actor: Principal, permit_id: str) -> dict[str, Any]:
        """The node's record of a permit plus what the chain says about it now."""
        pid = permit_id.lower().removeprefix("0x")
        with self.reader() as s:
            row = s.get(PermitRow, pid)
            if row is None:
                raise NotFound(f"no permit {pid}", reason="permit_not_found")
            loan = self._load(s, row.loan_id)
            self._visible(actor, loan)
            view = {c: getattr(row, c) for c in (
                "permit_id", "loan_id", "item_id", "log_id", "item_key", "grantee", "not_before", "expires_at",
                "signer", "contract", "chain_id", "tx_hash", "block_number", "revoke_tx_hash",
            )}  # fmt: skip
            view["loan_status"] = effective_status(loan, self.now()).value
        try:
            ledger = self.ledger()
            view["chain"] = {
                "block": ledger.block_number(),
                "valid_now": ledger.is_valid(bytes.fromhex(pid), int(self.clock())),
                "permit": ledger.get_permit(bytes.fromhex(pid)),
            }
        except LedgerError as exc:
            view["chain"] = {"error": str(exc)}
        return view
