"""A password reset by the system admin (三员): the account stays locked until the security admin
confirms the reset, then the user must change the password before doing anything else; every step
is an audit event. The system admin can thus no longer log in as anyone by resetting a password."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from node.core.errors import NodeError
from node.core.models import User
from node.core.principal import Principal
from node.users import service as users
from tests.helpers.people import People

NEW = "a reset password!"
OWN = "my own new password"


def _events(api, people: People, **query: Any) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    r = api.get("/audit/events", params=query, headers=people.auth("security_auditor"))
    assert r.status_code == 200, r.text
    return r.json()["events"]


def _login(api, username: str, password: str):  # type: ignore[no-untyped-def]
    return api.post("/auth/login", json={"username": username, "password": password})


def test_reset_needs_the_security_admins_confirmation_then_a_change(api, people: People) -> None:  # type: ignore[no-untyped-def]
    sysadmin, secadmin = people.auth("system_admin"), people.auth("security_admin")
    r = api.post("/users/archivist/password", json={"password": NEW}, headers=sysadmin)
    assert r.status_code == 200 and r.json()["password_reset"] == "pending"
    # The archivist's sessions ended at the reset.
    assert api.get("/items", headers=people.auth("archivist")).status_code == 401
    # Nobody logs in with the reset password until the security admin confirms (not even the system admin).
    r = _login(api, "archivist", NEW)
    assert r.status_code == 401 and r.json()["error"] == "reset_not_confirmed"
    assert "security admin must confirm" in r.json()["detail"]
    # A wrong password still says wrong password (the state is not disclosed).
    assert _login(api, "archivist", "not the password").json()["error"] == "bad_credentials"
    # The system admin cannot confirm their own reset; business users and API keys cannot either.
    r = api.post("/users/archivist/password/confirm", headers=sysadmin)
    assert r.status_code == 403
    assert api.post("/users/archivist/password/confirm", headers=people.auth("approver")).status_code == 403
    r = api.post("/users/archivist/password/confirm", headers={"Authorization": f"Bearer {people.init_key}"})
    assert r.status_code == 403
    assert _login(api, "archivist", NEW).status_code == 401
    # The security admin confirms.
    r = api.post("/users/archivist/password/confirm", headers=secadmin)
    assert r.status_code == 200 and r.json()["password_reset"] == "must_change", r.text
    assert api.post("/users/archivist/password/confirm", headers=secadmin).json()["error"] == "no_reset_pending"
    # Login works, but the token may only change the password (and see /me, log out).
    r = _login(api, "archivist", NEW)
    assert r.status_code == 200 and r.json()["password_change_required"] is True
    token = {"Authorization": f"Bearer {r.json()['token']}"}
    r = api.get("/items", headers=token)
    assert r.status_code == 403 and r.json()["error"] == "password_change_required"
    assert api.get("/items/nobody/content", headers=token).json()["error"] == "password_change_required"
    assert api.post("/anchor", headers=token).json()["error"] == "password_change_required"
    assert api.get("/me", headers=token).status_code == 200
    assert api.get("/me", headers=token).json()["user"]["password_reset"] == "must_change"
    # The user's own change clears the flag (and ends the session, as every own change does).
    r = api.post("/me/password", json={"old_password": NEW, "new_password": OWN}, headers=token)
    assert r.status_code == 200, r.text
    r = _login(api, "archivist", OWN)
    assert r.status_code == 200 and "password_change_required" not in r.json()
    token = {"Authorization": f"Bearer {r.json()['token']}"}
    assert api.get("/items", headers=token).status_code == 200
    assert api.get("/me", headers=token).json()["user"]["password_reset"] is None

    # Every step is in the trail.
    archivist = people.ids["archivist"]
    ops = [(e["action"], e["outcome"], e["details"].get("op")) for e in _events(api, people)
           if e["target"] == "/users/archivist" or e["principal_id"] == archivist]  # fmt: skip
    assert ("users:manage", "ok", "password_reset") in ops
    assert ("roles:grant", "ok", "password_reset_confirm") in ops
    assert ("auth:password", "ok", "own_change") in ops
    denied = [e for e in _events(api, people, action="auth:login", outcome="denied")
              if e["details"].get("reason") == "reset_not_confirmed"]  # fmt: skip
    assert denied and all(e["details"]["username"] == "archivist" for e in denied)
    refused = _events(api, people, outcome="denied")
    assert any(e["details"].get("reason") == "password_change_required" for e in refused)  # POST /anchor
    assert any(e["target"] == "/users/archivist/password/confirm" and e["principal_id"] == people.ids["system_admin"]
               for e in refused)  # fmt: skip


def test_security_admin_cannot_be_taken_over(api, people: People) -> None:  # type: ignore[no-untyped-def]
    """The system admin resets the security admin's password: the security admin cannot confirm it for
    themselves, and the system admin cannot either, so the reset password gives no login."""
    password = "secadmin reset password"
    assert api.post("/users/secadmin/password", json={"password": password},
                    headers=people.auth("system_admin")).status_code == 200  # fmt: skip
    assert _login(api, "secadmin", password).json()["error"] == "reset_not_confirmed"
    assert api.post("/users/secadmin/password/confirm", headers=people.auth("system_admin")).status_code == 403


def test_confirm_rules(node_ctx, people: People) -> None:  # type: ignore[no-untyped-def]
    """The rules in node/users/service.py, beyond the route's roles:grant: not for one's own account, not by an
    account that may also reset passwords, only when a reset is pending."""
    secadmin = Principal("user", people.ids["security_admin"], "secadmin", frozenset({"security_admin"}))
    both = Principal("user", "someone", "someone", frozenset({"security_admin", "system_admin"}))
    with node_ctx.sessions() as s, s.begin():
        own = s.get(User, people.ids["security_admin"])
        own.password_reset_state = users.RESET_PENDING
        other = users.find_user(s, "borrower")
        for actor, target, reason in ((secadmin, own, "own_account"), (both, other, "same_officer"),
                                      (secadmin, other, "no_reset_pending")):  # fmt: skip
            with pytest.raises(NodeError) as caught:
                users.confirm_password_reset(s, actor, target)
            assert caught.value.reason == reason
        s.rollback()


def test_own_change_unaffected_and_chain_key_stays_under_the_old_password(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]
    sysadmin = people.auth("system_admin")
    # A user's own change needs no confirmation.
    r = api.post("/me/password", json={"old_password": people.passwords["borrower"], "new_password": OWN},
                 headers=people.auth("borrower"))  # fmt: skip
    assert r.status_code == 200
    assert _login(api, "borrower", OWN).status_code == 200
    # An account made by the system admin without the first-login change (an explicit opt-out) logs in
    # with its first password at once, chain key and all.
    first = "the first password"
    body = {"username": "chen.jing", "password": first, "must_change_password": False}
    assert api.post("/users", json=body, headers=sysadmin).status_code == 201
    assert _login(api, "chen.jing", first).status_code == 200
    # Reset, confirm, own change: the chain key stays under the first password (a reset cannot re-encrypt it).
    assert api.post("/users/chen.jing/password", json={"password": NEW}, headers=sysadmin).status_code == 200
    assert api.post("/users/chen.jing/password/confirm", headers=people.auth("security_admin")).status_code == 200
    token = {"Authorization": f"Bearer {_login(api, 'chen.jing', NEW).json()['token']}"}
    r = api.post("/me/password", json={"old_password": NEW, "new_password": OWN}, headers=token)
    assert r.status_code == 200, r.text
    with node_ctx.reader() as s:
        user = users.find_user(s, "chen.jing")
        assert users.unlock_chain_key(user, first).address == user.chain_address
        assert user.password_reset_state is None
    assert api.get("/items", headers={"Authorization": f"Bearer {_login(api, 'chen.jing', OWN).json()['token']}"}
                   ).status_code == 403  # no roles, but no password_change_required either  # fmt: skip


def test_new_account_must_change_by_default(api, people: People) -> None:  # type: ignore[no-untyped-def]
    body = {"username": "zhou.yu", "password": "the first password"}  # the first-login change is on by default
    r = api.post("/users", json=body, headers=people.auth("system_admin"))
    assert r.status_code == 201 and r.json()["password_reset"] == "must_change"
    r = _login(api, "zhou.yu", "the first password")
    assert r.status_code == 200 and r.json()["password_change_required"] is True
    token = {"Authorization": f"Bearer {r.json()['token']}"}
    assert api.get("/loans", headers=token).json()["error"] == "password_change_required"
    r = api.post("/me/password", json={"old_password": "the first password", "new_password": OWN}, headers=token)
    assert r.status_code == 200
    assert "password_change_required" not in _login(api, "zhou.yu", OWN).json()


def test_cli_confirm_reset(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import cli
    from node.users import commands as users_commands

    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(
        users_commands, "call_node", lambda node, key, method, url, **kw: calls.append((method, url)) or {}
    )
    result = CliRunner().invoke(cli.app, ["users", "confirm-reset", "archivist"])
    assert result.exit_code == 0, result.output
    assert calls == [("POST", "/users/archivist/password/confirm")]
    assert "confirmed" in result.output
