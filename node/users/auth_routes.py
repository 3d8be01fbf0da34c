"""Login, logout, who am I, own password."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from node.audit.middleware import audited, source_ip
from node.audit.request import request_audit
from node.core.context import NodeContext
from node.core.deps import audit_as, bearer_token, current_principal, get_ctx
from node.core.errors import Forbidden, InvalidInput, Unauthorized
from node.core.principal import Principal
from node.users import service as users
from node.users.schemas import LoggedOut, LoginAnswer, PasswordChanged, PrincipalView

router = APIRouter(tags=["auth"])
Ctx = Annotated[NodeContext, Depends(get_ctx)]
Me = Annotated[Principal, Depends(current_principal)]


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class PasswordChange(BaseModel):
    old_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


def principal_view(principal: Principal) -> dict[str, Any]:
    return {
        "kind": principal.kind, "id": principal.id, "name": principal.name, "roles": sorted(principal.roles),
        "actions": sorted(principal.actions), "fonds": sorted(principal.fonds) if principal.fonds is not None else None,
    }  # fmt: skip


@router.post("/auth/login", dependencies=[Depends(audit_as("auth:login"))], response_model=LoginAnswer)
def login(body: LoginRequest, request: Request, ctx: Ctx) -> dict[str, Any]:
    """A bearer token `alt_...` valid for `token_ttl_s`. 401 `bad_credentials` (unknown user, wrong
    password or disabled account: one answer) / `reset_not_confirmed` (a reset by the system admin awaits
    the security admin's confirmation); 429 `login_locked` after too many failures, 503 `login_busy` when
    too many logins run at once (both with Retry-After; docs/design.md, "Login policy")."""
    request_audit(request).declare(username=body.username)
    guard, address = ctx.login_guard(), source_ip(request)
    guard.check(body.username.lower(), address)  # 429 `login_locked` (node/users/login_guard.py)
    with guard.slot():  # 503 `login_busy` beyond `login_concurrency` password checks at once
        try:
            with ctx.sessions() as s, s.begin():
                session = users.login(s, body.username, body.password, ttl_s=ctx.settings.token_ttl_s)
                roles = users.roles_of(s, session.user.id)
                must_change = session.user.password_reset_state == users.MUST_CHANGE
                principal = Principal("user", session.user.id, session.user.username, roles,
                                      users.actions_of(roles), None, must_change)  # fmt: skip
                view = users.user_view(s, session.user)
        except Unauthorized as exc:
            if exc.reason == "bad_credentials":
                guard.failed(body.username.lower(), address)
            raise
    guard.succeeded(body.username.lower())
    # A second short transaction for the event: the token row must exist even if the trail is busy.
    request.state.principal = principal
    with audited(ctx, request, "/auth/login", {"username": body.username}):
        pass
    answer = {"token": session.token, "expires_at": session.expires_at.isoformat(), "user": view}
    if must_change:
        answer["password_change_required"] = True  # this token may only change the password (POST /me/password)
    return answer


@router.post(
    "/auth/logout",
    openapi_extra={"x-principal": "user"},
    dependencies=[Depends(audit_as("auth:logout"))],
    response_model=LoggedOut,
)
def logout(request: Request, ctx: Ctx, principal: Me) -> dict[str, Any]:
    """Revoke the token this request carries (API keys are revoked through /api-keys)."""
    if principal.kind != "user":
        raise Forbidden("logout ends a login session; API keys are revoked by the system admin", reason="not_a_session")
    with audited(ctx, request, "/auth/logout") as s:
        users.logout(s, bearer_token(request))
    return {"logged_out": True}


@router.get("/me", response_model=PrincipalView)
def me(ctx: Ctx, principal: Me) -> dict[str, Any]:
    answer = principal_view(principal)
    if principal.kind == "user":
        with ctx.reader() as s:
            answer["user"] = users.user_view(s, users.get_user(s, principal.id))
    return answer


@router.post(
    "/me/password",
    openapi_extra={"x-principal": "user"},
    dependencies=[Depends(audit_as("auth:password"))],
    response_model=PasswordChanged,
)
def change_own_password(body: PasswordChange, request: Request, ctx: Ctx, principal: Me) -> dict[str, Any]:
    """A user changes their own password (their chain key is re-encrypted); every session ends. Also
    clears `password_change_required` after a confirmed reset. A wrong current password counts as a
    failed login (429 `login_locked`, 503 `login_busy` as for POST /auth/login)."""
    if principal.kind != "user":
        raise Forbidden("API keys have no password", reason="not_a_user")
    details = {"op": "own_change", "after_reset": principal.must_change_password}
    guard = ctx.login_guard()  # the current password is a password check like a login's: same policy
    guard.check(principal.name.lower(), source_ip(request))
    with guard.slot():
        try:
            with audited(ctx, request, f"/users/{principal.id}", details) as s:
                user = users.get_user(s, principal.id)
                users.set_password(s, user, body.new_password, old_password=body.old_password)
        except InvalidInput as exc:
            if exc.reason == "wrong_current_password":
                guard.failed(principal.name.lower(), source_ip(request))
            raise
    return {"changed": True}
