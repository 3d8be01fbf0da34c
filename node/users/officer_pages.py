"""The officers' pages (issue 11, point 6), each officer seeing only their own powers:

- system admin (users:manage): accounts (list with status and roles, create with an initial password and
  "must change password", disable / enable, start a password reset) and API keys (list, create: the new key
  is shown once, in the answer to the form, and never again; revoke);
- security admin (roles:grant): business roles per account (the approver role also on chain, signed with the
  security admin's own key, unlocked by their password for that one request) and the password resets the
  system admin started, to confirm;
- every officer (users:read to see, an officer role to act): officer role changes, proposed by one officer
  and confirmed by another.

Same actions, service calls, audit targets and details as the API routes beside them (node/users/routes.py);
a refused form shows the page again with the reason (`p.error[data-reason]`), the middleware writes the
request's one event (denied or failed) and nothing changes. These routes are included by node/users/pages.py,
whose router adds the session and CSRF dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from node.audit.middleware import audited
from node.audit.request import note_refusal
from node.core import web
from node.core.context import NodeContext
from node.core.deps import audit_as, current_principal, get_ctx, require
from node.core.errors import InvalidInput, NodeError
from node.core.models import ApiKey, OfficerProposal, User
from node.core.principal import Principal
from node.core.roles import BUSINESS_ROLES, OFFICERS
from node.core.types import PathInt
from node.users import service as users
from node.users.routes import OFFICER_ONLY, _officer, _user_principal

router = APIRouter(include_in_schema=False, tags=["pages"])
Ctx = Annotated[NodeContext, Depends(get_ctx)]
Manager = Annotated[Principal, Depends(require("users:manage"))]
Reader = Annotated[Principal, Depends(require("users:read"))]
Granter = Annotated[Principal, Depends(require("roles:grant"))]
Anyone = Annotated[Principal, Depends(current_principal)]
# Form fields default to empty: a missing field is the service's clear refusal (bad_username, unknown_role...),
# shown on the page, and an officer-only form checks the caller before anything else.
Name = Annotated[str, Form(max_length=64)]
Secret = Annotated[str, Form(max_length=1024)]
Short = Annotated[str, Form(max_length=200)]
BUSINESS = sorted(r.value for r in BUSINESS_ROLES)
OFFICER_ROLES = sorted(r.value for r in OFFICERS)


def _page(request: Request, template: str, status: int = 200, **values: Any) -> Response:
    return web.render(request, template, status_code=status, min_length=users.PASSWORD_MIN_LENGTH, **values)


def _refused(request: Request, exc: NodeError, page: Callable[..., Response], **values: Any) -> Response:
    """The page again with the reason of a refused form (the request's event says the same)."""
    note_refusal(request, exc.reason)
    answer = page(error=exc.reason, status=exc.status, **values)
    answer.headers.update(getattr(exc, "headers", None) or {})
    return answer


# -- system admin: accounts ------------------------------------------------------------------------------
def _listing(request: Request, ctx: NodeContext) -> dict[str, Any]:
    """One page of the account list (`find`: a username prefix or part of a display name; `page` from 1), as
    the link or the filter form asked; bad values fall back to the first page of everyone."""
    find = request.query_params.get("find", "")[:64].strip()
    try:
        page = min(max(int(request.query_params.get("page", "1")), 1), 100_000)
    except ValueError:
        page = 1
    with ctx.reader() as s:
        shown = users.user_views(s, find=find, offset=(page - 1) * users.ACCOUNTS_PAGE, limit=users.ACCOUNTS_PAGE + 1)
    return {"accounts": shown[: users.ACCOUNTS_PAGE], "find": find, "page": page,
            "more": len(shown) > users.ACCOUNTS_PAGE}  # fmt: skip


def _accounts_page(request: Request, ctx: NodeContext, *, error: str | None = None, status: int = 200,
                   form: dict[str, Any] | None = None) -> Response:  # fmt: skip
    return _page(request, "users/accounts.html", status, **_listing(request, ctx), error=error,
                 form=form or {"username": "", "display_name": "", "must_change": True})  # fmt: skip


@router.get("/accounts")
def accounts(request: Request, ctx: Ctx, _p: Manager) -> Response:
    """Every account with its status (active, disabled, password reset pending / to be changed) and roles."""
    return _accounts_page(request, ctx)


@router.post("/accounts")
def create_account(
    request: Request, ctx: Ctx, principal: Manager, username: Name = "", password: Secret = "",
    display_name: Short = "", must_change_password: Annotated[str, Form(max_length=8)] = "",
) -> Response:  # fmt: skip
    """POST /users: a new account without roles, its initial password, "must change password" if ticked."""
    must_change = must_change_password in ("1", "on", "true")
    details = {"op": "create", "username": username, "must_change_password": must_change}
    try:
        with audited(ctx, request, "/users", details) as s:
            users.create_account(s, username, password, display_name=display_name, must_change_password=must_change,
                                 created_by=principal.id, scrypt_n=ctx.settings.chain_key_scrypt_n)  # fmt: skip
    except NodeError as exc:
        form = {"username": username, "display_name": display_name, "must_change": must_change}
        return _refused(request, exc, lambda **kw: _accounts_page(request, ctx, **kw), form=form)
    return web.redirect("/accounts", "officers.account_created")


def _account_change(request: Request, ctx: NodeContext, ref: str, details: dict[str, Any],
                    change: Callable[[Any, Any], None], notice: str) -> Response:  # fmt: skip
    try:
        with audited(ctx, request, f"/users/{ref}", details) as s:
            change(s, users.find_user(s, ref))
    except NodeError as exc:
        return _refused(request, exc, lambda **kw: _accounts_page(request, ctx, **kw))
    return web.redirect("/accounts", notice)


@router.post("/accounts/{ref}/disable")
def disable_account(ref: str, request: Request, ctx: Ctx, principal: Manager) -> Response:
    """POST /users/{ref}/disable: no more logins, the account's sessions end."""
    return _account_change(request, ctx, ref, {"op": "disable"},
                           lambda s, user: users.disable_user(s, user, actor_id=principal.id),
                           "officers.account_disabled")  # fmt: skip


@router.post("/accounts/{ref}/enable")
def enable_account(ref: str, request: Request, ctx: Ctx, _p: Manager) -> Response:
    """POST /users/{ref}/enable."""
    return _account_change(request, ctx, ref, {"op": "enable"}, users.enable_user, "officers.account_enabled")


@router.post("/accounts/{ref}/password")
def reset_password(ref: str, request: Request, ctx: Ctx, _p: Manager, password: Secret = "") -> Response:
    """POST /users/{ref}/password: the first step of a reset; the account is locked for login until the
    security admin confirms (the password resets page), then the user must change the password."""
    details = {"op": "password_reset", "state": users.RESET_PENDING}
    return _account_change(request, ctx, ref, details, lambda s, user: users.set_password(s, user, password),
                           "officers.reset_started")  # fmt: skip


# -- system admin: API keys ------------------------------------------------------------------------------
def _keys_page(request: Request, ctx: NodeContext, principal: Principal, *, error: str | None = None,
               status: int = 200, new_key: str | None = None, new_name: str = "") -> Response:  # fmt: skip
    with ctx.reader() as s:
        keys = [users.api_key_view(k) for k in s.scalars(select(ApiKey).order_by(ApiKey.id))]
    return _page(request, "users/keys.html", status, keys=keys, error=error, new_key=new_key, new_name=new_name,
                 offered=sorted(users.api_key_actions_for(principal)))  # fmt: skip


@router.get("/keys")
def api_keys(request: Request, ctx: Ctx, principal: Manager) -> Response:
    """Every API key (name, actions, fonds, revoked); never a key itself (only its SHA-256 is stored)."""
    return _keys_page(request, ctx, principal)


@router.post("/keys")
def create_api_key(
    request: Request, ctx: Ctx, principal: Manager, name: Short = "",
    action: Annotated[list[str] | None, Form(max_length=20)] = None, fonds: Annotated[str, Form(max_length=2000)] = "",
) -> Response:  # fmt: skip
    """POST /api-keys: a key with the ticked actions (the maker's own) and a fonds list (empty: every fonds).
    The answer shows the key, once: it is not stored and no page shows it again."""
    actions = sorted(set(action or []))
    fonds_list = sorted({f for f in fonds.replace(",", " ").split() if f}) or None
    details = {"op": "create_api_key", "name": name, "actions": actions, "fonds": fonds_list}
    try:
        if not name.strip():
            raise InvalidInput("an API key needs a name", reason="no_key_name")
        with audited(ctx, request, "/api-keys", details) as s:
            _row, key = users.create_api_key(s, name, actions, fonds_list, created_by=principal.id,
                                             allowed=users.api_key_actions_for(principal))  # fmt: skip
    except NodeError as exc:
        return _refused(request, exc, lambda **kw: _keys_page(request, ctx, principal, **kw))
    return _keys_page(request, ctx, principal, new_key=key, new_name=name)


@router.post("/keys/{key_id}/revoke")
def revoke_api_key(key_id: PathInt, request: Request, ctx: Ctx, principal: Manager) -> Response:
    """DELETE /api-keys/{id}: the key no longer opens anything."""
    try:
        with audited(ctx, request, f"/api-keys/{key_id}", {"op": "revoke_api_key"}) as s:
            users.revoke_api_key(s, key_id)
    except NodeError as exc:
        return _refused(request, exc, lambda **kw: _keys_page(request, ctx, principal, **kw))
    return web.redirect("/keys", "officers.key_revoked")


# -- security admin: roles and password resets -----------------------------------------------------------
def _roles_page(request: Request, ctx: NodeContext, principal: Principal, *, error: str | None = None,
                status: int = 200, form: dict[str, str] | None = None) -> Response:  # fmt: skip
    return _page(request, "users/roles.html", status, **_listing(request, ctx), error=error, business=BUSINESS,
                 officer_roles=set(OFFICER_ROLES), form=form or {"user": "", "role": ""})  # fmt: skip


@router.get("/roles")
def roles(request: Request, ctx: Ctx, principal: Granter) -> Response:
    """Business roles per account, to grant or revoke (officer roles: the officer changes page)."""
    return _roles_page(request, ctx, principal)


@router.post("/roles")
def change_role(
    request: Request, ctx: Ctx, principal: Granter, user: Name = "", role: Annotated[str, Form(max_length=32)] = "",
    change: Annotated[str, Form(pattern="^(grant|revoke)$")] = "grant", password: Secret = "",
) -> Response:  # fmt: skip
    """POST /users/{ref}/roles (grant) or DELETE /users/{ref}/roles/{role} (revoke). The approver role is
    changed on chain too, signed with the security admin's own key: their password unlocks it for this
    request only (422 `password_required` without it, 401 `bad_credentials` with a wrong one)."""
    _user_principal(principal)
    grant = change == "grant"
    try:
        with audited(ctx, request, f"/users/{user}", {"op": change, "role": role}) as s:
            target = users.find_user(s, user)
            users.change_role(s, principal, target, role, password or None, grant=grant, chain=ctx.chain,
                              roles_address=ctx.settings.roles_address)  # fmt: skip
    except NodeError as exc:
        return _refused(request, exc, lambda **kw: _roles_page(request, ctx, principal, **kw),
                        form={"user": user, "role": role})  # fmt: skip
    return web.redirect("/roles", "officers.role_granted" if grant else "officers.role_revoked")


def _resets_page(request: Request, ctx: NodeContext, *, error: str | None = None, status: int = 200) -> Response:
    with ctx.reader() as s:
        accounts = users.user_views(s, reset="any")
    pending = [a for a in accounts if a["password_reset"] == users.RESET_PENDING]
    waiting = [a for a in accounts if a["password_reset"] == users.MUST_CHANGE]
    return _page(request, "users/resets.html", status, pending=pending, waiting=waiting, error=error)


@router.get("/password-resets")
def password_resets(request: Request, ctx: Ctx, _p: Granter) -> Response:
    """The resets the system admin started, waiting for this officer's confirmation (and the accounts whose
    owner must still change the password)."""
    return _resets_page(request, ctx)


@router.post("/password-resets/{ref}/confirm")
def confirm_password_reset(ref: str, request: Request, ctx: Ctx, principal: Granter) -> Response:
    """POST /users/{ref}/password/confirm: the user may log in again and must change the password first."""
    _user_principal(principal)
    details = {"op": "password_reset_confirm", "state": users.MUST_CHANGE}
    try:
        with audited(ctx, request, f"/users/{ref}", details) as s:
            users.confirm_password_reset(s, principal, users.find_user(s, ref))
    except NodeError as exc:
        return _refused(request, exc, lambda **kw: _resets_page(request, ctx, **kw))
    return web.redirect("/password-resets", "officers.reset_confirmed")


# -- every officer: officer role changes (two officers) --------------------------------------------------
def pending_proposals(ctx: NodeContext, principal: Principal) -> list[dict[str, Any]]:
    """Proposals this officer may confirm: pending, made by another officer, not about their own account."""
    with ctx.reader() as s:
        rows = s.scalars(select(OfficerProposal).where(OfficerProposal.status == "PENDING")
                         .order_by(OfficerProposal.proposed_at))  # fmt: skip
        mine = [p for p in rows if principal.id not in (p.proposed_by, p.target_user_id)]
        targets = {p.target_user_id for p in mine}
        names = dict(s.execute(select(User.id, User.username).where(User.id.in_(targets))).all())
        return [{**users.proposal_view(p), "target": names.get(p.target_user_id, p.target_user_id)} for p in mine]


def _proposals_page(request: Request, ctx: NodeContext, principal: Principal, *, error: str | None = None,
                    status: int = 200, form: dict[str, str] | None = None) -> Response:  # fmt: skip
    with ctx.reader() as s:
        rows = s.scalars(select(OfficerProposal).order_by(OfficerProposal.proposed_at.desc()).limit(200))
        proposals = [users.proposal_view(p) for p in rows]
        accounts = users.user_views(s)
    names = {a["id"]: a["username"] for a in accounts}
    return _page(request, "users/officer_changes.html", status, error=error,
                 pending=[p for p in proposals if p["status"] == "PENDING"],
                 closed=[p for p in proposals if p["status"] != "PENDING"][:50], names=names,
                 accounts=[a for a in accounts if a["id"] != principal.id], officer_roles=OFFICER_ROLES,
                 acts=bool(principal.roles & set(OFFICER_ROLES)),
                 form=form or {"user": "", "role": "", "change": "grant"})  # fmt: skip


@router.get("/officer-changes")
def officer_changes(request: Request, ctx: Ctx, principal: Reader) -> Response:
    """GET /officer-proposals as a page: pending changes (confirm those another officer proposed), the form
    to propose one, and the changes already confirmed."""
    return _proposals_page(request, ctx, principal)


@router.post("/officer-changes", openapi_extra=OFFICER_ONLY, dependencies=[Depends(audit_as("officers:propose"))])
def propose_officer_change(
    request: Request, ctx: Ctx, principal: Anyone, user: Name = "", role: Annotated[str, Form(max_length=32)] = "",
    change: Annotated[str, Form(pattern="^(grant|revoke)$")] = "grant",
) -> Response:  # fmt: skip
    """POST /officer-proposals: another officer confirms it before it applies."""
    _officer(principal)
    details = {"op": "propose", "role": role, "change": change, "user": user}
    try:
        with audited(ctx, request, "/officer-proposals", details) as s:
            users.propose_officer_change(s, principal, users.find_user(s, user), role, grant=change == "grant")
    except NodeError as exc:
        return _refused(request, exc, lambda **kw: _proposals_page(request, ctx, principal, **kw),
                        form={"user": user, "role": role, "change": change})  # fmt: skip
    return web.redirect("/officer-changes", "officers.proposed")


@router.post(
    "/officer-changes/{proposal_id}/confirm", openapi_extra=OFFICER_ONLY,
    dependencies=[Depends(audit_as("officers:confirm"))],
)  # fmt: skip
def confirm_officer_change(proposal_id: str, request: Request, ctx: Ctx, principal: Anyone) -> Response:
    """POST /officer-proposals/{id}/confirm: the change applies at once."""
    _officer(principal)
    try:
        with audited(ctx, request, f"/officer-proposals/{proposal_id}", {"op": "confirm"}) as s:
            users.confirm_officer_change(s, principal, proposal_id)
    except NodeError as exc:
        return _refused(request, exc, lambda **kw: _proposals_page(request, ctx, principal, **kw))
    return web.redirect("/officer-changes", "officers.confirmed")
