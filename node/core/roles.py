"""Roles, actions and the rules for changing roles (docs/design.md, "Roles and actions"). Pure.

Routes require *actions*; a principal's actions are the union of its roles' actions (users) or an
explicit list (API keys). The rule functions raise `RoleRuleError` (403) or `RoleConflict` (409).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from node.core.errors import InvalidInput, RoleConflict, RoleRuleError


class Role(enum.StrEnum):
    ARCHIVIST = "archivist"
    BORROWER = "borrower"
    APPROVER = "approver"
    AUDITOR = "auditor"  # authenticity auditor
    SYSTEM_ADMIN = "system_admin"
    SECURITY_ADMIN = "security_admin"
    SECURITY_AUDITOR = "security_auditor"


class Action(enum.StrEnum):
    ITEMS_INGEST = "items:ingest"
    ITEMS_ARRANGE = "items:arrange"  # volumes, boxes, moves, metadata edits after filing
    ANCHOR_RUN = "anchor:run"
    ITEMS_READ = "items:read"
    ITEMS_CONTENT = "items:content"
    STATUS_READ = "status:read"
    LOANS_REQUEST = "loans:request"
    LOANS_DECIDE = "loans:decide"
    LOANS_REVOKE = "loans:revoke"
    LOANS_READ = "loans:read"
    USERS_MANAGE = "users:manage"
    USERS_READ = "users:read"
    ROLES_GRANT = "roles:grant"
    AUDIT_READ = "audit:read"


OFFICERS: frozenset[Role] = frozenset({Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.SECURITY_AUDITOR})
BUSINESS_ROLES: frozenset[Role] = frozenset(Role) - OFFICERS

A, R = Action, Role
# The table of docs/design.md, row by row (action -> roles holding it).
_TABLE: dict[Action, frozenset[Role]] = {
    A.ITEMS_INGEST: frozenset({R.ARCHIVIST}),
    A.ITEMS_ARRANGE: frozenset({R.ARCHIVIST}),
    A.ANCHOR_RUN: frozenset({R.ARCHIVIST}),
    A.ITEMS_READ: frozenset({R.ARCHIVIST, R.BORROWER, R.APPROVER, R.AUDITOR, R.SECURITY_ADMIN, R.SECURITY_AUDITOR}),
    A.ITEMS_CONTENT: frozenset({R.ARCHIVIST}),
    A.STATUS_READ: frozenset(
        {R.ARCHIVIST, R.APPROVER, R.AUDITOR, R.SYSTEM_ADMIN, R.SECURITY_ADMIN, R.SECURITY_AUDITOR}
    ),
    A.LOANS_REQUEST: frozenset({R.BORROWER}),
    A.LOANS_DECIDE: frozenset({R.APPROVER}),
    A.LOANS_REVOKE: frozenset({R.APPROVER, R.SECURITY_ADMIN}),
    A.LOANS_READ: frozenset({R.APPROVER, R.AUDITOR, R.SECURITY_ADMIN, R.SECURITY_AUDITOR}),
    A.USERS_MANAGE: frozenset({R.SYSTEM_ADMIN}),
    A.USERS_READ: frozenset({R.SYSTEM_ADMIN, R.SECURITY_ADMIN, R.SECURITY_AUDITOR}),
    A.ROLES_GRANT: frozenset({R.SECURITY_ADMIN}),
    A.AUDIT_READ: frozenset({R.SECURITY_AUDITOR}),
}
del A, R

ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    role: frozenset(action for action, roles in _TABLE.items() if role in roles) for role in Role
}

# What `init`'s API key may do (an integrator's ingest pipeline), on every fonds.
INIT_API_KEY_ACTIONS: frozenset[Action] = frozenset(
    {Action.ITEMS_INGEST, Action.ITEMS_READ, Action.ITEMS_CONTENT, Action.ANCHOR_RUN, Action.STATUS_READ}
)
# What a key made through the API may carry: never an officer's power, and never items:content
# (the system admin makes keys and must not be able to read content through one; only `init`'s key has it).
API_KEY_ALLOWED_ACTIONS: frozenset[Action] = frozenset(
    {Action.ITEMS_INGEST, Action.ITEMS_READ, Action.ANCHOR_RUN, Action.STATUS_READ}
)


def parse_role(name: str) -> Role:
    try:
        return Role(name)
    except ValueError:
        raise InvalidInput(f"unknown role {name!r} (known: {', '.join(r.value for r in Role)})",
                           reason="unknown_role") from None  # fmt: skip


def parse_actions(names: Iterable[str]) -> frozenset[Action]:
    out = set()
    for name in names:
        try:
            out.add(Action(name))
        except ValueError:
            raise InvalidInput(f"unknown action {name!r}", reason="unknown_action") from None
    return frozenset(out)


def actions_of(roles: Iterable[str | Role]) -> frozenset[Action]:
    out: set[Action] = set()
    for role in roles:
        out |= ROLE_ACTIONS.get(Role(role), frozenset())
    return frozenset(out)


def is_officer(role: str | Role) -> bool:
    return Role(role) in OFFICERS


def check_role_set(roles: Iterable[str | Role]) -> frozenset[Role]:
    """At most one officer role, and an officer holds no business role."""
    held = frozenset(Role(r) for r in roles)
    officers = held & OFFICERS
    if len(officers) > 1:
        raise RoleConflict(f"an account holds at most one officer role, not {sorted(officers)}",
                           reason="two_officer_roles")  # fmt: skip
    if officers and held - officers:
        raise RoleConflict(
            f"an officer ({next(iter(officers))}) holds no business roles ({', '.join(sorted(held - officers))})",
            reason="officer_with_business_role",
        )
    return held


def _not_self(actor_id: str, target_id: str) -> None:
    if actor_id == target_id:
        raise RoleRuleError("nobody changes their own roles", reason="own_roles")


def check_business_change(
    actor_id: str, actor_roles: Iterable[str | Role], target_id: str, target_roles: Iterable[str | Role],
    role: str | Role, *, grant: bool,
) -> frozenset[Role]:  # fmt: skip
    """A security admin grants or revokes a business role of another account; returns the new set."""
    role = Role(role)
    if Action.ROLES_GRANT not in actions_of(actor_roles):
        raise RoleRuleError("only the security admin grants or revokes roles")
    _not_self(actor_id, target_id)
    if role in OFFICERS:
        raise RoleRuleError(
            f"{role} is an officer role: it changes only by a proposal of one officer confirmed by another",
            reason="officer_change_needs_two",
        )
    current = frozenset(Role(r) for r in target_roles)
    return check_role_set(current | {role} if grant else current - {role})


@dataclass(frozen=True)
class OfficerChange:
    proposer_id: str
    target_id: str
    role: Role
    grant: bool


def check_officer_proposal(
    proposer_id: str, proposer_roles: Iterable[str | Role], target_id: str, target_roles: Iterable[str | Role],
    role: str | Role, *, grant: bool,
) -> OfficerChange:  # fmt: skip
    """One officer proposes to grant or revoke an officer role of another account."""
    role = Role(role)
    if not frozenset(Role(r) for r in proposer_roles) & OFFICERS:
        raise RoleRuleError("only an officer proposes an officer role change")
    _not_self(proposer_id, target_id)
    if role not in OFFICERS:
        raise RoleRuleError(f"{role} is not an officer role: the security admin grants it", reason="not_officer_role")
    current = frozenset(Role(r) for r in target_roles)
    if (role in current) == grant:
        raise RoleConflict(f"the account {'already holds' if grant else 'does not hold'} {role}",
                           reason="no_change")  # fmt: skip
    check_role_set(current | {role} if grant else current - {role})
    return OfficerChange(proposer_id, target_id, role, grant)


def check_officer_confirmation(
    confirmer_id: str, confirmer_roles: Iterable[str | Role], change: OfficerChange,
    target_roles: Iterable[str | Role],
) -> frozenset[Role]:  # fmt: skip
    """A second, different officer confirms; returns the target's new role set."""
    if not frozenset(Role(r) for r in confirmer_roles) & OFFICERS:
        raise RoleRuleError("only an officer confirms an officer role change")
    if confirmer_id == change.proposer_id:
        raise RoleRuleError("an officer role change needs two different officers: the proposer cannot confirm",
                            reason="same_officer")  # fmt: skip
    _not_self(confirmer_id, change.target_id)
    current = frozenset(Role(r) for r in target_roles)
    return check_role_set(current | {change.role} if change.grant else current - {change.role})
