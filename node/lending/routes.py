"""Loans and read permits: request, decide, revoke, return; certificates, check-out slips, permits.

Every route needs a principal; what each may do is checked twice: by the route's `require(action)`
where one action gates it, and by node/lending/service.py (own loans only for borrowers, no approver on their
own request). Every state change and every refusal is an audit event.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, model_validator

from node.audit.request import request_audit
from node.core.context import NodeContext
from node.core.deps import audit_as, current_principal, get_ctx, require
from node.core.errors import Forbidden, InvalidInput
from node.core.models import LoanStatus
from node.core.principal import Principal
from node.core.types import LoanDays, Offset, QueryBool, SaneTime
from node.lending.schemas import LoanCertificates, LoanList, LoanView, PermitView, Slip, TypedData
from node.lending.service import LOANS_DECIDE, LOANS_READ, LOANS_REQUEST, LOANS_REVOKE, Lending

router = APIRouter(tags=["loans"])
Ctx = Annotated[NodeContext, Depends(get_ctx)]
Who = Annotated[Principal, Depends(current_principal)]
_HEX_SIG = r"^(0x)?[0-9a-fA-F]{130}$"


def get_lending(request: Request) -> Lending:
    return get_ctx(request).lending()


Lend = Annotated[Lending, Depends(get_lending)]
# Routes a borrower uses for their own loans and loans:read holders for all (checked in the handler).
ANY_LOAN_READER = {"x-any-action": [LOANS_REQUEST, LOANS_READ, LOANS_DECIDE, LOANS_REVOKE]}


def _user(principal: Principal) -> Principal:
    if principal.kind != "user":
        raise Forbidden("loans are for people: log in as a user", reason="users_only")
    return principal


class LoanRequest(BaseModel):
    items: list[str] = Field(default_factory=list, max_length=500)
    volume: str | None = Field(default=None, min_length=1, max_length=32)  # a whole volume (卷): all its items
    purpose: str = Field(min_length=1, max_length=2000)
    not_before: SaneTime | None = None
    expires_at: SaneTime | None = None
    days: LoanDays | None = None

    @model_validator(mode="after")
    def _period(self) -> LoanRequest:
        if not self.items and self.volume is None:
            raise ValueError("give items and/or a volume")
        if (self.expires_at is None) == (self.days is None):
            raise ValueError("give exactly one of expires_at or days")
        for value in (self.not_before, self.expires_at):
            if value is not None and value.tzinfo is None:
                raise ValueError("times need a time zone (e.g. 2027-03-01T08:00:00Z)")
        return self


class RenewalRequest(BaseModel):
    """A renewal (续借): the new end as `days` after the loan's current end, or `expires_at`; and why."""

    days: LoanDays | None = None
    expires_at: SaneTime | None = None
    reason: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _period(self) -> RenewalRequest:
        if (self.expires_at is None) == (self.days is None):
            raise ValueError("give exactly one of expires_at or days")
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise ValueError("times need a time zone (e.g. 2027-03-01T08:00:00Z)")
        return self


class Signing(BaseModel):
    """The approver's (or security admin's) own key: their password unlocks it for this request only,
    or signatures made client-side (item id -> signature for approve, permit id -> signature for revoke)."""

    password: str | None = Field(default=None, min_length=1, max_length=1024)
    signatures: dict[str, Annotated[str, Field(pattern=_HEX_SIG)]] | None = None

    @model_validator(mode="after")
    def _one(self) -> Signing:
        if (self.password is None) == (self.signatures is None):
            raise ValueError("give exactly one of password or signatures")
        return self


class Revocation(Signing):
    reason: str | None = Field(default=None, max_length=2000)


class Rejection(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


def _signing(ctx: NodeContext, principal: Principal, body: Signing) -> dict[str, Any]:
    """account= (unlocked in memory, dropped after the request) or signatures= + signer=."""
    from node.users import service as users

    with ctx.reader() as s:
        user = users.get_user(s, principal.id)
        if body.password is not None:
            return {"account": users.unlock_chain_key(user, body.password)}
        assert body.signatures is not None
        sigs = {k.lower().removeprefix("0x"): bytes.fromhex(v.removeprefix("0x")) for k, v in body.signatures.items()}
        return {"signatures": sigs, "signer": user.chain_address}


@router.post("/loans", status_code=201, response_model=LoanView)
def request_loan(
    body: LoanRequest, request: Request, lend: Lend, principal: Principal = Depends(require(LOANS_REQUEST))
) -> dict[str, Any]:
    """A borrower asks for items (a list of item ids) and/or a whole volume, for a purpose and a period."""
    _user(principal)
    start = body.not_before or datetime.now(UTC)
    end = body.expires_at or start + timedelta(days=body.days or 0)
    return lend.request(principal, body.items, body.purpose, end, body.not_before, audit=request_audit(request),
                        volume=body.volume)  # fmt: skip


@router.get("/loans", openapi_extra=ANY_LOAN_READER, response_model=LoanList)
def list_loans(
    lend: Lend,
    principal: Who,
    status: str | None = None,
    mine: QueryBool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """A borrower's own loans; every loan for loans:read (approvers, auditors, security officers)."""
    _reader(principal)
    if status is not None and status.upper() not in LoanStatus.__members__:
        raise InvalidInput(f"unknown status {status!r}", reason="bad_status")
    return lend.list(principal, status=status, mine=mine, limit=limit, offset=offset)


def _reader(principal: Principal) -> Principal:
    if not ({LOANS_REQUEST, LOANS_READ, LOANS_DECIDE, LOANS_REVOKE} & principal.actions):
        raise Forbidden(f"{principal.kind} {principal.name!r} may not read loans")
    return principal


@router.get("/loans/{loan_id}", openapi_extra=ANY_LOAN_READER, response_model=LoanView)
def get_loan(loan_id: str, lend: Lend, principal: Who) -> dict[str, Any]:
    return lend.get(_reader(principal), loan_id)


@router.get("/loans/{loan_id}/typed-data", response_model=TypedData)
def loan_typed_data(loan_id: str, lend: Lend, principal: Principal = Depends(require(LOANS_DECIDE))) -> dict[str, Any]:
    """The EIP-712 permits to sign client-side (one per item), for approvers who keep their key."""
    return lend.typed_data(principal, loan_id)


@router.post("/loans/{loan_id}/approve", response_model=LoanView)
def approve_loan(
    loan_id: str, body: Signing, request: Request, ctx: Ctx, lend: Lend,
    principal: Principal = Depends(require(LOANS_DECIDE)),
) -> dict[str, Any]:  # fmt: skip
    """Sign the permits with the approver's key, relay them, wait for confirmation, certify."""
    audit = request_audit(request)
    audit.declare(target=f"loan:{loan_id}")
    signing = _signing(ctx, _user(principal), body)
    return lend.approve(principal, loan_id, audit=audit, **signing)


@router.post("/loans/{loan_id}/reject", response_model=LoanView)
def reject_loan(
    loan_id: str, body: Rejection, request: Request, lend: Lend,
    principal: Principal = Depends(require(LOANS_DECIDE)),
) -> dict[str, Any]:  # fmt: skip
    return lend.reject(principal, loan_id, body.reason, audit=request_audit(request))


@router.post("/loans/{loan_id}/revoke", response_model=LoanView)
def revoke_loan(
    loan_id: str, body: Revocation, request: Request, ctx: Ctx, lend: Lend,
    principal: Principal = Depends(require(LOANS_REVOKE)),
) -> dict[str, Any]:  # fmt: skip
    """Approver or security admin: access ends at once in the node, then the revocation goes on chain."""
    audit = request_audit(request)
    audit.declare(target=f"loan:{loan_id}")
    signing = _signing(ctx, _user(principal), body)
    signing.pop("signer", None)
    return lend.revoke(principal, loan_id, reason=body.reason, audit=audit, **signing)


@router.post("/loans/{loan_id}/return", dependencies=[Depends(audit_as("loans:return"))], response_model=LoanView)
def return_loan(
    loan_id: str, request: Request, lend: Lend, principal: Principal = Depends(require(LOANS_REQUEST))
) -> dict[str, Any]:
    """The borrower ends their loan early; content is refused from now on."""
    return lend.return_loan(principal, loan_id, audit=request_audit(request))


@router.post("/loans/{loan_id}/renew", status_code=201, dependencies=[Depends(audit_as("loans:renew"))],
             response_model=LoanView)
def renew_loan(
    loan_id: str, body: RenewalRequest, request: Request, lend: Lend,
    principal: Principal = Depends(require(LOANS_REQUEST)),
) -> dict[str, Any]:  # fmt: skip
    """The borrower asks to extend an approved, still valid loan (续借): the answer is the renewal, a new
    REQUESTED loan (`renewal_of` = this one) that approvers decide like any request; approved, it
    supersedes this loan (RENEWED) with its own permit and later end. 409 `not_renewable` (not approved,
    expired, revoked, returned), 409 `renewal_pending`, 404 for a loan that is not the caller's."""
    _user(principal)
    return lend.renew(principal, loan_id, body.reason, days=body.days, expires_at=body.expires_at,
                      audit=request_audit(request))  # fmt: skip


@router.get("/loans/{loan_id}/certificates", openapi_extra=ANY_LOAN_READER, response_model=LoanCertificates)
def loan_certificates(loan_id: str, lend: Lend, principal: Who) -> dict[str, Any]:
    """The verifier's certificate for each lent item (authenticity + permit), signed at approval."""
    return lend.certificates(_reader(principal), loan_id)


@router.get("/loans/{loan_id}/slip", openapi_extra=ANY_LOAN_READER, response_model=Slip)
def loan_slip(loan_id: str, lend: Lend, principal: Who) -> dict[str, Any]:
    """Check-out slip (box, shelf) for the physical records of an approved loan."""
    return lend.slip(_reader(principal), loan_id)


@router.get("/permits/{permit_id}", openapi_extra=ANY_LOAN_READER, response_model=PermitView)
def get_permit(permit_id: str, lend: Lend, principal: Who) -> dict[str, Any]:
    """The node's record of a permit and what the chain says about it now."""
    return lend.permit(_reader(principal), permit_id)
