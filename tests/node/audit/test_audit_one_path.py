"""One audit path (issue 9, point 4): every request the trail covers is exactly one audit event, whatever
happens (success, refusal, error), with the action its route declares once (node/audit/request.py).

The walk goes over every route of the app (app.routes, included routers too) and drives each covered
one as every kind of caller: no credentials, callers with the wrong role, and callers allowed in with
an empty body or ids that do not exist (an error, or a success where nothing more is needed). A table
drives the successes of a representative set. Anonymous refusals are the one documented aggregation
(issue 8): a repeat within the window adds no event at once, and the aggregate written later counts it."""

# ruff: noqa: F811  (`people` is the fixture imported from tests.helpers.loans)
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from node.audit.middleware import AUDITED_READS, NOT_AUDITED, WRITE_METHODS
from node.audit.request import AuditAlreadyWritten, RequestAudit, outcome_of
from node.core.deps import all_routes, route_audit_action, route_authenticated
from node.core.models import AuditEvent, User
from node.search.service import SEARCH_ACTION
from tests.helpers.loans import PASSWORD, People, people, request_loan  # noqa: F401  (the lending fixture)


def _events_after(p: People, seq: int) -> list[AuditEvent]:
    with p.ctx.reader() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)))


def _last_seq(p: People) -> int:
    with p.ctx.reader() as s:
        return s.scalar(select(func.max(AuditEvent.seq))) or 0


def _officer(p: People, username: str) -> dict[str, str]:
    password = (p.ctx.settings.officers_dir / f"{username}.password").read_text().strip()
    r = p.api.post("/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _fill(path: str, item_id: str) -> str:
    path = path.replace("{item_id}", item_id)
    return re.sub(r"\{(\w+)\}", lambda m: "999999" if m.group(1) == "key_id" else "nobody", path)


def _covered_routes(p: People) -> list[tuple[str, Any]]:
    """(method, route) of every request the trail covers: writes and the audited reads."""
    found = []
    for route in all_routes(p.api.app):
        for method in sorted(route.methods):
            if (method, route.path) in NOT_AUDITED:
                continue
            if method in WRITE_METHODS or (method == "GET" and route.path in AUDITED_READS):
                found.append((method, route))
    # Logging out ends the caller's token: last, so the other routes still see the callers they expect.
    return sorted(found, key=lambda mr: mr[1].path == "/auth/logout")


def _page_reason(html: str) -> str | None:
    """The reason code a web UI error page shows (node/core/templates/error.html's data-reason)."""
    found = re.search(r'data-reason="([^"]*)"', html)
    return found.group(1) if found else None


def test_every_route_is_exactly_one_event_per_request_whatever_happens(people: People) -> None:
    p = people
    item = p.ingest(b"walked over" * 20)
    callers: dict[str, tuple[dict[str, str], str | None]] = {
        "anonymous": ({"Authorization": ""}, None),
        "init key": ({}, "init"),  # the client's default header: the init API key
        "alice (borrower)": (p.as_("alice"), "alice"),
        "carol (approver)": (p.as_("carol"), "carol"),
        "sysadmin": (_officer(p, "sysadmin"), "sysadmin"),
        "secadmin": (_officer(p, "secadmin"), "secadmin"),
    }
    covered = _covered_routes(p)
    assert len(covered) >= 30 and {r.path for _, r in covered} >= {"/items", "/loans", "/auth/login", "/packages"}
    anonymous_keys: set[tuple[str, str]] = set()
    aggregated = 0  # anonymous repeats, counted into an aggregate instead of an event each
    searched: set[str] = set()  # callers whose search of this minute is an event (GET /search, the /find page)
    outcomes: dict[str, set[str]] = {"ok": set(), "denied": set(), "failed": set()}
    for method, route in covered:
        url = _fill(route.path, item)
        action = route_audit_action(route, method)
        for caller, (headers, name) in callers.items():
            before = _last_seq(p)
            r = p.api.request(method, url, headers=headers, json={})
            new = _events_after(p, before)
            where = (method, route.path, caller, r.status_code)
            anonymous = r.status_code == 401 or (not route_authenticated(route) and r.status_code >= 400)
            if anonymous and (action, route.path) in anonymous_keys:
                assert new == [], where  # counted into the window's aggregate (checked below)
                aggregated += 1
                continue
            if anonymous:
                anonymous_keys.add((action, route.path))
            if action == SEARCH_ACTION and r.status_code == 200:
                if caller in searched:  # a caller's searches of one minute: one event, the rest in its aggregate
                    assert new == [], where
                    continue
                searched.add(caller)
            assert len(new) == 1, (*where, [(e.action, e.outcome) for e in new])
            event = new[0]
            details = json.loads(event.details_json)
            assert event.action == action, where
            assert event.outcome == outcome_of(r.status_code), (*where, event.outcome)
            assert (details.get("method"), details.get("route")) == (method, route.path), (*where, details)
            if r.status_code >= 400:
                assert details["status"] == r.status_code, where
                if "reason" in details:  # the error's reason code, as the answer gives it (a page: data-reason)
                    shown = r.json()["error"] if route.include_in_schema else _page_reason(r.text)
                    assert details["reason"] == shown, (*where, details, r.text)
            if anonymous:
                assert event.principal_id is None, where
            elif name not in (None, "init"):
                assert event.principal_name == name, where
            outcomes[event.outcome].add(route.path)
    # every route was refused to someone, and the walk met all three outcomes
    assert {r.path for _, r in covered} - {"/auth/login"} <= outcomes["denied"], sorted(
        {r.path for _, r in covered} - outcomes["denied"]
    )
    assert outcomes["ok"] and outcomes["failed"]
    # the anonymous repeats are in the aggregates, one count each
    before = _last_seq(p)
    p.ctx.anonymous_failures().flush(p.ctx)
    counted = sum(json.loads(e.details_json).get("count", 0) for e in _events_after(p, before))
    assert aggregated > 0 and counted == aggregated


def _one_event(p: People, call: Callable[[], Any], expect_status: int | None = None) -> tuple[Any, AuditEvent]:
    before = _last_seq(p)
    answer = call()
    if expect_status is not None:
        assert answer.status_code == expect_status, answer.text
    new = _events_after(p, before)
    assert len(new) == 1, [(e.action, e.target, e.outcome) for e in new]
    return answer, new[0]


def test_successes_are_one_event_each_with_the_action_target_and_fonds_of_today(people: People) -> None:
    p = people
    sysadmin = _officer(p, "sysadmin")
    a = p.ingest(b"first lent record" * 10)
    b = p.ingest(b"second lent record" * 10)
    assert p.api.post("/anchor").status_code == 200

    table: list[tuple[str, Callable[[], Any], int, str, str, str | None]] = [
        # (what, request, status, action, target, fonds)
        ("ingest", lambda: p.api.post("/items", files={
            "metadata": (None, json.dumps({"fonds": "Z001", "title": "t", "category": "WS", "year": 2021,
                                           "retention": "30y"}).encode(), "application/json"),
            "file": ("x.pdf", b"a third record" * 9, "application/octet-stream")}),
         201, "items:ingest", "/items/", "Z001"),
        ("new user", lambda: p.api.post("/users", json={"username": "erin", "password": PASSWORD}, headers=sysadmin),
         201, "users:manage", "/users", None),
        ("disable", lambda: p.api.post("/users/erin/disable", headers=sysadmin), 200, "users:manage", "/users/erin",
         None),
        ("login", lambda: p.api.post("/auth/login", json={"username": "bob", "password": PASSWORD}, headers={}),
         200, "auth:login", "/auth/login", None),
        ("content", lambda: p.api.get(f"/items/{a}/content"), 200, "items:content", f"/items/{a}/content", "Z001"),
        ("preservation pass", lambda: p.api.post("/preservation/run", json={"max_items": 1}), 200,
         "preservation:run", "/preservation/runs/", None),
    ]  # fmt: skip
    for what, call, status, action, target, fonds in table:
        r, event = _one_event(p, call, status)
        assert (event.action, event.outcome) == (action, "ok"), what
        assert event.target.startswith(target), (what, event.target)
        assert event.fonds == fonds, (what, event.fonds)
        details = json.loads(event.details_json)
        assert details["method"] in ("GET", "POST") and details["route"], (what, details)

    # the loan workflow: the service writes the ok event in its own transaction
    r, event = _one_event(p, lambda: p.call("alice", "POST", "/loans", json={"items": [a], "purpose": "port",
                                                                              "days": 3}), 201)  # fmt: skip
    loan = r.json()["id"]
    assert (event.action, event.target, event.outcome, event.fonds) == ("loans:request", f"loan:{loan}", "ok", "Z001")
    assert json.loads(event.details_json)["items"] == [a]
    r, event = _one_event(p, lambda: p.call("carol", "POST", f"/loans/{loan}/approve", json={"password": PASSWORD}),
                          200)  # fmt: skip
    assert (event.action, event.target, event.outcome) == ("loans:decide", f"loan:{loan}", "ok")
    assert json.loads(event.details_json)["decision"] == "approve"
    r, event = _one_event(p, lambda: p.call("alice", "POST", f"/loans/{loan}/return"), 200)
    assert (event.action, event.target, event.outcome) == ("loans:return", f"loan:{loan}", "ok")
    # a refusal by the workflow (not the route's role check): the boundary writes it, same action and target
    r, event = _one_event(p, lambda: p.call("alice", "POST", f"/loans/{loan}/return"), 409)
    assert (event.action, event.target, event.outcome) == ("loans:return", f"loan:{loan}", "failed")
    assert json.loads(event.details_json)["reason"] == "invalid_state"

    second = request_loan(p, "alice", [b])["id"]
    r, event = _one_event(p, lambda: p.call("carol", "POST", f"/loans/{second}/reject", json={"reason": "no"}), 200)
    assert (event.action, event.target, event.outcome) == ("loans:decide", f"loan:{second}", "ok")
    third = request_loan(p, "alice", [b])["id"]
    assert p.call("carol", "POST", f"/loans/{third}/approve", json={"password": PASSWORD}).status_code == 200
    r, event = _one_event(p, lambda: p.call("dave", "POST", f"/loans/{third}/revoke", json={"password": PASSWORD}),
                          403)  # fmt: skip
    assert (event.action, event.target, event.outcome) == ("loans:revoke", f"loan:{third}", "denied")
    # revoked in the node and on chain in one request: one event (the node's, written with the change)
    r, event = _one_event(p, lambda: p.call("carol", "POST", f"/loans/{third}/revoke", json={"password": PASSWORD}),
                          200)  # fmt: skip
    assert r.json()["status"] == "REVOKED" and r.json()["items"][0]["revoke_tx_hash"]
    assert (event.action, event.target, event.outcome) == ("loans:revoke", f"loan:{third}", "ok")
    assert json.loads(event.details_json)["stage"] == "node"
    # approving needs the approver's password: a wrong one is refused before the workflow, still on the loan
    fourth = request_loan(p, "alice", [b])["id"]
    r, event = _one_event(p, lambda: p.call("carol", "POST", f"/loans/{fourth}/approve", json={"password": "wrong"}))
    assert r.status_code >= 400 and (event.action, event.target) == ("loans:decide", f"loan:{fourth}")
    assert event.outcome == outcome_of(r.status_code)

    r, event = _one_event(p, lambda: p.call("bob", "POST", "/auth/logout"), 200)
    assert (event.action, event.target, event.outcome, event.principal_name) == (
        "auth:logout", "/auth/logout", "ok", "bob"
    )  # fmt: skip


def test_an_unexpected_error_is_one_failed_event(people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in a route's transaction (here: a service step that raises) rolls the change back; the
    boundary writes the one event, failed with status 500."""
    from node.users import service as users

    p = people
    sysadmin = _officer(p, "sysadmin")

    def broken(*_args: Any, **_kw: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(users, "disable_user", broken)
    before = _last_seq(p)
    with pytest.raises(RuntimeError):  # the test client re-raises what the server did not handle
        p.api.post("/users/bob/disable", headers=sysadmin)
    new = _events_after(p, before)
    assert [(e.action, e.target, e.outcome, e.principal_name) for e in new] == [
        ("users:manage", "/users/bob/disable", "failed", "sysadmin")  # a failure names the path
    ]
    assert json.loads(new[0].details_json)["status"] == 500


def _request_audit(p: People) -> RequestAudit:
    return RequestAudit(scope_state={"principal": None}, method="POST", route="/things", path="/things/1",
                        source_ip="10.0.0.1", action="things:make", default_fonds="Z001")  # fmt: skip


def test_an_event_counts_only_when_its_transaction_commits_and_only_once(people: People) -> None:
    p = people
    event = _request_audit(p)
    before = _last_seq(p)
    with pytest.raises(ZeroDivisionError), p.ctx.sessions() as s, s.begin():
        event.record(s, details={"n": 1})
        s.add(User(id="u-x", username="x", password_hash="-"))
        1 / 0  # noqa: B018  (the change fails after the event was written in its transaction)
    assert not event.written and _events_after(p, before) == []
    # the boundary then writes the request's event (here: as a failure), once
    with p.ctx.sessions() as s, s.begin():
        event.record(s, details={"status": 500}, outcome="failed")
    assert event.written
    with pytest.raises(AuditAlreadyWritten), p.ctx.sessions() as s, s.begin():
        event.record(s)
    new = _events_after(p, before)
    assert [(e.action, e.target, e.outcome) for e in new] == [("things:make", "/things/1", "failed")]
    assert json.loads(new[0].details_json) == {"method": "POST", "route": "/things", "status": 500}
    # a second record in the same open transaction is refused too
    other = _request_audit(p)
    with pytest.raises(AuditAlreadyWritten), p.ctx.sessions() as s, s.begin():
        other.record(s)
        other.record(s)
