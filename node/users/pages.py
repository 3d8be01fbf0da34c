"""Web pages for everyone (issue 11): login (with the forced password change), logout, language switch,
own profile, and the role-aware home page. The login and password forms go through the same code as
POST /auth/login and POST /me/password (node/users/auth_routes.py): same rate limits, lockout and events.
The officers' pages are in node/users/officer_pages.py, included in this router (its session and CSRF
dependencies apply to them)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from node.audit.middleware import audited
from node.audit.request import note_refusal
from node.core import web
from node.core.context import NodeContext
from node.core.deps import audit_as, current_principal, get_ctx
from node.core.errors import NodeError
from node.core.principal import Principal
from node.core.roles import OFFICERS
from node.users import auth_routes as auth
from node.users import officer_pages
from node.users import service as users

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(web.page_session), Depends(web.check_csrf)], tags=["pages"]
)
Ctx = Annotated[NodeContext, Depends(get_ctx)]
Me = Annotated[Principal, Depends(current_principal)]
Text = Annotated[str, Form(max_length=1024)]
ENDING_SOON = timedelta(days=3)  # a borrower's approved loans ending within this show on the home page


@router.get("/")
def home(request: Request, ctx: Ctx, principal: Me) -> Response:
    """The dashboard: what this person has to do, one section per power they hold."""
    return web.render(request, "users/home.html", sections=dashboard(ctx, principal))


def dashboard(ctx: NodeContext, principal: Principal) -> dict[str, Any]:
    sections: dict[str, Any] = {}
    if principal.may("loans:decide"):
        pending = ctx.lending().list(principal, status="requested", limit=1000)["loans"]
        sections["approvals"] = [loan for loan in pending if loan["borrower_id"] != principal.id]
    if principal.may("loans:request"):
        sections["my_loans"] = ctx.lending().list(principal, mine=True, limit=20)["loans"]
        sections["ending"] = ending_soon(ctx, principal)
    if principal.may("items:ingest") and principal.kind == "user":
        from node.preservation.service import list_alerts

        with ctx.reader() as s:
            sections["alerts"] = list_alerts(s, open_only=True, fonds=principal.fonds, limit=20)
        sections["jobs"] = ctx.filing_jobs().recent(principal, limit=10)  # running ones with their progress
    if principal.may("audit:read"):
        sections["audit"] = True
    if principal.may("users:manage"):
        with ctx.reader() as s:
            counts = users.account_counts(s)
            pending = users.user_views(s, reset=users.RESET_PENDING, limit=20) if counts["resets"] else []
        sections["accounts"] = {**counts, "resets": pending}
    if principal.may("roles:grant"):
        with ctx.reader() as s:
            sections["resets"] = users.user_views(s, reset=users.RESET_PENDING, limit=20)
    if principal.kind == "user" and principal.roles & {r.value for r in OFFICERS}:
        sections["proposals"] = officer_pages.pending_proposals(ctx, principal)
    return sections


def ending_soon(ctx: NodeContext, principal: Principal) -> list[dict[str, Any]]:
    """The borrower's approved loans that end within ENDING_SOON, soonest first, with the time left."""
    now = datetime.now(UTC)
    loans = ctx.lending().list(principal, status="approved", mine=True, limit=1000)["loans"]
    soon = [loan for loan in loans if datetime.fromisoformat(loan["expires_at"]) - now <= ENDING_SOON]
    return sorted(soon, key=lambda loan: loan["expires_at"])


# -- login, logout, language ----------------------------------------------------------------------------
@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    if getattr(request.state, "session_token", None):
        return web.redirect(web.local_path(next))
    return web.render(request, "users/login.html", next=web.local_path(next, ""), error=None, username="")


@router.post("/login", dependencies=[Depends(audit_as("auth:login"))])
def login(
    request: Request, ctx: Ctx, username: Annotated[str, Form(max_length=64)], password: Text,
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:  # fmt: skip
    """POST /auth/login's code; a refusal shows the form again with the reason (401, 429, 503)."""
    try:
        body = auth.LoginRequest(username=username, password=password)
        answer = auth.login(body, request, ctx)
    except (NodeError, ValidationError) as exc:
        reason = getattr(exc, "reason", "invalid_input")
        note_refusal(request, reason)
        status = getattr(exc, "status", 422)
        page = web.render(request, "users/login.html", status_code=status, next=web.local_path(next, ""),
                          error=reason, username=username)  # fmt: skip
        page.headers.update(getattr(exc, "headers", None) or {})
        return page
    target = "/password" if answer.get("password_change_required") else web.local_path(next)
    page = web.redirect(target)
    web.start_session(request, page, answer["token"])
    return page


@router.post("/logout", dependencies=[Depends(audit_as("auth:logout"))])
def logout(request: Request, ctx: Ctx) -> Response:
    """Ends the cookie's session (its token is revoked, as POST /auth/logout does). A bearer caller is only
    named in the event (its token is not this page's to end)."""
    principal = getattr(request.state, "principal", None)
    if principal is None and request.headers.get("authorization"):
        with contextlib.suppress(NodeError):
            principal = current_principal(request)  # (cached in request.state: the audit event names it)
    page = web.redirect("/login", "login.logged_out")
    web.end_session(page)
    token = getattr(request.state, "session_token", None)
    if principal is not None and token:
        with audited(ctx, request, "/auth/logout") as s:
            users.logout(s, token)
    return page


@router.post("/lang")
def switch_language(request: Request, lang: Annotated[str, Form(max_length=16)],
                    next: Annotated[str, Form(max_length=2000)] = "/") -> Response:  # fmt: skip
    page = web.redirect(web.local_path(next))
    if lang in web.LANGUAGES:
        web.set_cookie(request, page, web.LANG_COOKIE, lang, max_age=365 * 86400)
    return page


# -- own profile and password ---------------------------------------------------------------------------
@router.get("/profile")
def profile(request: Request, ctx: Ctx, principal: Me) -> Response:
    user = None
    if principal.kind == "user":
        with ctx.reader() as s:
            user = users.user_view(s, users.get_user(s, principal.id))
    return web.render(request, "users/profile.html", user=user, actions=sorted(principal.actions))


@router.get("/password")
def password_form(request: Request, principal: Me) -> Response:
    return _password_page(request, principal, None)


def _password_page(request: Request, principal: Principal, error: str | None, status: int = 200) -> Response:
    return web.render(request, "users/password.html", status_code=status, error=error,
                      forced=principal.must_change_password, min_length=users.PASSWORD_MIN_LENGTH)  # fmt: skip


@router.post("/password", dependencies=[Depends(audit_as("auth:password"))])
def change_password(
    request: Request, ctx: Ctx, principal: Me, old_password: Text, new_password: Text, repeat_password: Text
) -> Response:
    """POST /me/password's code: every session ends (this one too), so the next page is the login."""
    try:
        if new_password != repeat_password:
            note_refusal(request, "passwords_differ")
            return _password_page(request, principal, "passwords_differ", 422)
        auth.change_own_password(auth.PasswordChange(old_password=old_password, new_password=new_password),
                                 request, ctx, principal)  # fmt: skip
    except NodeError as exc:
        note_refusal(request, exc.reason)
        page = _password_page(request, principal, exc.reason, exc.status)
        page.headers.update(getattr(exc, "headers", None) or {})
        return page
    page = web.redirect("/login", "password.changed")
    web.end_session(page)
    return page


router.include_router(officer_pages.router)  # the officers' pages, behind this router's session and CSRF checks
