"""Web pages of lending (issue 11): the approver's inbox (approve with their own password, or reject
with a reason, several requests at once; renewals marked), the borrower's request cart, "my loans"
(status, time left, renew, return, read), the loan request form and the reader of lent content. Same
actions, service calls and audit events as the API routes beside them (node/lending/routes.py): each
decision is the event the service writes for it.

The cart is a cookie of item ids (bound to the borrower's id, at most `CART_MAX`, each id checked when
added and again when shown): it changes nothing in the archive, so its posts' events are the
middleware's plain ones (`cart:add`, `cart:remove`).

The reader (`/my-loans/{loan}/items/{item}` and its `/pages/{n}.png`) asks `authorize_content` at every
request, exactly as `GET /items/{id}/content` does, and writes the same `items:content` event for every
view, allowed or refused (the middleware covers only the API's content route, so the reader writes its
event itself, through the same `RequestAudit`). Pages are rendered and watermarked by
node/lending/reader.py; the original bytes never leave through the reader."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import Response

from node.audit.request import RequestAudit, note_refusal, request_audit
from node.core import web
from node.core.context import NodeContext
from node.core.deps import audit_as, get_ctx, require
from node.core.errors import Conflict, Forbidden, InvalidInput, NodeError, NotFound
from node.core.models import Item
from node.core.principal import Principal, check_fonds
from node.lending import reader
from node.lending.access import authorize_content
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
        audit.recorded_elsewhere()  # the request's events are its decisions'
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
    renewing = {x["renewal_of"] for x in loans if x["renewal_of"] and x["status"] == "REQUESTED"}
    return web.render(request, "lending/my_loans.html", loans=loans, renewing=renewing,
                      left={x["id"]: time_left(x["expires_at"], now) for x in loans}, left_text=_left_text)  # fmt: skip


@router.post("/my-loans/{loan_id}/renew", dependencies=[Depends(audit_as("loans:renew"))])
def renew_loan(
    loan_id: str, request: Request, ctx: Ctx, principal: Borrower, days: Annotated[int, Form(ge=1, le=366)],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:  # fmt: skip
    """Ask for more time (续借, POST /loans/{id}/renew): a renewal request the approvers decide."""
    ctx.lending().renew(principal, loan_id, reason, days=days, audit=request_audit(request))
    return web.redirect("/my-loans", "renew.requested")


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
                  days: int = 7, q: str = "", from_cart: bool = False) -> Response:  # fmt: skip
    if from_cart:  # the cart's items, all ticked
        candidates = _cart_items(ctx, principal, cart_ids(request, principal))
        chosen = [c["id"] for c in candidates] if chosen is None else chosen
    else:
        candidates = _candidates(ctx, principal, q)
    return web.render(request, "lending/request.html", status_code=status, error=error, items=items, purpose=purpose,
                      days=days, q=q, candidates=candidates, chosen=set(chosen or []), from_cart=from_cart)  # fmt: skip


@router.get("/my-loans/new")
def loan_form(
    request: Request, ctx: Ctx, principal: Borrower, items: Annotated[str, Query(max_length=20000)] = "",
    q: Annotated[str, Query(max_length=200)] = "", cart: Annotated[bool, Query()] = False,
) -> Response:  # fmt: skip
    """The request form; `?cart=1`: pre-filled with the request cart's items."""
    return _request_page(request, ctx, principal, items=items, q=q, from_cart=cart)


@router.post("/my-loans/new")
def request_loan(
    request: Request, ctx: Ctx, principal: Borrower,
    purpose: Annotated[str, Form(max_length=2000)], days: Annotated[int, Form(ge=1, le=366)],
    items: Annotated[str, Form(max_length=20000)] = "",
    item: Annotated[list[str] | None, Form(max_length=500)] = None,
    from_cart: Annotated[bool, Form()] = False,
) -> Response:  # fmt: skip
    """The loan request: ticked items and/or item ids typed in (one a line, or separated by spaces or
    commas), a purpose, a period in days. Sent from the cart, the cart is emptied once the request is made."""
    ids = list(dict.fromkeys([*(item or []), *(part for part in items.replace(",", " ").split() if part)]))
    try:
        ctx.lending().request(principal, ids, purpose, datetime.now(UTC) + timedelta(days=days),
                              audit=request_audit(request))  # fmt: skip
    except NodeError as exc:
        note_refusal(request, exc.reason)
        return _request_page(request, ctx, principal, error=exc.reason, status=exc.status, items=items,
                             chosen=item or [], purpose=purpose, days=days, from_cart=from_cart)  # fmt: skip
    answer = web.redirect("/my-loans", "loans.requested")
    if from_cart:
        answer.delete_cookie(CART_COOKIE, path="/")
    return answer


# -- the request cart -------------------------------------------------------------------------------------
CART_COOKIE = "al_cart"
CART_MAX = 50  # items a cart holds
ITEM_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


def cart_ids(request: Request, principal: Principal) -> list[str]:
    """The cart's item ids: the cookie is "<user id>:<id>.<id>..."; another user's cart (a shared browser)
    or ids of a wrong shape count as nothing."""
    owner, _, ids = request.cookies.get(CART_COOKIE, "").partition(":")
    if owner != principal.id:
        return []
    return list(dict.fromkeys(i for i in ids.split(".") if ITEM_ID.match(i)))[:CART_MAX]


def _keep_cart(request: Request, response: Response, principal: Principal, ids: list[str]) -> None:
    if ids:
        web.set_cookie(request, response, CART_COOKIE, f"{principal.id}:{'.'.join(ids)}", max_age=30 * 86400)
    else:
        response.delete_cookie(CART_COOKIE, path="/")


def _cart_items(ctx: NodeContext, principal: Principal, ids: list[str]) -> list[dict[str, Any]]:
    """The cart's items still there and within the caller's fonds, in the cart's order."""
    from sqlalchemy import select

    if not ids:
        return []
    with ctx.reader() as s:
        rows = {i.id: i for i in s.scalars(select(Item).where(Item.id.in_(ids)))}
    return [{"id": i, "title": rows[i].title, "fonds": rows[i].fonds_code, "code": rows[i].archival_code or ""}
            for i in ids if i in rows and principal.covers(rows[i].fonds_code)]  # fmt: skip


@router.get("/cart")
def cart(request: Request, ctx: Ctx, principal: Borrower) -> Response:
    """The request cart: its items, remove, add by id, and "request these" (the loan form, pre-filled)."""
    items = _cart_items(ctx, principal, cart_ids(request, principal))
    return web.render(request, "lending/cart.html", items=items, cart_max=CART_MAX)


@router.post("/cart/add", dependencies=[Depends(audit_as("cart:add"))])
def cart_add(
    request: Request, ctx: Ctx, principal: Borrower, item_id: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=2000)] = "/cart",
) -> Response:  # fmt: skip
    """Add an item (the "add to cart" buttons of search results and item pages); back to `next`."""
    item_id = item_id.strip()
    request_audit(request).declare(target=f"item:{item_id[:64]}")
    if not ITEM_ID.match(item_id):
        raise InvalidInput("not an item id", reason="bad_item_id")
    with ctx.reader() as s:
        item = s.get(Item, item_id)
        if item is None:
            raise NotFound(f"no item {item_id}", reason="item_not_found")
        check_fonds(principal, item.fonds_code)
    ids = cart_ids(request, principal)
    if item_id not in ids:
        if len(ids) >= CART_MAX:
            raise Conflict(f"the cart holds at most {CART_MAX} items: request these first", reason="cart_full")
        ids.append(item_id)
    answer = web.redirect(web.local_path(next, "/cart"), "cart.added")
    _keep_cart(request, answer, principal, ids)
    return answer


@router.post("/cart/remove", dependencies=[Depends(audit_as("cart:remove"))])
def cart_remove(
    request: Request, principal: Borrower, item_id: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=2000)] = "/cart",
) -> Response:  # fmt: skip
    request_audit(request).declare(target=f"item:{item_id[:64]}")
    ids = [i for i in cart_ids(request, principal) if i != item_id.strip()]
    answer = web.redirect(web.local_path(next, "/cart"), "cart.removed")
    _keep_cart(request, answer, principal, ids)
    return answer


# -- reading lent content -----------------------------------------------------------------------------------
READER = "/my-loans/{loan_id}/items/{item_id}"


def _content_event(request: Request, ctx: NodeContext, route: str, **details: Any) -> RequestAudit:
    """The `items:content` event of one reader view, as the audit middleware opens it for GET
    /items/{id}/content (the same class, action and details), written by `_viewed` / `_refused`."""
    event = RequestAudit(
        scope_state=request.scope.setdefault("state", {}), method="GET", route=route, path=request.url.path,
        source_ip=request.client.host if request.client else None, action="items:content",
        default_fonds=ctx.settings.default_fonds,
    )  # fmt: skip
    event.declare(**details)
    return event


def _lent_item(request: Request, ctx: NodeContext, principal: Principal, loan_id: str, item_id: str,
               event: RequestAudit) -> tuple[Item, Any]:  # fmt: skip
    """The item of the borrower's loan, if its content may be read now: this loan is APPROVED (its own
    refusal reason otherwise) and `authorize_content` allows it, as for GET /items/{id}/content (a loan
    approved and not ended, the permit valid on chain now)."""
    loan = ctx.lending().get(principal, loan_id)  # 404 for a loan that is not the caller's
    if item_id not in {x["item_id"] for x in loan["items"]}:
        raise NotFound(f"loan {loan_id} has no item {item_id}", reason="item_not_found")
    with ctx.reader() as s:
        item = s.get(Item, item_id)
    if item is None:
        raise NotFound(f"no item {item_id}", reason="item_not_found")
    event.declare(fonds=item.fonds_code)
    if loan["status"] != "APPROVED":  # this loan's own reason (another loan of the item would say another)
        reason = f"loan_{loan['status'].lower()}"
        event.declare(permit_check=reason, loan_id=loan_id)
        check_fonds(principal, item.fonds_code)
        raise Forbidden(f"loan {loan_id} is {loan['status']}: its content cannot be read", reason=reason)
    access = authorize_content(ctx, principal, item, audit=event)
    path = ctx.blobs.path_for(item.content_sha256)
    if not path.exists():
        raise NotFound(f"the stored file of item {item_id} is missing", reason="blob_missing")
    return item, access


def _write(ctx: NodeContext, event: RequestAudit, error: Exception | None = None) -> None:
    with ctx.sessions() as s, s.begin():
        if error is None:
            event.record(s, details={"status": 200})
        elif isinstance(error, NodeError):
            event.record_failure(s, error)
        else:
            event.record(s, details={"status": 500}, outcome="failed")


def _watermark_text(request: Request, ctx: NodeContext, principal: Principal, loan_id: str) -> str:
    with ctx.reader() as s:
        user = users.get_user(s, principal.id)
    who = f"{user.display_name} ({user.username})" if user.display_name else user.username
    return web.translate(web.language_of(request), "reader.watermark", name=who, loan=loan_id[:8],
                         time=web.format_time(datetime.now(UTC)))  # fmt: skip


@router.get(READER)
def read_item(loan_id: str, item_id: str, request: Request, ctx: Ctx, principal: Borrower) -> Response:
    """The reader: the item's pages as watermarked images (PDF pages, image frames), or a message that its
    format cannot be shown inline. Refused (403 with the reason) once the loan ended or its permit did."""
    event = _content_event(request, ctx, READER, view="reader", loan=loan_id)
    try:
        item, _access = _lent_item(request, ctx, principal, loan_id, item_id, event)
        path = ctx.blobs.path_for(item.content_sha256)
        kind = reader.kind_of(path)
        pages = reader.page_count(path, kind) if kind != reader.OTHER else 0
        watermark = _watermark_text(request, ctx, principal, loan_id)
        event.declare(format=kind, pages=pages)
    except Exception as exc:
        _write(ctx, event, exc)
        raise
    _write(ctx, event)
    return web.render(request, "lending/reader.html", item=item, loan_id=loan_id, kind=kind, pages=pages,
                      watermark=watermark, max_pages=reader.MAX_PAGES)  # fmt: skip


@router.get(READER + "/pages/{n}.png")
def read_page(
    loan_id: str, item_id: str, n: Annotated[int, Path(ge=1, le=reader.MAX_PAGES)], request: Request, ctx: Ctx,
    principal: Borrower,
) -> Response:  # fmt: skip
    """One page as a PNG with the watermark burnt in (the borrower and the time); never cached."""
    event = _content_event(request, ctx, READER + "/pages/{n}.png", view="page", loan=loan_id, page=n)
    try:
        item, _access = _lent_item(request, ctx, principal, loan_id, item_id, event)
        path = ctx.blobs.path_for(item.content_sha256)
        kind = reader.kind_of(path)
        if kind == reader.OTHER:
            raise InvalidInput("this format cannot be shown inline", reason="format_not_shown")
        if n > reader.page_count(path, kind):
            raise NotFound(f"item {item_id} has no page {n}", reason="no_such_page")
        png = reader.png_bytes(reader.watermarked(reader.render_page(path, kind, n),
                                                  _watermark_text(request, ctx, principal, loan_id)))  # fmt: skip
    except Exception as exc:
        _write(ctx, event, exc)
        raise
    _write(ctx, event)
    return Response(png, media_type="image/png", headers={
        "cache-control": "no-store", "x-content-type-options": "nosniff",
        "content-disposition": f'inline; filename="{item_id[:12]}-{n}.png"'})  # fmt: skip
