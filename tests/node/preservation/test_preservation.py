"""Long-term preservation checks (node/preservation/service.py): tampering found and alerted, a clean store
passes, the cursor resumes, the rate bound holds (as a pure function, not by timing)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from anchor.models import Log, LogEntry
from node.core.models import AuditEvent, PreservationItem
from node.preservation.service import Throttle, throttle_delay
from tests.helpers.people import People
from tests.helpers.scheduler import scheduled_jobs
from verifier.records import canonical_bytes


def ingest(api: Any, data: bytes, title: str = "保管期检测") -> dict[str, Any]:
    meta = {"fonds": "Z001", "title": title, "category": "WS", "year": 2024, "retention": "30y"}
    files = {"metadata": (None, json.dumps(meta, ensure_ascii=False).encode(), "application/json"),
             "file": ("doc.txt", data, "application/octet-stream")}  # fmt: skip
    r = api.post("/items", files=files)
    assert r.status_code == 201, r.text
    return r.json()


def run(api: Any, **body: Any) -> dict[str, Any]:
    r = api.post("/preservation/run", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_throttle_delay_is_the_rate_bound() -> None:
    mb = 1_000_000
    assert throttle_delay(0, 0.0, 10 * mb) == 0.0
    assert throttle_delay(10 * mb, 0.0, 10 * mb) == pytest.approx(1.0)  # 10 MB at 10 MB/s: one second
    assert throttle_delay(10 * mb, 0.4, 10 * mb) == pytest.approx(0.6)
    assert throttle_delay(10 * mb, 2.0, 10 * mb) == 0.0  # slower than the bound already: no wait
    assert throttle_delay(5 * mb, 0.0, 0) == 0.0  # no bound


def test_throttle_keeps_a_pass_under_the_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    throttle = Throttle(2_000_000, clock=lambda: now[0], sleep=sleep)
    for _ in range(10):  # 10 chunks of 1 MB, read instantly
        throttle.spent(1_000_000)
        assert throttle.done / max(now[0], 1e-9) <= 2_000_000 * 1.000001
    assert now[0] == pytest.approx(5.0) and len(slept) == 10


def test_clean_store_passes_and_the_run_is_a_record(api, node_ctx) -> None:  # type: ignore[no-untyped-def]
    items = [ingest(api, f"保管 {i}".encode()) for i in range(3)]
    api.post("/anchor")
    result = run(api, from_start=True)
    assert result["items_checked"] == 3 and result["new_alerts"] == [] and result["cycle_complete"]
    assert result["items_with_differences"] == 0
    report = api.get(f"/preservation/runs/{result['run_id']}").json()
    import hashlib

    assert hashlib.sha256(canonical_bytes(report["report"])).hexdigest() == report["report_sha256"]
    assert {i["id"] for i in report["report"]["items"]} == {i["id"] for i in items}
    assert all(i["anchored"] and i["usable"] for i in report["report"]["items"])
    (rec,) = result["records"]
    with node_ctx.reader() as s:
        log = s.scalar(select(Log).where(Log.fonds_code == "Z001"))
        entry = s.get(LogEntry, (log.id, rec["leaf_index"]))
        record = json.loads(entry.record)
    assert record["type"] == "preservation.run" and record["content_sha256"] == report["report_sha256"]
    status = api.get("/status").json()["preservation"]
    assert status["last_run"]["run_id"] == result["run_id"] and status["open_alerts"] == 0
    assert api.get("/preservation/alerts").json()["alerts"] == []


def test_tampered_blob_is_detected_and_alerted(api, node_ctx, people: People) -> None:  # type: ignore[no-untyped-def]
    good = ingest(api, b"an untouched record")
    victim = ingest(api, b"the authentic bytes of a record")
    api.post("/anchor")
    path = node_ctx.blobs.path_for(victim["content_sha256"])
    original = path.read_bytes()
    path.write_bytes(b"the forged bytes of a record")

    result = run(api, from_start=True)
    assert [(a["item_id"], a["kind"]) for a in result["new_alerts"]] == [(victim["id"], "content_mismatch")]
    alert = api.get("/preservation/alerts", headers=people.auth("auditor")).json()["alerts"][0]
    assert alert["expected"] == victim["content_sha256"] and alert["actual"] != victim["content_sha256"]
    assert api.get("/preservation/alerts", headers=people.auth("borrower")).status_code == 403
    status = api.get("/status").json()["preservation"]
    assert status["open_alerts"] == 1 and status["alerts"][0]["item_id"] == victim["id"]
    with node_ctx.reader() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "preservation:alert")).all()
    assert len(events) == 1 and events[0].outcome == "failed" and victim["id"] in events[0].target

    # Found again: the open alert is not raised twice. Restored: the alert is resolved.
    assert run(api, from_start=True)["new_alerts"] == []
    path.write_bytes(original)
    assert run(api, from_start=True)["items_with_differences"] == 0
    assert api.get("/preservation/alerts").json()["alerts"] == []
    assert api.get("/preservation/alerts", params={"all": True}).json()["alerts"][0]["resolved_at"]

    path.unlink()
    kinds = [a["kind"] for a in run(api, from_start=True)["new_alerts"]]
    assert kinds == ["blob_missing"]
    assert good["id"] not in [a["item_id"] for a in api.get("/preservation/alerts").json()["alerts"]]


def test_unusable_content_and_lost_usability(api, node_ctx) -> None:  # type: ignore[no-untyped-def]
    broken = ingest(api, b"%PDF-1.7\nnot really a pdf at all\n")
    fine = ingest(api, "一份可读的文本".encode())
    result = run(api, from_start=True)
    assert [(a["item_id"], a["kind"]) for a in result["new_alerts"]] == [(broken["id"], "unusable")]
    # A file that parsed before and no longer does (e.g. a parser or format registry change) is an alert too.
    with node_ctx.sessions() as s, s.begin():
        s.get(PreservationItem, fine["id"]).format = "pdf"
    kinds = {(a["item_id"], a["kind"]) for a in run(api, from_start=True)["new_alerts"]}
    assert kinds == {(fine["id"], "format_changed")}


def test_cursor_resumes_a_pass(api) -> None:  # type: ignore[no-untyped-def]
    ids = sorted(ingest(api, f"cursor {i}".encode())["id"] for i in range(5))
    first = run(api, from_start=True, max_items=2)
    assert first["items_checked"] == 2 and not first["cycle_complete"]
    assert api.get("/status").json()["preservation"]["cursor"] == ids[1]
    second = run(api)
    assert second["items_checked"] == 3 and second["cycle_complete"]
    assert api.get("/status").json()["preservation"]["cursor"] is None
    assert run(api)["items_checked"] == 5  # a new cycle


def test_the_scheduled_job_is_registered_and_runs_a_pass(node_ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from node.core.models import PreservationRun

    jobs = scheduled_jobs(monkeypatch, node_ctx, "preservation_enabled", preservation_interval_s=600.0)
    (job,) = jobs
    assert job["id"] == "preservation" and job["trigger"] == "interval" and job["seconds"] == 600.0
    assert "next_run_time" not in job  # the first pass comes one interval after start
    job["func"]()  # what the scheduler calls: one pass, recorded as scheduled
    with node_ctx.reader() as s:
        assert s.scalars(select(PreservationRun.trigger)).all() == ["schedule"]
    assert node_ctx.preserver().last_error is None
