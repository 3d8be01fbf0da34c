"""The preservation alerts page without a browser (issue 11, point 5): open alerts with severity, item
and reason; "run checks now" is POST /preservation/run (same role, the pass's one event); readers of the
status see the alerts but may not run a pass; CSRF is checked."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select

from node.core.models import AuditEvent
from tests.helpers.arrangement import ingest
from tests.helpers.people import PEOPLE_PASSWORD, People
from tests.node.core.test_web_pages import browser, csrf_of, events, last_seq, login


def test_alerts_page_and_run_checks_now(api: Any, people: People, node_ctx: Any) -> None:
    archivist = browser(api)
    assert login(archivist, "archivist", PEOPLE_PASSWORD).status_code == 303
    page = archivist.get("/preservation-alerts")
    assert page.status_code == 200 and 'id="alerts-empty"' in page.text and 'id="run-checks"' in page.text
    victim = ingest(api, b"the authentic bytes of a record")
    ingest(api, b"an untouched record")
    path = node_ctx.blobs.path_for(victim["content_sha256"])
    original = path.read_bytes()
    path.write_bytes(b"the forged bytes of a record")

    before = last_seq(node_ctx)
    r = archivist.post("/preservation-alerts/run", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 303 and r.headers["location"] == "/preservation-alerts?notice=preservation.ran_new"
    new = events(node_ctx, before)
    runs = [e for e in new if e.action == "preservation:run"]
    assert [(e.outcome, e.principal_name) for e in runs] == [("ok", "archivist")]  # the request's one event
    assert {e.action for e in new} == {"preservation:run", "preservation:alert"}  # alerts are events of their own
    page = archivist.get("/preservation-alerts?notice=preservation.ran_new")
    rows = re.findall(r'<tr class="severity-(\w+)" data-kind="(\w+)" data-item="(\w*)"', page.text)
    assert rows == [("critical", "content_mismatch", victim["id"])]
    assert victim["content_sha256"] in page.text and 'role="status"' in page.text

    # a status reader sees the alerts, but may not run a pass
    auditor = browser(api)
    assert login(auditor, "auditor", PEOPLE_PASSWORD).status_code == 303
    page = auditor.get("/preservation-alerts")
    assert page.status_code == 200 and 'data-kind="content_mismatch"' in page.text and "run-checks" not in page.text
    assert f'href="/arrange/items/{victim["id"]}/metadata"' not in page.text
    before = last_seq(node_ctx)
    r = auditor.post("/preservation-alerts/run", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 403
    assert [(e.action, e.outcome) for e in events(node_ctx, before)] == [("preservation:run", "denied")]
    borrower = browser(api)
    assert login(borrower, "borrower", PEOPLE_PASSWORD).status_code == 303
    assert borrower.get("/preservation-alerts").status_code == 403

    # without the form's token nothing runs
    before = last_seq(node_ctx)
    r = archivist.post("/preservation-alerts/run", data={})
    assert r.status_code == 403 and 'data-reason="csrf_failed"' in r.text
    assert [(e.action, e.outcome) for e in events(node_ctx, before)] == [("preservation:run", "denied")]

    # restored: the next pass resolves the alert; "all" still lists it
    path.write_bytes(original)
    page = archivist.get("/preservation-alerts")
    r = archivist.post("/preservation-alerts/run", data={"csrf_token": csrf_of(page)})
    assert r.headers["location"].endswith("notice=preservation.ran")
    page = archivist.get("/preservation-alerts")
    assert 'id="alerts-empty"' in page.text  # the pass went on from its cursor: restored items resolve when reached
    page = archivist.get("/preservation-alerts?all=true")
    assert 'data-kind="content_mismatch"' in page.text
    with node_ctx.reader() as s:
        ran = s.scalars(select(AuditEvent).where(AuditEvent.action == "preservation:run")).all()
    assert all(json.loads(e.details_json)["route"] == "/preservation-alerts/run" for e in ran if e.outcome == "ok")
