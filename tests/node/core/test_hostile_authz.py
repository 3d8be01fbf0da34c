"""Hostile callers against authorisation (issue 8, points 5-7 and 9): a fonds-limited key never sees
or writes another fonds, the system admin cannot hand out powers it lacks nor log in as the people it
creates, logins are throttled, constant-time and bounded, and anonymous traffic cannot bloat the ledger."""

from __future__ import annotations

import json
import re
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from anchor.models import Log
from node.core.deps import all_routes, route_authenticated
from node.core.models import AuditEvent
from node.core.roles import API_KEY_ALLOWED_ACTIONS
from node.users import service as users
from tests.helpers.people import PEOPLE_PASSWORD, People

A, B = "A001", "B002"


def meta(fonds: str, n: int) -> dict[str, Any]:
    return {"fonds": fonds, "title": f"record {n} of {fonds}", "category": "WS", "year": 2024, "retention": "永久"}


def log_sizes(node_ctx, prefix: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with node_ctx.reader() as s:
        return {lg.fonds_code: lg.size for lg in s.scalars(select(Log)) if lg.fonds_code.split("/")[0] == prefix}


def event_count(node_ctx) -> int:  # type: ignore[no-untyped-def]
    with node_ctx.reader() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent)) or 0


def _package(tmp: Path, fonds: str) -> bytes:
    from tests.helpers.checks_builders import pdf_bytes, write_package, ws_metadata, zip_of

    items = [(f"doc-{n}.pdf", pdf_bytes(1, text=f"{fonds} doc {n}"),
              ws_metadata(n, fonds_code=fonds, archival_code=None, item_number=None)) for n in (1, 2)]  # fmt: skip
    return zip_of(write_package(tmp / fonds, items))


@pytest.fixture
def two_fonds(api, people: People, node_ctx, tmp_path: Path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Items, a package, a box, a volume, checkpoints and a preservation pass in fonds A and in fonds B
    (made with the init key, which covers every fonds); a key limited to A with every key action."""
    from tests.helpers.api import upload

    made: dict[str, Any] = {A: {"items": [], "ids": set()}, B: {"items": [], "ids": set()}}
    for fonds in (A, B):
        for n in range(2):
            r = upload(api, f"{fonds} record {n}".encode(), meta(fonds, n))
            assert r.status_code == 201, r.text
            made[fonds]["items"].append(r.json()["id"])
        r = api.post("/packages", content=_package(tmp_path, fonds), headers={"Content-Type": "application/zip"})
        assert r.status_code == 201, r.text
        made[fonds]["package"] = r.json()["id"]
        made[fonds]["items"] += [i["id"] for i in r.json()["items"]]
        archivist = people.auth("archivist")
        r = api.post("/boxes", json={"fonds": fonds, "code": f"BOX-{fonds}"}, headers=archivist)
        assert r.status_code == 201, r.text
        made[fonds]["box"] = r.json()["id"]
        r = api.post("/volumes", json={"fonds": fonds, "category": "WS", "year": 2024, "retention": "永久",
                                       "title": f"volume of {fonds}"}, headers=archivist)  # fmt: skip
        assert r.status_code == 201, r.text
        made[fonds]["volume"] = r.json()["id"]
    assert api.post("/anchor").status_code == 200
    r = api.post("/preservation/run", json={})
    assert r.status_code == 200, r.text
    made["run"] = r.json()["run_id"]
    with node_ctx.reader() as s:
        for fonds in (A, B):
            made[fonds]["logs"] = [lg.log_id.hex() for lg in s.scalars(select(Log))
                                   if lg.fonds_code.split("/")[0] == fonds]  # fmt: skip
    with node_ctx.sessions() as s, s.begin():
        _row, key = users.create_api_key(s, "only A", [a.value for a in API_KEY_ALLOWED_ACTIONS], [A])
    made["key"] = {"Authorization": f"Bearer {key}"}
    made["secrets"] = {B, *made[B]["items"], made[B]["package"], made[B]["box"], made[B]["volume"],
                       *made[B]["logs"], f"BOX-{B}"}  # fmt: skip
    return made


def _fill(path: str, ids: dict[str, Any], run_id: str) -> str:
    values = {"item_id": ids["items"][0], "box_id": ids["box"], "volume_id": ids["volume"],
              "package_id": ids["package"], "run_id": run_id, "version": "1"}  # fmt: skip
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), "nobody")), path)


def test_fonds_limited_key_never_sees_nor_writes_another_fonds(api, node_ctx, two_fonds) -> None:  # type: ignore[no-untyped-def]
    key, secrets = two_fonds["key"], two_fonds["secrets"]
    b_logs = log_sizes(node_ctx, B)
    assert b_logs[B] > 0 and b_logs[B + "/audit"] > 0
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/boxes"): {"fonds": B, "code": "X-1"},
        ("POST", "/volumes"): {"fonds": B, "category": "WS", "year": 2024, "retention": "永久", "title": "t"},
        ("POST", "/preservation/run"): {"from_start": True},
        ("PATCH", "/items/{item_id}/metadata"): {"set": {"title": "changed"}, "reason": "hostile"},
        ("POST", "/items/{item_id}/move"): {"box": two_fonds[B]["box"]},
    }
    leaks: list[str] = []
    walked = 0
    for route in all_routes(api.app):
        if not isinstance(route, APIRoute) or not route_authenticated(route):
            continue  # public routes answer anyone, key or not
        for method in sorted(route.methods - {"HEAD"}):
            for target in (B, A):  # B's ids (refused or not found), then A's (answered, with nothing of B)
                path = _fill(route.path, two_fonds[target], two_fonds["run"])
                kwargs: dict[str, Any] = {"headers": key}
                if method in ("POST", "PUT", "PATCH"):
                    kwargs["json"] = bodies.get((method, route.path), {})
                r = api.request(method, path, **kwargs)
                walked += 1
                assert r.status_code < 500, (method, path, r.text)
                sent = path + json.dumps(kwargs.get("json") or {})
                found = sorted(x for x in secrets if x in r.text and x not in sent)
                if found:
                    leaks.append(f"{method} {path} -> {r.status_code}: {found}")
                if target == B and r.status_code < 300 and "{" in route.path and method != "GET":
                    leaks.append(f"{method} {path} acted on fonds B: {r.status_code}")
    assert walked > 50
    assert not leaks, "\n".join(leaks)
    assert log_sizes(node_ctx, B) == b_logs  # not one record in B's logs, nor in its audit log

    # Counts are A's alone.
    status = api.get("/status", headers=key).json()
    assert {lg["fonds"] for lg in status["logs"]} <= {A, A + "/audit"}
    assert all(c["fonds"] in (A, A + "/audit") for c in api.get("/checkpoints", headers=key).json()["checkpoints"])
    packages = api.get("/packages", headers=key).json()
    assert packages["total"] == 1 and [p["id"] for p in packages["packages"]] == [two_fonds[A]["package"]]
    report = api.get(f"/preservation/runs/{two_fonds['run']}", headers=key).json()["report"]
    assert report["filtered"] is True and report["items_checked"] == len(two_fonds[A]["items"])
    assert {i["id"] for i in report["items"]} == set(two_fonds[A]["items"])
    runs = api.get("/preservation/runs", headers=key).json()["runs"]
    assert runs and all(r["items_checked"] <= len(two_fonds[A]["items"]) for r in runs)
    # Its own pass checks A only and leaves a record in A's log, none in B's.
    a_before = log_sizes(node_ctx, A)[A]
    r = api.post("/preservation/run", json={"from_start": True}, headers=key)
    assert r.status_code == 200, r.text
    assert r.json()["items_checked"] == len(two_fonds[A]["items"]) and [x["fonds"] for x in r.json()["records"]] == [A]
    assert log_sizes(node_ctx, A)[A] == a_before + 1 and log_sizes(node_ctx, B) == b_logs
    # Uploading into B is refused, and B's logs stay as they were.
    files = {"metadata": (None, json.dumps(meta(B, 9)).encode(), "application/json"), "file": ("x", b"sneaky")}
    r = api.post("/items", files=files, headers=key)
    assert r.status_code == 403 and r.json()["error"] == "fonds_forbidden" and B not in r.text
    assert log_sizes(node_ctx, B) == b_logs
    # The init key (every fonds) still sees both.
    assert api.get("/packages").json()["total"] == 2
    assert {lg["fonds"] for lg in api.get("/status").json()["logs"]} >= {A, B}


# -- separation of duties -------------------------------------------------------------------------------
def test_system_admin_mints_only_its_own_actions_and_no_empty_fonds_list(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]
    sysadmin = people.auth("system_admin")
    for actions in (["items:read"], ["items:ingest"], ["items:content"], ["anchor:run"], ["status:read", "items:read"]):
        r = api.post("/api-keys", json={"name": "mine", "actions": actions}, headers=sysadmin)
        assert r.status_code == 403 and r.json()["error"] == "action_not_allowed", (actions, r.text)
    # What it holds itself (status:read) it may hand out; the key can do that and nothing else.
    r = api.post("/api-keys", json={"name": "monitoring", "actions": ["status:read"]}, headers=sysadmin)
    assert r.status_code == 201, r.text
    key = {"Authorization": f"Bearer {r.json()['key']}"}
    assert api.get("/status", headers=key).status_code == 200
    assert api.get("/items", headers=key).status_code == 403
    # An empty fonds list is refused: it would otherwise read as "every fonds".
    r = api.post("/api-keys", json={"name": "nothing", "actions": ["status:read"], "fonds": []}, headers=sysadmin)
    assert r.status_code == 422 and r.json()["error"] == "empty_fonds"
    # A key stored with an empty list (made before the rule) shows as no fonds and covers none.
    with node_ctx.sessions() as s, s.begin():
        row, legacy = users.create_api_key(s, "legacy", ["items:read"], ["Z001"])
        row.fonds = "[]"
    listed = {k["name"]: k for k in api.get("/api-keys", headers=sysadmin).json()["api_keys"]}
    assert listed["legacy"]["fonds"] == [] and listed["monitoring"]["fonds"] is None
    from tests.helpers.api import upload

    item = upload(api, b"in Z001").json()["id"]
    legacy_key = {"Authorization": f"Bearer {legacy}"}
    assert api.get(f"/items/{item}", headers=legacy_key).status_code == 403
    assert api.get("/items", headers=legacy_key).json()["total"] == 0


def test_first_password_set_by_the_system_admin_must_be_changed(api, people: People, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers.api import upload

    sysadmin = people.auth("system_admin")
    first = "chosen by the system admin"
    r = api.post("/users", json={"username": "liu.yang", "password": first}, headers=sysadmin)
    assert r.status_code == 201 and r.json()["password_reset"] == "must_change"
    r = api.post("/users/liu.yang/roles", json={"role": "archivist"}, headers=people.auth("security_admin"))
    assert r.status_code == 200
    item = upload(api, b"a record only archivists read").json()["id"]
    # The system admin logs in with the first password: the token may only change the password.
    r = api.post("/auth/login", json={"username": "liu.yang", "password": first})
    assert r.status_code == 200 and r.json()["password_change_required"] is True
    token = {"Authorization": f"Bearer {r.json()['token']}"}
    for path in (f"/items/{item}/content", f"/items/{item}", "/items"):
        r = api.get(path, headers=token)
        assert r.status_code == 403 and r.json()["error"] == "password_change_required", path
    # The CLI asks for the change by default too.
    from typer.testing import CliRunner

    import cli
    from node.users import commands as users_commands

    sent: list[dict[str, Any]] = []
    answer = {"username": "zhang.min", "id": "1"}
    monkeypatch.setattr(users_commands, "call_node", lambda *a, **kw: sent.append(kw.get("json") or {}) or answer)
    pw = Path(api.app.state.ctx.settings.data_dir) / "pw"
    pw.write_text(first + "\n")
    result = CliRunner().invoke(cli.app, ["users", "create", "zhang.min", "--password-file", str(pw)])
    assert result.exit_code == 0, result.output
    assert sent[-1]["must_change_password"] is True


# -- login --------------------------------------------------------------------------------------------------
def _guard(node_ctx, **over: Any):  # type: ignore[no-untyped-def]
    """A fresh login guard with some settings changed (the node's is made from its settings on first use)."""
    from node.users.login_guard import LoginGuard

    guard = LoginGuard(node_ctx.settings.model_copy(update=over))
    node_ctx._services["login_guard"] = guard  # what node_ctx.login_guard() answers from now on
    return guard


def test_login_locked_after_failures_even_with_the_right_password(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]
    _guard(node_ctx, login_max_failures=5, login_lockout_s=1.0, login_lockout_max_s=4.0)
    seen = []
    for _ in range(50):
        r = api.post("/auth/login", json={"username": "archivist", "password": "a wrong password"})
        seen.append(r.status_code)
    assert seen[:5] == [401] * 5 and set(seen[5:]) == {429}
    r = api.post("/auth/login", json={"username": "archivist", "password": PEOPLE_PASSWORD})  # the 51st, right
    assert r.status_code == 429 and r.json()["error"] == "login_locked"
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 4
    # An unknown username is locked the same way (a lockout tells nothing about who exists).
    for _ in range(6):
        r = api.post("/auth/login", json={"username": "nobody.here", "password": "a wrong password"})
    assert r.status_code == 429
    time.sleep(retry + 0.2)
    r = api.post("/auth/login", json={"username": "archivist", "password": PEOPLE_PASSWORD})
    assert r.status_code == 200, r.text
    # After a success the count starts over.
    assert api.post("/auth/login", json={"username": "archivist", "password": "wrong again!"}).status_code == 401


def test_login_beyond_the_concurrent_checks_is_refused_at_once(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]
    guard = _guard(node_ctx, login_concurrency=1)
    with guard.slot():  # the one password check slot is taken
        t0 = time.perf_counter()
        r = api.post("/auth/login", json={"username": "archivist", "password": PEOPLE_PASSWORD})
        assert r.status_code == 503 and r.json()["error"] == "login_busy" and r.headers["Retry-After"] == "1"
        assert time.perf_counter() - t0 < 5  # answered, not queued behind the held slot
        change = {"old_password": PEOPLE_PASSWORD, "new_password": "y" * 12}
        assert api.post("/me/password", json=change, headers=people.auth("auditor")).status_code == 503
    assert api.post("/auth/login", json={"username": "archivist", "password": PEOPLE_PASSWORD}).status_code == 200
    # A wrong current password on POST /me/password counts like a failed login.
    _guard(node_ctx, login_max_failures=2, login_lockout_s=60.0)
    for _ in range(2):
        r = api.post("/me/password", json={"old_password": "not mine!", "new_password": "y" * 12},
                     headers=people.auth("auditor"))  # fmt: skip
        assert r.status_code == 422 and r.json()["error"] == "wrong_current_password"
    r = api.post("/auth/login", json={"username": "auditor", "password": PEOPLE_PASSWORD})
    assert r.status_code == 429 and r.json()["error"] == "login_locked"


def test_login_locks_an_address_trying_many_usernames(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]
    _guard(node_ctx, login_max_failures=100, login_ip_max_failures=8, login_lockout_s=30.0)
    codes = [api.post("/auth/login", json={"username": f"user{n}", "password": "a wrong password"}).status_code
             for n in range(12)]  # fmt: skip
    assert codes[:8] == [401] * 8 and set(codes[8:]) == {429}
    r = api.post("/auth/login", json={"username": "auditor", "password": PEOPLE_PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1


def test_login_takes_as_long_for_an_unknown_user_as_for_a_wrong_password(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]
    _guard(node_ctx, login_max_failures=1000, login_ip_max_failures=1000)
    api.post("/auth/login", json={"username": "warm.up", "password": "a wrong password"})  # the dummy hash is made once

    def timed(username: str) -> float:
        t0 = time.perf_counter()
        r = api.post("/auth/login", json={"username": username, "password": "a wrong password"})
        assert r.status_code == 401 and r.json() == {"error": "bad_credentials", "detail": "wrong username or password"}
        return time.perf_counter() - t0

    unknown, known = [], []
    for n in range(9):  # interleaved, so a busy machine slows both alike
        unknown.append(timed(f"nobody{n}"))
        known.append(timed("archivist"))
    ratio = statistics.median(known) / statistics.median(unknown)
    assert 0.5 <= ratio <= 2.0, (statistics.median(known), statistics.median(unknown))
    # A disabled account answers the same (and takes the same time).
    assert api.post("/users/borrower/disable", headers=people.auth("system_admin")).status_code == 200
    r = api.post("/auth/login", json={"username": "borrower", "password": PEOPLE_PASSWORD})
    assert r.status_code == 401 and r.json()["error"] == "bad_credentials"


def _storm(url: str, logins: int) -> tuple[float, list[float], list[int]]:
    """/health latency (ms) before, and while `logins` parallel logins hit a server; their status codes."""
    import httpx

    with httpx.Client(base_url=url, timeout=120) as client:

        def health_ms() -> float:
            t0 = time.perf_counter()
            assert client.get("/health").status_code == 200
            return (time.perf_counter() - t0) * 1000

        base = statistics.median(health_ms() for _ in range(15))
        codes: list[int] = []
        clients = [httpx.Client(base_url=url, timeout=120) for _ in range(logins)]
        go = threading.Event()

        def login(c: httpx.Client) -> None:
            go.wait()
            codes.append(c.post("/auth/login", json={"username": "archivist", "password": PEOPLE_PASSWORD}).status_code)

        threads = [threading.Thread(target=login, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        go.set()
        during = [health_ms()]
        while any(t.is_alive() for t in threads) or len(during) < 5:
            during.append(health_ms())
        for t in threads:
            t.join(timeout=120)
        for c in clients:
            c.close()
    return base, during, codes


@pytest.mark.e2e
def test_parallel_logins_do_not_starve_health(people: People, node_data: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A real server process (`archive-ledger serve`): 40 parallel logins, /health measured meanwhile."""
    from tests.helpers.e2e_support import NodeServer, clean_env

    env = clean_env(tmp_path, ARCHIVE_LEDGER_ANCHOR_ENABLED="false", ARCHIVE_LEDGER_PRESERVATION_ENABLED="false",
                    ARCHIVE_LEDGER_LOGIN_MAX_FAILURES="1000", ARCHIVE_LEDGER_LOGIN_CONCURRENCY="2")  # fmt: skip
    server = NodeServer(node_data, env, tmp_path / "server.log").start()
    try:
        base, during, codes = _storm(server.url, 40)
    finally:
        server.stop()
    # Without the bound (40 checks at once on the shared thread pool) /health took seconds here.
    assert max(during) <= max(50 * base, 1000.0), (base, during)
    assert statistics.median(during) <= max(20 * base, 250.0), (base, during)
    assert len(codes) == 40 and set(codes) <= {200, 503}, codes
    # At most 2 password checks at once: the rest were told 503 `login_busy` at once instead of queueing.
    assert 200 in codes and 503 in codes, codes


# -- audit growth from anonymous traffic --------------------------------------------------------------------
def test_anonymous_aggregate_is_written_when_its_window_is_over() -> None:
    from node.audit.middleware import AnonymousFailures

    now = [0.0]
    agg = AnonymousFailures(60.0, clock=lambda: now[0])
    details = {"method": "POST", "route": "/items", "status": 401, "reason": "unauthorized"}
    first = agg.add("10.0.0.9", "items:ingest", "/items", "denied", details)
    assert [e.details["aggregated"] for e in first] == [False]
    for _ in range(50):
        assert agg.add("10.0.0.9", "items:ingest", "/items", "denied", details) == []
    now[0] = 61.0  # the window is over: the next anonymous refusal (any route) brings the aggregate
    out = agg.add("10.0.0.7", "auth:login", "/auth/login", "denied", {"status": 401, "username": "li"})
    aggregate = next(e for e in out if e.details.get("aggregated"))
    assert (aggregate.ip, aggregate.target, aggregate.details["count"]) == ("10.0.0.9", "/items", 50)
    assert aggregate.details["reasons"] == {"unauthorized": 50} and aggregate.details["statuses"] == {"401": 50}
    assert [e.details["aggregated"] for e in out if e.target == "/auth/login"] == [False]


def test_anonymous_posts_are_aggregated_and_unknown_paths_write_nothing(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]

    anonymous = {"Authorization": ""}
    audit_logs = lambda: sum(log_sizes(node_ctx, "Z001").get(c, 0) for c in ("Z001/audit",))  # noqa: E731
    events, records = event_count(node_ctx), audit_logs()
    for _ in range(200):
        assert api.post("/no/such/path", json={}, headers=anonymous).status_code == 404
    assert (event_count(node_ctx), audit_logs()) == (events, records)  # unknown paths: nothing at all
    for _ in range(200):
        assert api.post("/items", headers=anonymous).status_code == 401
    assert event_count(node_ctx) - events <= 2 and audit_logs() - records <= 2
    for _ in range(30):
        api.post("/auth/login", json={"username": "archivist", "password": "guessing away"}, headers=anonymous)
    assert event_count(node_ctx) - events <= 4 and audit_logs() - records <= 4
    # Reading the trail writes the aggregates: one event per address and route, with the count.
    assert node_ctx.anonymous_failures().flush(node_ctx) == 2
    with node_ctx.reader() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.seq > 0).order_by(AuditEvent.seq)))
    aggregated = [json.loads(r.details_json) for r in rows if '"aggregated": true' in r.details_json]
    by_route = {d["route"]: d for d in aggregated}
    assert by_route["/items"]["count"] == 199 and by_route["/items"]["statuses"] == {"401": 199}
    assert by_route["/auth/login"]["count"] == 29 and by_route["/auth/login"]["usernames"] == ["archivist"]
    assert event_count(node_ctx) - events <= 4
