"""The approver role exists twice, in the node and in ArchiveRoles on chain; the node keeps them in step."""

from __future__ import annotations

from anchor.roles_chain import is_approver

PASSWORD = "correct horse battery staple 42"


def _login(api, username: str, password: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    r = api.post("/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_grant_and_revoke_approver_on_chain(api, node_ctx) -> None:  # type: ignore[no-untyped-def]
    secrets = node_ctx.settings.officers_dir
    sysadmin = _login(api, "sysadmin", (secrets / "sysadmin.password").read_text().strip())
    sec_password = (secrets / "secadmin.password").read_text().strip()
    secadmin = _login(api, "secadmin", sec_password)
    assert api.post("/users", json={"username": "carol", "password": PASSWORD}, headers=sysadmin).status_code == 201
    address = api.get("/users/carol", headers=secadmin).json()["chain_address"]
    chain, roles = node_ctx.chain(), node_ctx.settings.roles_address

    # without the security admin's password nothing changes, in the node or on chain
    r = api.post("/users/carol/roles", json={"role": "approver"}, headers=secadmin)
    assert r.status_code == 422 and r.json()["error"] == "password_required"
    r = api.post("/users/carol/roles", json={"role": "approver", "password": "wrong password!"}, headers=secadmin)
    assert r.status_code == 401
    assert api.get("/users/carol", headers=secadmin).json()["roles"] == []
    assert not is_approver(chain, roles, address)

    r = api.post("/users/carol/roles", json={"role": "approver", "password": sec_password}, headers=secadmin)
    assert r.status_code == 200 and r.json()["chain_tx"], r.text
    assert is_approver(chain, roles, address)
    # the system admin cannot grant roles at all
    r = api.post("/users/carol/roles", json={"role": "borrower"}, headers=sysadmin)
    assert r.status_code == 403

    r = api.request("DELETE", "/users/carol/roles/approver", json={"password": sec_password}, headers=secadmin)
    assert r.status_code == 200, r.text
    assert not is_approver(chain, roles, address)
    assert "approver" not in api.get("/users/carol", headers=secadmin).json()["roles"]
