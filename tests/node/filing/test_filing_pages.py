"""The archivist's filing pages without a browser (issue 11, point 5): the upload answers at once with a
job page, the checks run in the background with their progress in the database, the report shows each
item's check codes and prints alone; a bad package files nothing and says why; a restart marks an
interrupted job failed; wrong roles and missing CSRF tokens are refused; every upload is one audit event."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from node.core.models import FilingJob, Item, Package
from node.filing import jobs as filing_jobs
from tests.helpers.checks_builders import good_items, write_package, zip_of
from tests.helpers.people import PEOPLE_PASSWORD, People
from tests.node.core.test_web_pages import browser, csrf_of, events, last_seq, login

JOB_RE = re.compile(r"^/filing/jobs/([0-9a-f]{32})$")


@pytest.fixture
def archivist(api: Any, people: People) -> TestClient:
    client = browser(api)
    assert login(client, "archivist", PEOPLE_PASSWORD).status_code == 303
    return client


def upload(client: TestClient, data: bytes, *, token: str | None = None, name: str = "transfer.zip") -> Any:
    token = csrf_of(client.get("/filing")) if token is None else token
    fields = {"csrf_token": token} if token else {}
    return client.post("/filing", data=fields, files={"file": (name, data, "application/zip")})


def job_of(answer: Any) -> str:
    assert answer.status_code == 303, answer.text[:2000]
    found = JOB_RE.match(answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(1)


def wait_done(client: TestClient, job_id: str, timeout_s: float = 90) -> Any:
    """Poll the progress fragment as htmx does until the job has finished; the fragments seen on the way."""
    seen = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = client.get(f"/filing/jobs/{job_id}/progress", headers={"HX-Request": "true"})
        assert r.status_code == 200, r.text
        seen.append(r)
        if 'data-status="DONE"' in r.text or 'data-status="FAILED"' in r.text:
            return seen
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {seen[-1].text if seen else ''}")


def package_zip(tmp_path: Path, n: int = 3, **kwargs: Any) -> bytes:
    return zip_of(write_package(tmp_path / "pkg", good_items(n), **kwargs))


def counts(ctx: Any) -> tuple[int, int]:
    with ctx.reader() as s:
        return (s.scalar(select(func.count()).select_from(Item)) or 0,
                s.scalar(select(func.count()).select_from(Package).where(Package.status == "FILED")) or 0)  # fmt: skip


def test_upload_answers_at_once_then_the_job_checks_files_and_reports(
    archivist: TestClient, node_ctx: Any, tmp_path: Path
) -> None:
    page = archivist.get("/filing")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text and 'id="jobs-empty"' in page.text
    before = last_seq(node_ctx)
    job_id = job_of(upload(archivist, package_zip(tmp_path), name="C:\\exports\\transfer-2024.zip"))
    first = archivist.get(f"/filing/jobs/{job_id}")
    assert first.status_code == 200
    if 'id="report"' not in first.text:  # still running: the page polls its progress fragment every second
        assert f'hx-get="/filing/jobs/{job_id}/progress"' in first.text and 'hx-trigger="every 1s"' in first.text
        assert "<progress" in first.text
    seen = wait_done(archivist, job_id)
    done = seen[-1]
    assert done.headers["HX-Redirect"] == f"/filing/jobs/{job_id}"  # the page reloads to show the report
    assert 'hx-trigger' not in done.text and 'max="3" value="3"' in done.text  # 3 of 3 checked, no more polling
    with node_ctx.reader() as s:
        row = s.get(FilingJob, job_id)
        assert (row.status, row.stage, row.items_checked, row.items_total) == ("DONE", "done", 3, 3)
        assert row.name == "transfer-2024.zip" and row.package_id
        package_id = row.package_id
    assert counts(node_ctx) == (3, 1)
    report = archivist.get(f"/filing/jobs/{job_id}")
    assert 'id="report"' in report.text and 'data-status="FILED"' in report.text and "nothing-filed" not in report.text
    rows = re.findall(r'<tr class="item-(\w+)" data-path="([^"]+)"', report.text)
    assert rows == [("pass", "doc-0001.pdf"), ("pass", "doc-0002.pdf"), ("pass", "doc-0003.pdf")]
    for code in ("AUTH-DIGEST", "AUTH-REFCODE", "SEC-VIRUS", "USAB-FORMAT", "INTEG-COUNT"):
        assert f'data-code="{code}"' in report.text, code
    assert f'href="/filing/packages/{package_id}/print"' in report.text
    printed = archivist.get(f"/filing/packages/{package_id}/print")
    assert printed.status_code == 200 and 'id="report"' in printed.text
    assert "<nav" not in printed.text and "<form" not in printed.text and 'class="printable"' in printed.text
    assert archivist.get(f"/filing/packages/{package_id}").status_code == 200
    # the recent jobs list shows it
    assert f'data-job="{job_id}"' in archivist.get("/filing").text
    assert f'href="/filing/jobs/{job_id}"' in archivist.get("/").text  # and the archivist's home page
    # one audit event for the upload: the API's action, written with the filing (target: the package)
    new = events(node_ctx, before)
    assert [(e.action, e.outcome, e.target) for e in new] == [("items:ingest", "ok", f"/packages/{package_id}")]
    details = json.loads(new[0].details_json)
    assert details["job_id"] == job_id and details["status"] == "FILED" and details["route"] == "/filing"
    assert new[0].principal_name == "archivist" and new[0].fonds == "Z001"
    # the upload is gone once the job is done
    assert list((node_ctx.settings.data_dir / "filing-jobs").glob("*.zip")) == []
    # the same package again: the original answers, nothing filed twice, one more event
    before = last_seq(node_ctx)
    again = job_of(upload(archivist, package_zip(tmp_path)))
    wait_done(archivist, again)
    page = archivist.get(f"/filing/jobs/{again}")
    assert 'id="job-duplicate"' in page.text and f'data-package="{package_id}"' in page.text
    assert counts(node_ctx) == (3, 1)
    assert [(e.action, e.outcome) for e in events(node_ctx, before)] == [("items:ingest", "ok")]


def test_a_package_failing_its_checks_shows_the_codes_and_files_nothing(
    archivist: TestClient, node_ctx: Any, tmp_path: Path
) -> None:
    bad = package_zip(tmp_path, row_over={"doc-0002.pdf": {"sha256": "0" * 64}})  # a wrong manifest
    before = last_seq(node_ctx)
    job_id = job_of(upload(archivist, bad))
    wait_done(archivist, job_id)
    page = archivist.get(f"/filing/jobs/{job_id}")
    assert 'data-status="REJECTED"' in page.text and 'id="nothing-filed"' in page.text
    blocking = re.search(r'<ul id="blocking".*?</ul>', page.text, re.S)
    assert blocking and 'data-code="AUTH-DIGEST"' in blocking.group(0) and "doc-0002.pdf" in blocking.group(0)
    assert re.search(r'<tr class="item-fail" data-path="doc-0002.pdf"', page.text)
    assert counts(node_ctx) == (0, 0)  # all or none
    new = events(node_ctx, before)
    assert len(new) == 1 and new[0].action == "items:ingest"
    assert json.loads(new[0].details_json)["status"] == "REJECTED"  # as the API records a rejected package


def test_a_zip_bomb_fails_the_job_with_its_reason(archivist: TestClient, node_ctx: Any) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.txt", b"\0" * (64 * 1024 * 1024))  # inflates >1000 times: refused from the directory
        zf.writestr("manifest.json", json.dumps({"items": [{"path": "big.txt", "sha256": "0" * 64}]}))
    before = last_seq(node_ctx)
    job_id = job_of(upload(archivist, buf.getvalue()))
    wait_done(archivist, job_id)
    page = archivist.get(f"/filing/jobs/{job_id}")
    assert 'id="job-error" data-reason="package_unreadable"' in page.text and "decompression bomb" in page.text
    assert counts(node_ctx) == (0, 0)
    new = events(node_ctx, before)
    assert [(e.action, e.outcome) for e in new] == [("items:ingest", "failed")]
    assert json.loads(new[0].details_json)["reason"] == "package_unreadable"


def test_not_a_zip_and_no_file_are_refused_at_once(archivist: TestClient, node_ctx: Any) -> None:
    before = last_seq(node_ctx)
    token = csrf_of(archivist.get("/filing"))
    r = archivist.post("/filing", data={"csrf_token": token})  # not even multipart
    assert r.status_code == 422 and 'data-reason="not_a_package"' in r.text
    r = archivist.post("/filing", data={"csrf_token": token}, files={"note": ("n.txt", b"x", "text/plain")})
    assert r.status_code == 422 and 'data-reason="missing_part"' in r.text  # a form without the package
    many = {"csrf_token": token, **{f"f{n}": "x" for n in range(20)}}  # small fields are kept: a few only
    r = archivist.post("/filing", data=many, files={"file": ("p.zip", b"PK", "application/zip")})
    assert r.status_code == 422 and 'data-reason="invalid_input"' in r.text
    new = events(node_ctx, before)
    assert [(e.action, e.outcome) for e in new] == [("items:ingest", "failed")] * 3
    with node_ctx.reader() as s:
        assert s.scalar(select(func.count()).select_from(FilingJob)) == 0


def test_a_job_a_restart_interrupted_is_marked_failed_once(
    api: Any, archivist: TestClient, node_ctx: Any, people: People
) -> None:
    """A node killed mid-job leaves a RUNNING row and its upload; the next start marks it failed (one event,
    the upload's) and removes the upload; the job page says to upload again."""
    jobs_dir = node_ctx.settings.data_dir / "filing-jobs"
    jobs_dir.mkdir(exist_ok=True)
    (jobs_dir / f"{'a' * 32}.zip").write_bytes(b"PK left by a killed node")
    with node_ctx.sessions() as s, s.begin():
        s.add(FilingJob(id="a" * 32, status="RUNNING", stage="checking", name="big.zip", size=24, items_total=10,
                        items_checked=4, duplicate=False, principal_kind="user", principal_id=people.ids["archivist"],
                        principal_name="archivist", source_ip="testclient"))  # fmt: skip
    before = last_seq(node_ctx)
    from node.app import create_app

    with TestClient(create_app(node_ctx, scheduler=False)):  # a start: its lifespan recovers
        pass
    with node_ctx.reader() as s:
        row = s.get(FilingJob, "a" * 32)
        assert (row.status, row.reason) == ("FAILED", filing_jobs.INTERRUPTED) and row.finished_at is not None
    new = events(node_ctx, before)
    assert [(e.action, e.outcome, e.principal_name) for e in new] == [("items:ingest", "failed", "archivist")]
    assert json.loads(new[0].details_json)["reason"] == "job_interrupted"
    assert not (jobs_dir / f"{'a' * 32}.zip").exists()
    page = archivist.get(f"/filing/jobs/{'a' * 32}")
    assert 'data-reason="job_interrupted"' in page.text
    assert node_ctx.filing_jobs().recover() == 0  # a second start marks nothing twice


def test_roles_csrf_and_unknown_jobs(api: Any, people: People, archivist: TestClient, node_ctx: Any,
                                     tmp_path: Path) -> None:  # fmt: skip
    borrower = browser(api)
    assert login(borrower, "borrower", PEOPLE_PASSWORD).status_code == 303
    r = borrower.get("/filing")
    assert r.status_code == 403 and 'data-reason="forbidden"' in r.text
    token = csrf_of(borrower.get("/profile"))
    before = last_seq(node_ctx)
    r = borrower.post("/filing", data={"csrf_token": token}, files={"file": ("p.zip", b"PK", "application/zip")})
    assert r.status_code == 403
    assert [(e.action, e.outcome) for e in events(node_ctx, before)] == [("items:ingest", "denied")]
    # an archivist's form without its token (or with another's) writes nothing, not even the upload
    for token in ("", "0" * 64):
        before = last_seq(node_ctx)
        r = upload(archivist, package_zip(tmp_path / token[:1]), token=token or "")
        assert r.status_code == 403 and 'data-reason="csrf_failed"' in r.text
        assert [(e.action, e.outcome) for e in events(node_ctx, before)] == [("items:ingest", "denied")]
    with node_ctx.reader() as s:
        assert s.scalar(select(func.count()).select_from(FilingJob)) == 0
    assert list(node_ctx.blobs.tmp_dir.glob("upload-package-*")) == []
    r = archivist.get(f"/filing/jobs/{'f' * 32}")
    assert r.status_code == 404 and 'data-reason="job_not_found"' in r.text
    # a bearer caller (no cookie, no ambient authority) needs no token, as with every page form
    r = api.post("/filing", files={"file": ("p.zip", package_zip(tmp_path / "b"), "application/zip")},
                 headers={"Authorization": f"Bearer {people.init_key}"}, follow_redirects=False)  # fmt: skip
    job_id = job_of(r)
    assert wait_done(archivist, job_id)[-1].status_code == 200


def test_the_api_files_asynchronously_too(api: Any, people: People, node_ctx: Any, tmp_path: Path) -> None:
    """POST /packages?async=true: 202 at once with the job, GET /packages/jobs/{id} until finished; the same
    one event as the synchronous call, written when the job files."""
    before = last_seq(node_ctx)
    r = api.post("/packages", params={"async": "true", "name": "by-api.zip"}, content=package_zip(tmp_path),
                 headers={"Content-Type": "application/zip"})  # fmt: skip
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/packages/jobs/{job['id']}" and job["name"] == "by-api.zip"
    assert job["status"] in ("QUEUED", "RUNNING", "DONE") and job["submitted_by"].startswith("api_key:")
    deadline = time.monotonic() + 90
    while not job["finished"] and time.monotonic() < deadline:
        time.sleep(0.2)
        job = api.get(f"/packages/jobs/{job['id']}").json()
    assert (job["status"], job["items_checked"], job["items_total"], job["reason"]) == ("DONE", 3, 3, None)
    package = api.get(f"/packages/{job['package_id']}").json()
    assert package["status"] == "FILED" and len(package["items"]) == 3
    new = events(node_ctx, before)
    assert [(e.action, e.outcome, e.target) for e in new] == [("items:ingest", "ok", f"/packages/{job['package_id']}")]
    assert json.loads(new[0].details_json)["route"] == "/packages"
    assert api.get(f"/packages/jobs/{'0' * 32}").json()["error"] == "job_not_found"
    r = api.get(f"/packages/jobs/{job['id']}", headers=people.auth("borrower"))
    assert r.status_code == 403
