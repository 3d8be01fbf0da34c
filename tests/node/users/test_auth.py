"""Login tokens and API keys: who gets in, and every refusal has a reason (and an audit event)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from node.core.models import AuditEvent, AuthToken
from tests.helpers.people import PEOPLE_PASSWORD, People


def last_event(node_ctx) -> AuditEvent:  # type: ignore[no-untyped-def]
    with node_ctx.reader() as s:
        return s.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))


def test_login_me_logout(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]
    r = api.post("/auth/login", json={"username": "archivist", "password": PEOPLE_PASSWORD})
    assert r.status_code == 200 and r.json()["token"].startswith("alt_")
    token = r.json()["token"]
    with node_ctx.reader() as s:  # stored hashed only
        assert s.scalar(select(AuthToken).where(AuthToken.token_sha256 == token)) is None
    me = api.get("/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["kind"] == "user" and me["roles"] == ["archivist"] and "items:content" in me["actions"]
    event = last_event(node_ctx)
    assert (event.action, event.outcome, event.principal_name) == ("auth:login", "ok", "archivist")
    assert api.post("/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    r = api.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json()["error"] == "token_revoked"


def test_wrong_password_is_401_with_reason_and_audited(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]
    r = api.post("/auth/login", json={"username": "archivist", "password": "not the password"})
    assert r.status_code == 401 and r.json()["error"] == "bad_credentials"
    event = last_event(node_ctx)
    assert (event.action, event.outcome, event.principal_id) == ("auth:login", "denied", None)
    assert '"username": "archivist"' in event.details_json and '"reason": "bad_credentials"' in event.details_json
    r = api.post("/auth/login", json={"username": "nobody", "password": "whatever password"})
    assert r.status_code == 401 and r.json()["error"] == "bad_credentials"


def test_disabled_user_cannot_log_in_and_tokens_stop(api, people: People) -> None:  # type: ignore[no-untyped-def]
    assert api.get("/items", headers=people.auth("borrower")).status_code == 200
    r = api.post("/users/borrower/disable", headers=people.auth("system_admin"))
    assert r.status_code == 200 and r.json()["disabled"] is True
    r = api.get("/items", headers=people.auth("borrower"))
    assert r.status_code == 401 and r.json()["error"] == "token_revoked"
    r = api.post("/auth/login", json={"username": "borrower", "password": PEOPLE_PASSWORD})
    assert r.status_code == 401 and r.json()["error"] == "bad_credentials"  # same answer as a wrong password
    assert api.post("/users/borrower/enable", headers=people.auth("system_admin")).status_code == 200
    assert api.post("/auth/login", json={"username": "borrower", "password": PEOPLE_PASSWORD}).status_code == 200


def test_expired_token_refused(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]
    with node_ctx.sessions() as s, s.begin():
        s.execute(update(AuthToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    r = api.get("/items", headers=people.auth("archivist"))
    assert r.status_code == 401 and r.json()["error"] == "token_expired"


def test_token_ttl_setting(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]
    assert node_ctx.settings.token_ttl_s == 8 * 3600
    r = api.post("/auth/login", json={"username": "auditor", "password": PEOPLE_PASSWORD})
    expires = datetime.fromisoformat(r.json()["expires_at"])
    assert timedelta(hours=7, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=8)


def test_api_keys_scoped_by_action_and_fonds(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]
    from node.users import service as users
    from tests.helpers.api import META, upload

    # The system admin holds no items:read, so cannot hand it out (separation of duties): made locally here.
    r = api.post("/api-keys", json={"name": "reader Z002", "actions": ["items:read"], "fonds": ["Z002"]},
                 headers=people.auth("system_admin"))  # fmt: skip
    assert r.status_code == 403 and r.json()["error"] == "action_not_allowed"
    with node_ctx.sessions() as s, s.begin():
        _row, minted = users.create_api_key(s, "reader Z002", ["items:read"], ["Z002"])
    assert minted.startswith("alk_")
    key = {"Authorization": f"Bearer {minted}"}
    z1 = upload(api, b"in Z001").json()
    z2 = upload(api, b"in Z002", {**META, "fonds": "Z002"}).json()
    listed = api.get("/items", headers=key).json()
    assert [i["id"] for i in listed["items"]] == [z2["id"]]
    assert api.get(f"/items/{z1['id']}", headers=key).status_code == 403
    assert api.get(f"/items/{z2['id']}", headers=key).status_code == 200
    assert api.get(f"/items/{z2['id']}/content", headers=key).status_code == 403  # no items:content
    assert api.post("/anchor", headers=key).status_code == 403
    # The system admin cannot mint a key that reads content (nor officer powers).
    r = api.post("/api-keys", json={"name": "x", "actions": ["items:content"]}, headers=people.auth("system_admin"))
    assert r.status_code == 403
    r = api.post("/api-keys", json={"name": "x", "actions": ["audit:read"]}, headers=people.auth("system_admin"))
    assert r.status_code == 403
    key_id = next(k["id"] for k in api.get("/api-keys", headers=people.auth("system_admin")).json()["api_keys"]
                  if k["name"] == "reader Z002")  # fmt: skip
    assert api.delete(f"/api-keys/{key_id}", headers=people.auth("system_admin")).status_code == 200
    r = api.get("/items", headers=key)
    assert r.status_code == 401 and r.json()["error"] == "api_key_revoked"


def test_init_key_has_the_integrator_actions(api) -> None:  # type: ignore[no-untyped-def]
    me = api.get("/me").json()
    assert me["kind"] == "api_key" and me["fonds"] is None
    assert me["actions"] == ["anchor:run", "items:content", "items:ingest", "items:read", "status:read"]
