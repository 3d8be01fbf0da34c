"""Security review of the node's access paths (content, privileges, audit coverage, secrets, input).

Each hole found has a test here that failed before its fix; the other tests pin what was checked
and found fine, so a regression shows up here first."""

# ruff: noqa: F811  (`people` is the fixture imported from tests.helpers.loans)
from __future__ import annotations

import logging
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from node.audit.middleware import NOT_AUDITED
from node.core.deps import all_routes, route_authenticated
from node.core.models import AuditEvent
from tests.helpers.loans import PASSWORD, People, people, request_loan  # noqa: F401  (the lending fixture)

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _officer_token(p: People, username: str) -> tuple[dict[str, str], str]:
    password = (p.ctx.settings.officers_dir / f"{username}.password").read_text().strip()
    r = p.api.post("/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}, password


def _approved_loan(p: People, item: str, borrower: str = "alice") -> dict[str, Any]:
    loan = request_loan(p, borrower, [item])
    r = p.call("carol", "POST", f"/loans/{loan['id']}/approve", json={"password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()


def _events(p: People) -> list[AuditEvent]:
    with p.ctx.reader() as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def _event_count(p: People) -> int:
    with p.ctx.reader() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent)) or 0


# -- (1) content access ----------------------------------------------------------------------------
def test_losing_the_borrower_role_ends_access_through_old_loans(people: People) -> None:
    """Finding: the permit branch of node/lending/access.py asked only for a loan, not for the borrower role,
    so an account whose borrower role was revoked (or that became an officer, e.g. system admin)
    kept reading content through a loan approved earlier."""
    p = people
    a = p.ingest(b"lent record" * 40)
    assert p.api.post("/anchor").status_code == 200
    _approved_loan(p, a)
    assert p.call("alice", "GET", f"/items/{a}/content").status_code == 200
    sec, _ = _officer_token(p, "secadmin")
    assert p.api.delete("/users/alice/roles/borrower", headers=sec).status_code == 200
    r = p.call("alice", "GET", f"/items/{a}/content")
    assert r.status_code == 403, r.text
    last = _events(p)[-1]
    assert last.action == "items:content" and last.outcome == "denied"


def test_the_system_admin_never_gets_content(people: People) -> None:
    p = people
    a = p.ingest(b"not for the system admin" * 10)
    sysadmin, _ = _officer_token(p, "sysadmin")
    assert p.api.get(f"/items/{a}/content", headers=sysadmin).status_code == 403
    # nor through an API key of their own making
    r = p.api.post("/api-keys", json={"name": "mine", "actions": ["items:content"]}, headers=sysadmin)
    assert r.status_code == 403 and r.json()["error"] == "action_not_allowed"


def test_an_api_key_keeps_to_its_fonds_on_every_item_route(people: People) -> None:
    from node.core.roles import Action
    from node.users import service as users

    p = people
    a = p.ingest(b"fonds Z001 record" * 10)  # init's key: every fonds
    with p.ctx.sessions() as s, s.begin():  # every action, but only fonds Z999
        _row, key = users.create_api_key(s, "narrow", [x.value for x in Action], ["Z999"], allowed=frozenset(Action))
    h = {"Authorization": f"Bearer {key}"}
    assert p.api.get("/items", headers=h).json()["items"] == []
    for method, url, body in (
        ("GET", f"/items/{a}", None), ("GET", f"/items/{a}/content", None), ("GET", f"/items/{a}/checks", None),
        ("GET", f"/items/{a}/versions", None), ("GET", f"/items/{a}/arrangement", None),
        ("POST", f"/items/{a}/move", {"volume": None}),
        ("PATCH", f"/items/{a}/metadata", {"set": {"title": "renamed"}, "reason": "test"}),
    ):  # fmt: skip
        r = p.api.request(method, url, headers=h, json=body)
        assert r.status_code == 403 and r.json()["error"] == "fonds_forbidden", (method, url, r.text)


# -- (2) privilege escalation -----------------------------------------------------------------------
def test_only_the_loans_approver_or_a_security_admin_revokes(people: People) -> None:
    """Finding: any approver could revoke another approver's loan. The node marked the loan REVOKED
    (the borrower lost access) before the chain refused the signature (502): ReadPermits accepts only
    the permit's approver or a security admin, and the node must say the same before acting."""
    p = people
    a = p.ingest(b"record under carol's permit" * 10)
    assert p.api.post("/anchor").status_code == 200
    loan = _approved_loan(p, a)
    r = p.call("dave", "POST", f"/loans/{loan['id']}/revoke", json={"password": PASSWORD, "reason": "not mine"})
    assert r.status_code == 403 and r.json()["error"] == "not_loan_approver", r.text
    last = _events(p)[-1]
    assert last.action == "loans:revoke" and last.outcome == "denied"
    assert p.call("carol", "GET", f"/loans/{loan['id']}").json()["status"] == "APPROVED"
    assert p.call("alice", "GET", f"/items/{a}/content").status_code == 200
    sec, sec_password = _officer_token(p, "secadmin")
    r = p.api.post(f"/loans/{loan['id']}/revoke", json={"password": sec_password, "reason": "security"}, headers=sec)
    assert r.status_code == 200 and r.json()["status"] == "REVOKED", r.text
    assert p.call("alice", "GET", f"/items/{a}/content").status_code == 403


def test_escalation_paths_that_are_closed(people: People) -> None:
    p = people
    sec, _ = _officer_token(p, "secadmin")
    sysadmin, _ = _officer_token(p, "sysadmin")
    # own roles, officer roles through the business route, two officer roles
    assert p.api.post("/users/secadmin/roles", json={"role": "archivist"}, headers=sec).status_code == 403
    assert p.api.post("/users/alice/roles", json={"role": "system_admin"}, headers=sec).status_code == 403
    r = p.api.post("/officer-proposals", json={"user": "sysadmin", "role": "security_admin"}, headers=sec)
    assert r.status_code == 409
    r = p.api.post("/officer-proposals", json={"user": "secadmin", "role": "security_admin", "change": "revoke"},
                   headers=sec)  # fmt: skip
    assert r.status_code == 403
    # one officer cannot confirm their own proposal
    r = p.api.post("/officer-proposals", json={"user": "bob", "role": "security_auditor"}, headers=sec)
    assert r.status_code in (201, 409), r.text
    if r.status_code == 201:
        r2 = p.api.post(f"/officer-proposals/{r.json()['id']}/confirm", headers=sec)
        assert r2.status_code == 403 and r2.json()["error"] == "same_officer"
    # roles are not grantable by a borrower, nor by the system admin
    assert p.call("alice", "POST", "/users/bob/roles", json={"role": "archivist"}).status_code == 403
    assert p.api.post("/users/bob/roles", json={"role": "archivist"}, headers=sysadmin).status_code == 403
    # an approver who borrowed does not approve their own request
    a = p.ingest(b"dave's own wish" * 10)
    loan = request_loan(p, "dave", [a])
    r = p.call("dave", "POST", f"/loans/{loan['id']}/approve", json={"password": PASSWORD})
    assert r.status_code == 403 and r.json()["error"] == "own_request"
    # a logged-out token and a disabled account's token are dead
    token = p.api.post("/auth/login", json={"username": "bob", "password": PASSWORD}).json()["token"]
    bob = {"Authorization": f"Bearer {token}"}
    assert p.api.post("/auth/logout", headers=bob).status_code == 200
    assert p.api.get("/me", headers=bob).status_code == 401
    assert p.api.post(f"/users/{'bob'}/disable", headers=sysadmin).status_code == 200
    assert p.call("bob", "GET", "/me").status_code == 401
    r = p.api.post("/auth/login", json={"username": "bob", "password": PASSWORD})
    assert r.status_code == 401


# -- (3) audit coverage -----------------------------------------------------------------------------
def _fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: "999999" if m.group(1) == "key_id" else "nobody", path)


def test_every_state_changing_route_is_an_event_also_when_refused(people: People) -> None:
    """Walk app.routes: every POST/PUT/PATCH/DELETE (and the content route) without credentials and
    with a caller lacking the right leaves exactly one audit event (denied for 401/403). A repeated
    anonymous refusal of the same route in the same window is counted into one aggregated event
    instead (issue 8; tests/node/core/test_hostile_authz.py), so it adds none at once."""
    p = people
    item = p.ingest(b"walk" * 10)
    routes = [r for r in all_routes(p.api.app) for m in r.methods if m in WRITE_METHODS]
    assert len(routes) > 20
    checked = 0
    refused_anonymously: set[str] = set()
    for route in routes:
        method = next(m for m in route.methods if m in WRITE_METHODS)
        if (method, route.path) in NOT_AUDITED:  # public, changes nothing: POST /verify, POST /lang (docs/design.md)
            continue
        url = _fill(route.path.replace("{item_id}", item))
        for headers in ({"Authorization": ""}, p.as_("bob")):
            before = _event_count(p)
            r = p.api.request(method, url, headers=headers, json={})
            after = _events(p)
            anonymous = r.status_code == 401 or not route_authenticated(route)  # no principal (bob logs out midway)
            repeat = anonymous and r.status_code >= 400 and route.path in refused_anonymously
            if anonymous and r.status_code >= 400:
                refused_anonymously.add(route.path)
            assert len(after) == before + (0 if repeat else 1), (method, route.path, r.status_code, len(after) - before)
            if r.status_code in (401, 403):
                assert after[-1].outcome == "denied", (method, route.path)
            checked += 1
    before = _event_count(p)
    assert p.api.get(f"/items/{item}/content", headers={"Authorization": ""}).status_code == 401
    assert _event_count(p) == before + 1 and _events(p)[-1].outcome == "denied"
    assert checked >= 2 * (len(routes) - len(NOT_AUDITED))


# -- (4) secrets -------------------------------------------------------------------------------------
def test_init_makes_secrets_and_the_database_owner_only(node_data: Path) -> None:
    """Finding: node.db was created 0644. It holds argon2id password hashes, login-token hashes and
    people's encrypted chain keystores (offline guessing material): now 0600 like the other secrets."""
    mode = lambda path: stat.S_IMODE(path.stat().st_mode)  # noqa: E731
    assert mode(node_data / "node.db") == 0o600
    secrets = node_data / "secrets"
    assert mode(secrets) == 0o700 and mode(secrets / "officers") == 0o700
    for path in secrets.rglob("*"):
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_no_password_or_token_in_answers_or_logs(people: People, caplog: pytest.LogCaptureFixture) -> None:
    p = people
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-password-SENTINEL-1234"
    r = p.api.post("/auth/login", json={"username": "alice", "password": wrong})
    assert r.status_code == 401 and r.json() == {"error": "bad_credentials", "detail": "wrong username or password"}
    r2 = p.api.post("/auth/login", json={"username": "nobody-here", "password": wrong})
    assert r2.json() == r.json()  # no hint whether the account exists
    a = p.ingest(b"x" * 64)
    loan = request_loan(p, "alice", [a])
    r = p.call("carol", "POST", f"/loans/{loan['id']}/approve", json={"password": wrong})
    assert r.status_code == 401 and wrong not in r.text and "keystore" not in r.text.lower()
    token = p.tokens["alice"]
    text = caplog.text
    assert wrong not in text and PASSWORD not in text and token not in text
    for event in _events(p):
        assert wrong not in (event.details_json or "") and PASSWORD not in (event.details_json or "")


# -- (5) input ---------------------------------------------------------------------------------------
def test_oversized_json_bodies_are_refused(people: People) -> None:
    """Finding: JSON bodies had no cap; `POST /verify` (no key needed) took a 20 MiB body whole."""
    p = people
    big = b'{"bundle": {"x": "' + b"a" * (2 * 1024 * 1024) + b'"}}'
    r = p.api.post("/verify", content=big, headers={"content-type": "application/json", "Authorization": ""})
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"

    def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: counted while read
        yield b'{"bundle": {"x": "'
        for _ in range(40):
            yield b"a" * 65536
        yield b'"}}'

    r = p.api.post("/verify", content=chunks(), headers={"content-type": "application/json", "Authorization": ""})
    assert r.status_code == 413
    before = _event_count(p)
    body = b'{"items": ["x"], "days": 1, "purpose": "' + b"p" * (2 * 1024 * 1024) + b'"}'
    r = p.api.post("/loans", content=body, headers={**p.as_("alice"), "content-type": "application/json"})
    assert r.status_code == 413 and _event_count(p) == before + 1  # a refused write is still an event
    # a normal body still goes through
    r = p.api.post("/verify", json={"bundle": {}}, headers={"Authorization": ""})
    assert r.status_code == 200


@pytest.mark.parametrize(
    "url", ["/items?limit=-1", "/items?limit=100000000", "/items?offset=-1", "/loans?limit=0", "/packages?limit=-5",
            "/audit/events?limit=100000000", "/checkpoints?limit=-1", "/preservation/runs?limit=0"],
)  # fmt: skip
def test_list_limits_are_bounded(people: People, url: str) -> None:
    headers = _officer_token(people, "secauditor")[0] if url.startswith("/audit") else {}  # audit:read first
    assert people.api.get(url, headers=headers).status_code == 422


def test_package_paths_cannot_escape(tmp_path: Path) -> None:
    import zipfile

    from node.filing.checks.package import PackageError, _safe_extract

    for name in ("../evil.txt", "/abs.txt", "a/../../evil.txt", "a\\..\\evil.txt"):
        z = tmp_path / "p.zip"
        with zipfile.ZipFile(z, "w") as zf:
            zf.writestr(name, b"x")
        dest = tmp_path / "out"
        dest.mkdir(exist_ok=True)
        with pytest.raises(PackageError):
            _safe_extract(z, dest)
    assert not (tmp_path / "evil.txt").exists()
