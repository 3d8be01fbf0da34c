"""Web pages of lending (issue 11): the approver's inbox (approve with their own password, or reject
with a reason, several requests at once), the borrower's "my loans" (status, time left, return) and the
loan request form. Same actions, service calls and audit events as the API routes beside them
(node/lending/routes.py): each decision is the event the service writes for it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from node.audit.request import note_refusal, request_audit
from node.core import web
from node.core.context import NodeContext
from node.core.deps import get_ctx, require
from node.core.errors import NodeError
from node.core.principal import Principal
from node.lending.service import LOANS_DECIDE, LOANS_REQUEST, LOANS_REVOKE, Lending
from node.users import service as users

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(web.page_session), Depends(web.check_csrf)], tags=["pages"]
)
Ctx = Annotated[NodeContext, Depends(get_ctx)]
Approver = Annotated[Principal, Depends(require(LOANS_DECIDE))]
Borrower = Annotated[Principal, Depends(require(LOANS_REQUEST))]
Revoker = Annotated[Principal, Depends(require(LOANS_REVOKE))]
MAX_AT_ONCE = 50  # requests decided by one form


def _names(ctx: NodeContext, user_ids: set[str]) -> dict[str, str]:
    """user id -> "display name (username)" for the inbox's "who"."""
    out = {}
    with ctx.reader() as s:
        for uid in user_ids:
            try:
                user = users.get_user(s, uid)
            except NodeError:
                continue
            out[uid] = f"{user.display_name} ({user.username})" if user.display_name else user.username
    return out


def time_left(expires_at: str, now: datetime) -> timedelta | None:
    left = datetime.fromisoformat(expires_at) - now
    return left if left.total_seconds() > 0 else None


def _left_text(t: Any, left: timedelta | None) -> str:
    if left is None:
        return t("loans.left_none")
    days, hours = left.days, left.seconds // 3600
    return t("loans.left_days", days=days, hours=hours) if days else t("loans.left_hours", hours=hours,
                                                                         minutes=left.seconds % 3600 // 60)


# -- approver -------------------------------------------------------------------------------------------
def _pending(ctx: NodeContext, principal: Principal) -> list[dict[str, Any]]:
    loans = ctx.lending().list(principal, status="requested", limit=1000)["loans"]
    return [loan for loan in loans if loan["borrower_id"] != principal.id]  # nobody decides their own


@router.get("/inbox")
def inbox(request: Request, ctx: Ctx, principal: Approver) -> Response:
    """Pending requests: who, purpose, items, period; and what this approver decided lately."""
    pending = _pending(ctx, principal)
    lend = ctx.lending()
    decided = [loan for loan in lend.list(principal, limit=200)["loans"] if loan["decided_by"] == principal.id][:20]
    names = _names(ctx, {loan["borrower_id"] for loan in pending + decided})
    return web.render(request, "lending/inbox.html", pending=pending, decided=decided, names=names, results=None,
                      error=None, decision=None)  # fmt: skip


@router.post("/inbox")
def decide(
    request: Request, ctx: Ctx, principal: Approver,
    decision: Annotated[str, Form(pattern="^(approve|reject)$")],
    loan: Annotated[list[str] | None, Form(max_length=MAX_AT_ONCE)] = None,
    password: Annotated[str, Form(max_length=1024)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:  # fmt: skip
    """Approve (the password unlocks the approver's own chain key, in memory, for this request only) or
    reject with a reason, each ticked request; the page then shows each one's outcome."""
    lend: Lending = ctx.lending()
    audit = request_audit(request)
    chosen = list(dict.fromkeys(loan or []))
    results: list[dict[str, Any]] = []
    error, status = None, 422
    if not chosen:
        error = "inbox.none_chosen"
    elif decision == "reject" and not reason.strip():
        error = "inbox.reason_needed"
    elif decision == "approve" and not password:
        error = "inbox.password_needed"
    account = None
    if error is None and decision == "approve":
        try:
            with ctx.reader() as s:
                account = users.unlock_chain_key(users.get_user(s, principal.id), password)
        except NodeError as exc:  # a wrong password: nothing decided; the request's one event says why
            audit.declare(loans=chosen)
            note_refusal(request, exc.reason)
            error = "inbox.wrong_password" if exc.reason in ("bad_credentials", "wrong_password") else exc.reason
            status = exc.status  # a wrong password is a refusal (denied), as the API answers it
    if error is None:
        for loan_id in chosen:  # one event per decision (a part of this request), as one API call per loan
            part = audit.part()
            try:
                if decision == "approve":
                    lend.approve(principal, loan_id, account=account, audit=part)
                else:
                    lend.reject(principal, loan_id, reason, audit=part)
                results.append({"id": loan_id, "ok": True, "reason": None})
            except NodeError as exc:  # this decision's event says why; the others go on
                with ctx.sessions() as s, s.begin():
                    part.record_failure(s, exc)
                results.append({"id": loan_id, "ok": False, "reason": exc.reason})
        audit.aggregated()  # the request's events are its decisions'
        account = None  # the unlocked key goes out of scope with this request
    elif audit.reason is None:
        note_refusal(request, error)
    pending = _pending(ctx, principal)
    decided = [x for x in lend.list(principal, limit=200)["loans"] if x["decided_by"] == principal.id][:20]
    names = _names(ctx, {x["borrower_id"] for x in pending + decided})
    status = status if error else 200
    return web.render(request, "lending/inbox.html", status_code=status, pending=pending, decided=decided,
                      names=names, results=results, error=error, decision=decision)  # fmt: skip


@router.post("/inbox/{loan_id}/revoke")
def revoke(
    loan_id: str, request: Request, ctx: Ctx, principal: Revoker, password: Annotated[str, Form(max_length=1024)],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:  # fmt: skip
    """End an approved loan at once (the node refuses content from now on), then revoke its permits on chain
    with the approver's own key, unlocked by their password for this request only (POST /loans/{id}/revoke)."""
    lend: Lending = ctx.lending()
    audit = request_audit(request)
    audit.declare(target=f"loan:{loan_id}")
    with ctx.reader() as s:  # a wrong password raises: the middleware writes the refusal
        account = users.unlock_chain_key(users.get_user(s, principal.id), password)
    lend.revoke(principal, loan_id, account=account, reason=reason or None, audit=audit)
    return web.redirect("/inbox", "inbox.revoked")


# -- borrower -------------------------------------------------------------------------------------------
@router.get("/my-loans")
def my_loans(request: Request, ctx: Ctx, principal: Borrower) -> Response:
    loans = ctx.lending().list(principal, mine=True, limit=200)["loans"]
    now = datetime.now(UTC)
    return web.render(request, "lending/my_loans.html", loans=loans,
                      left={x["id"]: time_left(x["expires_at"], now) for x in loans}, left_text=_left_text)  # fmt: skip


@router.post("/my-loans/{loan_id}/return")
def return_loan(loan_id: str, request: Request, ctx: Ctx, principal: Borrower) -> Response:
    ctx.lending().return_loan(principal, loan_id, audit=request_audit(request))
    return web.redirect("/my-loans", "loans.returned")


@router.get("/my-loans/{loan_id}/certificates")
def certificates(loan_id: str, ctx: Ctx, principal: Borrower) -> Response:
    """The verifier's certificates of a loan's items (GET /loans/{id}/certificates), as a file to keep and to
    check offline (`archive-ledger verify-certificate`)."""
    body = json.dumps(ctx.lending().certificates(principal, loan_id), ensure_ascii=False, indent=1)
    return Response(body, media_type="application/json",
                    headers={"content-disposition": f'attachment; filename="loan-{loan_id[:12]}-certificates.json"'})


PICK = 50  # items offered by the request form's title filter


def _candidates(ctx: NodeContext, principal: Principal, q: str) -> list[dict[str, Any]]:
    """Items to tick on the request form: titles or archival codes containing `q` (newest first), within
    the caller's fonds. A stop-gap until search with facets (issue 11, 2.) gives the request cart."""
    from sqlalchemy import or_, select

    from node.core.models import Item

    query = select(Item.id, Item.title, Item.fonds_code, Item.archival_code)
    if q.strip():
        like = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Item.title.like(like, escape="\\"), Item.archival_code.like(like, escape="\\")))
    if principal.fonds is not None:
        query = query.where(Item.fonds_code.in_(sorted(principal.fonds)))
    with ctx.reader() as s:
        rows = s.execute(query.order_by(Item.created_at.desc(), Item.id).limit(PICK)).all()
    return [{"id": i, "title": t, "fonds": f, "code": c or ""} for i, t, f, c in rows]


def _request_page(request: Request, ctx: NodeContext, principal: Principal, *, error: str | None = None,
                  status: int = 200, items: str = "", chosen: list[str] | None = None, purpose: str = "",
                  days: int = 7, q: str = "") -> Response:  # fmt: skip
    return web.render(request, "lending/request.html", status_code=status, error=error, items=items, purpose=purpose,
                      days=days, q=q, candidates=_candidates(ctx, principal, q), chosen=set(chosen or []))  # fmt: skip


@router.get("/my-loans/new")
def loan_form(
    request: Request, ctx: Ctx, principal: Borrower, items: Annotated[str, Query(max_length=20000)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:  # fmt: skip
    return _request_page(request, ctx, principal, items=items, q=q)


@router.post("/my-loans/new")
def request_loan(
    request: Request, ctx: Ctx, principal: Borrower,
    purpose: Annotated[str, Form(max_length=2000)], days: Annotated[int, Form(ge=1, le=366)],
    items: Annotated[str, Form(max_length=20000)] = "",
    item: Annotated[list[str] | None, Form(max_length=500)] = None,
) -> Response:  # fmt: skip
    """The loan request: ticked items and/or item ids typed in (one a line, or separated by spaces or
    commas), a purpose, a period in days."""
    ids = list(dict.fromkeys([*(item or []), *(part for part in items.replace(",", " ").split() if part)]))
    try:
        ctx.lending().request(principal, ids, purpose, datetime.now(UTC) + timedelta(days=days),
                              audit=request_audit(request))  # fmt: skip
    except NodeError as exc:
        note_refusal(request, exc.reason)
        return _request_page(request, ctx, principal, error=exc.reason, status=exc.status, items=items,
                             chosen=item, purpose=purpose, days=days)  # fmt: skip
    return web.redirect("/my-loans", "loans.requested")
