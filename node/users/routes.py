"""Accounts (system admin), roles (security admin), officer role changes (two officers), API keys."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from node.audit.middleware import audited
from node.core.context import NodeContext
from node.core.deps import audit_as, current_principal, get_ctx, require
from node.core.errors import Forbidden
from node.core.models import ApiKey, OfficerProposal, User
from node.core.principal import Principal
from node.core.roles import OFFICERS
from node.core.types import Bool, PathInt
from node.users import service as users
from node.users.schemas import (
    ApiKeyList,
    ApiKeyView,
    NewApiKeyAnswer,
    PasswordResetConfirmed,
    PasswordResetDone,
    ProposalConfirmed,
    ProposalList,
    ProposalView,
    RolesChanged,
    UserList,
    UserView,
)

router = APIRouter(tags=["users"])
Ctx = Annotated[NodeContext, Depends(get_ctx)]
Manager = Annotated[Principal, Depends(require("users:manage"))]
Reader = Annotated[Principal, Depends(require("users:read"))]
Granter = Annotated[Principal, Depends(require("roles:grant"))]
Anyone = Annotated[Principal, Depends(current_principal)]
OFFICER_ONLY = {"x-roles": sorted(r.value for r in OFFICERS)}  # checked by node/core/roles.py in the handler


class NewUser(BaseModel):
    username: str = Field(min_length=2, max_length=64)
    password: str = Field(max_length=1024)
    display_name: str = Field(default="", max_length=200)
    must_change_password: Bool = Field(
        default=True, description="The user must change it at first login (default: the system admin chose it)."
    )


class PasswordReset(BaseModel):
    password: str = Field(max_length=1024)


class RoleGrant(BaseModel):
    role: str
    password: str | None = Field(
        default=None, max_length=1024,
        description="Your own password: the approver role is also changed on chain, signed with your key.",
    )  # fmt: skip


class RoleRevoke(BaseModel):
    password: str | None = Field(default=None, max_length=1024)


class OfficerChangeRequest(BaseModel):
    user: str = Field(description="user id or username")
    role: str
    change: Literal["grant", "revoke"] = "grant"


class NewApiKey(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    actions: list[str] = Field(min_length=1)
    fonds: list[str] | None = Field(default=None, description="Limit to these fonds (at least one); omit: every fonds.")


def _user_principal(principal: Principal) -> Principal:
    if principal.kind != "user":
        raise Forbidden("only a person (logged in) may do this, not an API key", reason="not_a_user")
    return principal


def _officer(principal: Principal) -> Principal:
    """Officer role changes are made by officers (node/core/roles.py checks the details)."""
    if not principal.roles & {r.value for r in OFFICERS}:
        raise Forbidden("only an officer proposes or confirms an officer role change", reason="not_an_officer")
    return _user_principal(principal)


# -- accounts ------------------------------------------------------------------------------------
@router.get("/users", response_model=UserList)
def list_users(ctx: Ctx, _p: Reader) -> dict[str, Any]:
    with ctx.reader() as s:
        return {"users": [users.user_view(s, u) for u in s.scalars(select(User).order_by(User.username))]}


@router.post("/users", status_code=201, response_model=UserView)
def create_user(body: NewUser, request: Request, ctx: Ctx, principal: Manager) -> dict[str, Any]:
    """A new account without roles (the security admin grants them)."""
    details = {"op": "create", "username": body.username, "must_change_password": body.must_change_password}
    with audited(ctx, request, "/users", details) as s:
        user = users.create_account(s, body.username, body.password, display_name=body.display_name,
                                    must_change_password=body.must_change_password, created_by=principal.id,
                                    scrypt_n=ctx.settings.chain_key_scrypt_n)  # fmt: skip
        return users.user_view(s, user)


@router.get("/users/{ref}", response_model=UserView)
def get_user(ref: str, ctx: Ctx, _p: Reader) -> dict[str, Any]:
    with ctx.reader() as s:
        return users.user_view(s, users.find_user(s, ref))


@router.post("/users/{ref}/password", response_model=PasswordResetDone)
def reset_password(ref: str, body: PasswordReset, request: Request, ctx: Ctx, principal: Manager) -> dict[str, Any]:
    """The system admin resets a password; the user's sessions end and the account is locked for login
    until the security admin confirms the reset (POST /users/{ref}/password/confirm). (A chain key stays
    encrypted under the old password: only the user's own change, POST /me/password, re-encrypts it.)"""
    details = {"op": "password_reset", "state": users.RESET_PENDING}
    with audited(ctx, request, f"/users/{ref}", details) as s:
        user = users.find_user(s, ref)
        users.set_password(s, user, body.password)
        return {"reset": True, "user": user.id, "password_reset": user.password_reset_state}


@router.post("/users/{ref}/password/confirm", response_model=PasswordResetConfirmed)
def confirm_password_reset(ref: str, request: Request, ctx: Ctx, principal: Granter) -> dict[str, Any]:
    """The security admin confirms a password reset made by the system admin: the user may log in
    again, and must change the password at first login (403 `password_change_required` until then)."""
    _user_principal(principal)
    details = {"op": "password_reset_confirm", "state": users.MUST_CHANGE}
    with audited(ctx, request, f"/users/{ref}", details) as s:
        user = users.find_user(s, ref)
        users.confirm_password_reset(s, principal, user)
        return {"confirmed": True, "user": user.id, "password_reset": user.password_reset_state}


@router.post("/users/{ref}/disable", response_model=UserView)
def disable_user(ref: str, request: Request, ctx: Ctx, principal: Manager) -> dict[str, Any]:
    with audited(ctx, request, f"/users/{ref}", {"op": "disable"}) as s:
        user = users.find_user(s, ref)
        users.disable_user(s, user, actor_id=principal.id)
        return users.user_view(s, user)


@router.post("/users/{ref}/enable", response_model=UserView)
def enable_user(ref: str, request: Request, ctx: Ctx, principal: Manager) -> dict[str, Any]:
    with audited(ctx, request, f"/users/{ref}", {"op": "enable"}) as s:
        user = users.find_user(s, ref)
        users.enable_user(s, user)
        return users.user_view(s, user)


# -- business roles ----------------------------------------------------------------------------------
@router.post("/users/{ref}/roles", response_model=RolesChanged)
def grant_role(ref: str, body: RoleGrant, request: Request, ctx: Ctx, principal: Granter) -> dict[str, Any]:
    """The security admin grants a business role to another account. The approver role is granted on
    chain too (ArchiveRoles.grantApprover, signed with the security admin's key: give `password`)."""
    _user_principal(principal)
    with audited(ctx, request, f"/users/{ref}", {"op": "grant", "role": body.role}) as s:
        user = users.find_user(s, ref)
        roles, tx = users.change_role(s, principal, user, body.role, body.password, grant=True, chain=ctx.chain,
                                      roles_address=ctx.settings.roles_address)  # fmt: skip
        return {"user": user.id, "roles": roles, "chain_tx": tx}


@router.delete("/users/{ref}/roles/{role}", response_model=RolesChanged)
def revoke_role(
    ref: str, role: str, request: Request, ctx: Ctx, principal: Granter, body: RoleRevoke | None = None
) -> dict[str, Any]:
    _user_principal(principal)
    with audited(ctx, request, f"/users/{ref}", {"op": "revoke", "role": role}) as s:
        user = users.find_user(s, ref)
        roles, tx = users.change_role(s, principal, user, role, body.password if body else None, grant=False,
                                      chain=ctx.chain, roles_address=ctx.settings.roles_address)  # fmt: skip
        return {"user": user.id, "roles": roles, "chain_tx": tx}


# -- officer roles: proposal + confirmation by two different officers --------------------------------
@router.get("/officer-proposals", response_model=ProposalList)
def list_proposals(ctx: Ctx, _p: Reader, status: str | None = None) -> dict[str, Any]:
    with ctx.reader() as s:
        query = select(OfficerProposal).order_by(OfficerProposal.proposed_at)
        if status:
            query = query.where(OfficerProposal.status == status.upper())
        return {"proposals": [users.proposal_view(p) for p in s.scalars(query)]}


@router.post(
    "/officer-proposals",
    status_code=201,
    openapi_extra=OFFICER_ONLY,
    dependencies=[Depends(audit_as("officers:propose"))],
    response_model=ProposalView,
)
def propose_officer_change(body: OfficerChangeRequest, request: Request, ctx: Ctx, principal: Anyone) -> dict[str, Any]:
    """An officer proposes to grant or revoke an officer role of another account."""
    _officer(principal)
    details = {"op": "propose", "role": body.role, "change": body.change, "user": body.user}
    with audited(ctx, request, "/officer-proposals", details) as s:
        user = users.find_user(s, body.user)
        proposal = users.propose_officer_change(s, principal, user, body.role, grant=body.change == "grant")
        return users.proposal_view(proposal)


@router.post(
    "/officer-proposals/{proposal_id}/confirm",
    openapi_extra=OFFICER_ONLY,
    dependencies=[Depends(audit_as("officers:confirm"))],
    response_model=ProposalConfirmed,
)
def confirm_officer_change(proposal_id: str, request: Request, ctx: Ctx, principal: Anyone) -> dict[str, Any]:
    """Another officer confirms; the change applies at once."""
    _officer(principal)
    target = f"/officer-proposals/{proposal_id}"
    with audited(ctx, request, target, {"op": "confirm"}) as s:
        proposal = users.confirm_officer_change(s, principal, proposal_id)
        return {**users.proposal_view(proposal), "roles": sorted(users.roles_of(s, proposal.target_user_id))}


# -- API keys ----------------------------------------------------------------------------------------
@router.get("/api-keys", response_model=ApiKeyList)
def list_api_keys(ctx: Ctx, _p: Reader) -> dict[str, Any]:
    with ctx.reader() as s:
        return {"api_keys": [users.api_key_view(k) for k in s.scalars(select(ApiKey).order_by(ApiKey.id))]}


@router.post("/api-keys", status_code=201, response_model=NewApiKeyAnswer)
def create_api_key(body: NewApiKey, request: Request, ctx: Ctx, principal: Manager) -> dict[str, Any]:
    """A key for an integrator, with an explicit action list and optional fonds list; shown once. The
    actions must be the maker's own (403 `action_not_allowed`); a fonds list names at least one fonds
    (422 `empty_fonds`; leave it out for every fonds)."""
    details = {"op": "create_api_key", "name": body.name, "actions": sorted(body.actions), "fonds": body.fonds}
    # Separation of duties: a key carries only actions its maker holds (and never items:content).
    with audited(ctx, request, "/api-keys", details) as s:
        row, key = users.create_api_key(s, body.name, body.actions, body.fonds, created_by=principal.id,
                                        allowed=users.api_key_actions_for(principal))  # fmt: skip
        return {**users.api_key_view(row), "key": key}


@router.delete("/api-keys/{key_id}", response_model=ApiKeyView)
def revoke_api_key(key_id: PathInt, request: Request, ctx: Ctx, principal: Manager) -> dict[str, Any]:
    with audited(ctx, request, f"/api-keys/{key_id}", {"op": "revoke_api_key"}) as s:
        return users.api_key_view(users.revoke_api_key(s, key_id))
