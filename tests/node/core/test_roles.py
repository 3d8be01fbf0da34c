"""node/core/roles.py: the action table of docs/design.md and the rules for changing roles (pure)."""

from __future__ import annotations

import pytest

from node.core.roles import (
    INIT_API_KEY_ACTIONS,
    OFFICERS,
    ROLE_ACTIONS,
    Action,
    OfficerChange,
    Role,
    RoleConflict,
    RoleRuleError,
    actions_of,
    check_business_change,
    check_officer_confirmation,
    check_officer_proposal,
    check_role_set,
)

R = Role


def test_table_as_in_the_design() -> None:
    # Hard-coded from docs/design.md, "Roles and actions", so a changed table fails here.
    assert ROLE_ACTIONS[R.ARCHIVIST] == {
        "items:ingest", "items:arrange", "anchor:run", "items:read", "items:content", "status:read",
    }  # fmt: skip
    assert ROLE_ACTIONS[R.BORROWER] == {"items:read", "loans:request"}
    assert ROLE_ACTIONS[R.APPROVER] == {"items:read", "status:read", "loans:decide", "loans:revoke", "loans:read"}
    assert ROLE_ACTIONS[R.AUDITOR] == {"items:read", "status:read", "loans:read"}
    assert ROLE_ACTIONS[R.SYSTEM_ADMIN] == {"status:read", "users:manage", "users:read"}
    assert ROLE_ACTIONS[R.SECURITY_ADMIN] == {
        "items:read", "status:read", "loans:revoke", "loans:read", "users:read", "roles:grant",
    }  # fmt: skip
    assert ROLE_ACTIONS[R.SECURITY_AUDITOR] == {"items:read", "status:read", "loans:read", "users:read", "audit:read"}
    assert {"items:ingest", "items:read", "items:content", "anchor:run", "status:read"} == INIT_API_KEY_ACTIONS
    assert {R.SYSTEM_ADMIN, R.SECURITY_ADMIN, R.SECURITY_AUDITOR} == OFFICERS


def test_separation_of_duties_in_the_table() -> None:
    assert Action.ITEMS_CONTENT not in ROLE_ACTIONS[R.SYSTEM_ADMIN]  # the system admin cannot read content
    writes = {a for a in Action if a.value.split(":")[1] not in ("read",)}
    assert not ROLE_ACTIONS[R.SECURITY_AUDITOR] & writes  # the security auditor has no write powers
    assert actions_of([R.BORROWER, R.ARCHIVIST]) == ROLE_ACTIONS[R.BORROWER] | ROLE_ACTIONS[R.ARCHIVIST]


@pytest.mark.parametrize(
    "roles",
    [{R.SYSTEM_ADMIN, R.SECURITY_ADMIN}, {R.SECURITY_ADMIN, R.SECURITY_AUDITOR}, {R.SYSTEM_ADMIN, R.ARCHIVIST},
     {R.SECURITY_AUDITOR, R.AUDITOR}],
)  # fmt: skip
def test_forbidden_role_sets(roles: set[Role]) -> None:
    with pytest.raises(RoleConflict):
        check_role_set(roles)


def test_allowed_role_sets() -> None:
    assert check_role_set([R.ARCHIVIST, R.APPROVER]) == {R.ARCHIVIST, R.APPROVER}
    assert check_role_set([R.SYSTEM_ADMIN]) == {R.SYSTEM_ADMIN}
    assert check_role_set([]) == frozenset()


def test_security_admin_grants_business_roles_of_others_only() -> None:
    sec = [R.SECURITY_ADMIN]
    assert check_business_change("sec", sec, "u", [R.BORROWER], R.ARCHIVIST, grant=True) == {R.BORROWER, R.ARCHIVIST}
    assert check_business_change("sec", sec, "u", [R.BORROWER], R.BORROWER, grant=False) == frozenset()
    with pytest.raises(RoleRuleError) as own:
        check_business_change("sec", sec, "sec", [R.SECURITY_ADMIN], R.ARCHIVIST, grant=True)
    assert own.value.reason == "own_roles"
    with pytest.raises(RoleRuleError) as officer:
        check_business_change("sec", sec, "u", [], R.SYSTEM_ADMIN, grant=True)
    assert officer.value.reason == "officer_change_needs_two"
    with pytest.raises(RoleRuleError):  # only the security admin grants
        check_business_change("sys", [R.SYSTEM_ADMIN], "u", [], R.ARCHIVIST, grant=True)
    with pytest.raises(RoleConflict):  # an officer holds no business roles
        check_business_change("sec", sec, "sys", [R.SYSTEM_ADMIN], R.ARCHIVIST, grant=True)


def test_officer_change_needs_two_different_officers() -> None:
    change = check_officer_proposal("sys", [R.SYSTEM_ADMIN], "u", [], R.SECURITY_AUDITOR, grant=True)
    assert change == OfficerChange("sys", "u", R.SECURITY_AUDITOR, True)
    with pytest.raises(RoleRuleError) as same:
        check_officer_confirmation("sys", [R.SYSTEM_ADMIN], change, [])
    assert same.value.reason == "same_officer"
    assert check_officer_confirmation("sec", [R.SECURITY_ADMIN], change, []) == {R.SECURITY_AUDITOR}
    with pytest.raises(RoleRuleError):  # not an officer
        check_officer_confirmation("arch", [R.ARCHIVIST], change, [])
    with pytest.raises(RoleRuleError):  # the target cannot confirm their own change
        check_officer_confirmation("u", [R.SECURITY_AUDITOR], change, [])


def test_officer_proposal_rules() -> None:
    with pytest.raises(RoleRuleError) as own:  # no officer proposes a change of their own roles
        check_officer_proposal("sec", [R.SECURITY_ADMIN], "sec", [R.SECURITY_ADMIN], R.SYSTEM_ADMIN, grant=True)
    assert own.value.reason == "own_roles"
    with pytest.raises(RoleConflict):  # a second officer role for another officer
        check_officer_proposal("sys", [R.SYSTEM_ADMIN], "sec", [R.SECURITY_ADMIN], R.SECURITY_AUDITOR, grant=True)
    with pytest.raises(RoleRuleError):  # a business role is not an officer change
        check_officer_proposal("sys", [R.SYSTEM_ADMIN], "u", [], R.ARCHIVIST, grant=True)
    with pytest.raises(RoleRuleError):  # only officers propose
        check_officer_proposal("arch", [R.ARCHIVIST], "u", [], R.SYSTEM_ADMIN, grant=True)
    with pytest.raises(RoleConflict):  # an officer change needs a business-role-free account
        check_officer_proposal("sys", [R.SYSTEM_ADMIN], "u", [R.BORROWER], R.SECURITY_ADMIN, grant=True)
    revoke = check_officer_proposal("sys", [R.SYSTEM_ADMIN], "sec", [R.SECURITY_ADMIN], R.SECURITY_ADMIN, grant=False)
    assert check_officer_confirmation("aud", [R.SECURITY_AUDITOR], revoke, [R.SECURITY_ADMIN]) == frozenset()
