"""Response models of the account, role, officer-proposal, API-key and login routes."""

from __future__ import annotations

from pydantic import Field

from node.core.schemas import Answer


class UserView(Answer):
    id: str
    username: str
    display_name: str
    roles: list[str]
    disabled: bool
    chain_address: str | None = Field(description="the account's chain key address (for the approver role)")
    password_reset: str | None = Field(description="RESET_PENDING or MUST_CHANGE while a reset is under way")
    created_at: str


class UserList(Answer):
    users: list[UserView]


class PasswordResetDone(Answer):
    reset: bool
    user: str
    password_reset: str | None


class PasswordResetConfirmed(Answer):
    confirmed: bool
    user: str
    password_reset: str | None


class RolesChanged(Answer):
    user: str
    roles: list[str]
    chain_tx: str | None = Field(description="the ArchiveRoles transaction (approver role only)")


class ProposalView(Answer):
    id: str
    target_user_id: str
    role: str
    change: str = Field(description="grant or revoke")
    status: str
    proposed_by: str
    confirmed_by: str | None
    proposed_at: str


class ProposalConfirmed(ProposalView):
    roles: list[str] = Field(description="the target account's roles after the change")


class ProposalList(Answer):
    proposals: list[ProposalView]


class ApiKeyView(Answer):
    id: int
    name: str
    actions: list[str]
    fonds: list[str] | None = Field(description="null: every fonds")
    created_by: str | None
    revoked: bool
    created_at: str


class NewApiKeyAnswer(ApiKeyView):
    key: str = Field(description="the key itself, shown this once")


class ApiKeyList(Answer):
    api_keys: list[ApiKeyView]


class LoginAnswer(Answer):
    token: str = Field(description="a bearer token alt_...")
    expires_at: str
    user: UserView
    password_change_required: bool | None = Field(
        default=None, description="present (true) when this token may only change the password"
    )


class LoggedOut(Answer):
    logged_out: bool


class PrincipalView(Answer):
    """GET /me: who the caller is, and (for a person) their account."""

    kind: str = Field(description="user or api_key")
    id: str = Field(description="the user id, or the API key id as text")
    name: str
    roles: list[str]
    actions: list[str]
    fonds: list[str] | None
    user: UserView | None = None


class PasswordChanged(Answer):
    changed: bool
