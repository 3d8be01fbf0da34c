"""Accounts and roles over HTTP: the system admin manages accounts, the security admin grants roles,
officer roles need two officers, nobody changes their own roles, passwords of 12+ characters."""

from __future__ import annotations

from node.core.models import User
from node.users import service as users
from tests.helpers.people import PEOPLE_PASSWORD, People


def test_system_admin_creates_users_without_roles(api, people: People) -> None:  # type: ignore[no-untyped-def]
    sysadmin = people.auth("system_admin")
    r = api.post("/users", json={"username": "li.ming", "password": "short"}, headers=sysadmin)
    assert r.status_code == 422 and r.json()["error"] == "password_too_short"
    r = api.post("/users", json={"username": "li.ming", "password": "x" * 12}, headers=sysadmin)
    assert r.status_code == 201 and r.json()["roles"] == []
    assert api.post("/users", json={"username": "li.ming", "password": "x" * 12}, headers=sysadmin).status_code == 409
    assert (
        api.post(
            "/users", json={"username": "u2", "password": "x" * 12}, headers=people.auth("security_admin")
        ).status_code
        == 403
    )
    assert {u["username"] for u in api.get("/users", headers=people.auth("security_auditor")).json()["users"]} >= {
        "li.ming", "sysadmin", "secadmin", "secauditor", "archivist",
    }  # fmt: skip
    # A password reset ends the user's sessions; the new password works once the security admin confirms
    # the reset (tests/node/users/test_password_reset.py has the whole flow).
    r = api.post("/users/archivist/password", json={"password": "a new password!"}, headers=sysadmin)
    assert r.status_code == 200
    assert api.get("/items", headers=people.auth("archivist")).status_code == 401
    assert api.post("/users/archivist/password/confirm", headers=people.auth("security_admin")).status_code == 200
    assert api.post("/auth/login", json={"username": "archivist", "password": "a new password!"}).status_code == 200


def test_security_admin_grants_and_revokes_business_roles(api, people: People) -> None:  # type: ignore[no-untyped-def]
    secadmin = people.auth("security_admin")
    api.post("/users", json={"username": "wang.fang", "password": "x" * 12}, headers=people.auth("system_admin"))
    r = api.post("/users/wang.fang/roles", json={"role": "borrower"}, headers=secadmin)
    assert r.status_code == 200 and r.json()["roles"] == ["borrower"]
    r = api.post("/users/wang.fang/roles", json={"role": "system_admin"}, headers=secadmin)
    assert r.status_code == 403 and r.json()["error"] == "officer_change_needs_two"
    r = api.post("/users/secadmin/roles", json={"role": "archivist"}, headers=secadmin)
    assert r.status_code == 403 and r.json()["error"] == "own_roles"
    r = api.post("/users/sysadmin/roles", json={"role": "archivist"}, headers=secadmin)
    assert r.status_code == 409 and r.json()["error"] == "officer_with_business_role"
    assert (
        api.post("/users/wang.fang/roles", json={"role": "borrower"}, headers=people.auth("system_admin")).status_code
        == 403
    )
    r = api.delete("/users/wang.fang/roles/borrower", headers=secadmin)
    assert r.status_code == 200 and r.json()["roles"] == []


def test_officer_role_change_needs_two_officers(api, people: People) -> None:  # type: ignore[no-untyped-def]
    api.post("/users", json={"username": "zhao.lei", "password": "x" * 12}, headers=people.auth("system_admin"))
    # An officer cannot give themselves a second officer role.
    r = api.post("/officer-proposals", json={"user": "secadmin", "role": "system_admin"},
                 headers=people.auth("security_admin"))  # fmt: skip
    assert r.status_code == 403 and r.json()["error"] == "own_roles"
    # Nor can another officer give an officer a second one.
    r = api.post("/officer-proposals", json={"user": "secadmin", "role": "security_auditor"},
                 headers=people.auth("system_admin"))  # fmt: skip
    assert r.status_code == 409 and r.json()["error"] == "two_officer_roles"
    # A business user cannot propose.
    r = api.post("/officer-proposals", json={"user": "zhao.lei", "role": "security_auditor"},
                 headers=people.auth("archivist"))  # fmt: skip
    assert r.status_code == 403
    r = api.post("/officer-proposals", json={"user": "zhao.lei", "role": "security_auditor"},
                 headers=people.auth("system_admin"))  # fmt: skip
    assert r.status_code == 201, r.text
    proposal = r.json()["id"]
    r = api.post(f"/officer-proposals/{proposal}/confirm", headers=people.auth("system_admin"))
    assert r.status_code == 403 and r.json()["error"] == "same_officer"
    r = api.post(f"/officer-proposals/{proposal}/confirm", headers=people.auth("security_auditor"))
    assert r.status_code == 200 and r.json()["roles"] == ["security_auditor"]
    assert api.post(f"/officer-proposals/{proposal}/confirm", headers=people.auth("security_admin")).status_code == 409
    assert (
        api.get("/officer-proposals", headers=people.auth("security_auditor")).json()["proposals"][0]["status"]
        == "CONFIRMED"
    )


def test_own_password_change_reencrypts_chain_key(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]
    with node_ctx.reader() as s:
        address = users.by_username(s, "secadmin").chain_address
    old = people.passwords["security_admin"]
    r = api.post("/me/password", json={"old_password": "wrong password!", "new_password": "n" * 16},
                 headers=people.auth("security_admin"))  # fmt: skip
    assert r.status_code == 422
    r = api.post(
        "/me/password", json={"old_password": old, "new_password": "n" * 16}, headers=people.auth("security_admin")
    )
    assert r.status_code == 200
    with node_ctx.reader() as s:
        user = users.by_username(s, "secadmin")
        assert users.unlock_chain_key(user, "n" * 16).address == address


def test_chain_keys_and_pseudonyms(node_ctx, node_data) -> None:  # type: ignore[no-untyped-def]
    with node_ctx.sessions() as s, s.begin():
        user = users.create_user(s, "approver2", PEOPLE_PASSWORD)
        address = users.ensure_chain_key(user, PEOPLE_PASSWORD, scrypt_n=1024)
        assert users.ensure_chain_key(user, PEOPLE_PASSWORD) == address  # once
        assert user.chain_keystore and PEOPLE_PASSWORD not in user.chain_keystore
        assert users.unlock_chain_key(user, PEOPLE_PASSWORD).address == address
        try:
            users.unlock_chain_key(user, "not the password")
            raise AssertionError("unlocked with a wrong password")
        except users.Unauthorized:
            pass
        uid = user.id
    key_path = node_data / "secrets" / "pseudonym.key"
    assert key_path.stat().st_mode & 0o777 == 0o600
    key = users.load_pseudonym_key(key_path)
    assert users.grantee_pseudonym(key, uid) != users.grantee_pseudonym(key, uid + "x")
    assert len(users.grantee_pseudonym(key, uid)) == 32


def test_init_made_the_officers(node_data, node_ctx) -> None:  # type: ignore[no-untyped-def]
    officers = node_data / "secrets" / "officers"
    assert officers.stat().st_mode & 0o777 == 0o700
    with node_ctx.reader() as s:
        for username, role in (
            ("sysadmin", "system_admin"),
            ("secadmin", "security_admin"),
            ("secauditor", "security_auditor"),
        ):
            password_file = officers / f"{username}.password"
            assert password_file.stat().st_mode & 0o777 == 0o600
            user = s.query(User).filter_by(username=username).one()
            assert users.roles_of(s, user.id) == {role}
            password = password_file.read_text().strip()
            assert len(password) >= 12 and users.verify_password(user.password_hash, password)
            assert users.unlock_chain_key(user, password).address == user.chain_address
