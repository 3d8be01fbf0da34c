"""The extraction job (node/search/extraction.py): every item's text kept with its SHA-256, uploads never
wait, failures recorded without stopping the pass, resumable after a crash, bounded retries; progress in
GET /status (`extraction`) and `archive-ledger search status`; the scheduled job."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from node.core.models import ItemText, TextStatus
from node.search import extraction as extraction_mod
from node.search.extraction import Extractor
from node.search.ocr import INSTALL_HINT, Ocr
from tests.helpers.scheduler import scheduled_jobs
from tests.helpers.search_files import MiB, bomb_zip, cjk_font, docx_bytes, scan_png

NO_OCR = Ocr(tesseract="no-such-tesseract-binary")


def ingest(api: Any, data: bytes, filename: str = "doc.txt", title: str = "检索测试", fonds: str = "Z001") -> str:
    meta = {"fonds": fonds, "title": title, "category": "WS", "year": 2024, "retention": "30y"}
    files = {"metadata": (None, json.dumps(meta, ensure_ascii=False).encode(), "application/json"),
             "file": (filename, data, "application/octet-stream")}  # fmt: skip
    r = api.post("/items", files=files)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def rows(node_ctx: Any) -> dict[str, ItemText]:
    with node_ctx.reader() as s:
        found = {r.item_id: r for r in s.scalars(select(ItemText))}
        for r in found.values():
            s.expunge(r)
        return found


def extractor(node_ctx: Any, ocr: Ocr | None = NO_OCR, **settings: Any) -> Extractor:
    """A fresh extractor (a restarted node's), with settings overridden."""
    return Extractor(node_ctx.sessions, node_ctx.reader, node_ctx.blobs,
                     node_ctx.settings.model_copy(update=settings), ocr=ocr)  # fmt: skip


def status(api: Any, **kw: Any) -> dict[str, Any]:
    r = api.get("/status", **kw)
    assert r.status_code == 200, r.text
    return r.json()["extraction"]


def test_every_item_gets_its_text_with_sha256_and_extracted_at(api, node_ctx) -> None:  # type: ignore[no-untyped-def]
    a = ingest(api, "关于港口调度的通知\n第二行".encode(), "a.txt")
    b = ingest(api, docx_bytes([["关于安全", "生产检查"]]), "b.docx")
    # uploading never waits for extraction: the items are there, their text is not yet
    assert rows(node_ctx) == {}
    before = status(api)
    assert before["total"] == 2 and before["pending"] == 2 and before["done"] == 0
    report = extractor(node_ctx).run()
    assert (report.items, report.done, report.failed, report.complete) == (2, 2, 0, True)
    texts = rows(node_ctx)
    assert texts[a].status == TextStatus.DONE and texts[a].method == "txt" and texts[a].text.startswith("关于港口调度")
    assert texts[b].method == "docx" and texts[b].text == "关于安全生产检查"
    for row in texts.values():
        assert row.text_sha256 == hashlib.sha256(row.text.encode()).hexdigest()
        assert row.extracted_at is not None and row.attempts == 1 and row.message == ""
    after = status(api)
    assert (after["total"], after["done"], after["pending"], after["skipped"], after["failed"]) == (2, 2, 0, 0, 0)
    assert extractor(node_ctx).run().items == 0  # nothing left: a second pass does nothing


def test_a_hostile_item_fails_and_the_pass_goes_on(api, node_ctx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers.search_files import CONTENT_TYPES, RELS

    bomb = bomb_zip(tmp_path / "bomb.docx", "word/document.xml", 64 * MiB,
                    {"[Content_Types].xml": CONTENT_TYPES, "_rels/.rels": RELS}).read_bytes()  # fmt: skip
    bad = ingest(api, bomb, "bomb.docx")
    good = ingest(api, "正常文本".encode(), "good.txt")
    report = extractor(node_ctx).run()
    assert (report.done, report.failed) == (1, 1)
    texts = rows(node_ctx)
    assert texts[good].status == TextStatus.DONE
    assert texts[bad].status == TextStatus.FAILED and texts[bad].message.startswith("zip_bomb: ")
    assert texts[bad].text == "" and texts[bad].extracted_at is not None  # terminal, nothing half-written
    view = status(api)
    assert view["failed"] == 1 and view["last_errors"][0]["item_id"] == bad
    assert view["last_errors"][0]["message"].startswith("zip_bomb")


def test_crash_during_an_item_resumes_after_restart(api, node_ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    first = ingest(api, "第一件".encode(), "1.txt")
    second = ingest(api, "第二件".encode(), "2.txt")
    real = extraction_mod.extract

    class Crash(BaseException):
        """The process dies mid-extraction (SIGKILL, OOM): nothing after this line runs."""

    def crash(*_a: Any, **_k: Any) -> Any:
        raise Crash()

    monkeypatch.setattr(extraction_mod, "extract", crash)
    with pytest.raises(Crash):
        extractor(node_ctx).run()
    texts = rows(node_ctx)
    assert list(texts) == [first]  # the oldest first; its attempt was recorded before the work began
    assert texts[first].status == TextStatus.PENDING and texts[first].attempts == 1
    assert texts[first].extracted_at is None and texts[first].text == "" and texts[first].text_sha256 is None
    assert status(api)["pending"] == 2
    monkeypatch.setattr(extraction_mod, "extract", real)
    report = extractor(node_ctx).run()  # the restarted node resumes
    assert report.done == 2 and report.complete
    texts = rows(node_ctx)
    assert texts[first].status == TextStatus.DONE and texts[first].attempts == 2 and texts[first].text == "第一件"
    assert texts[second].attempts == 1


def test_an_item_that_always_crashes_is_given_up_after_max_attempts(api, node_ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    item = ingest(api, "总是崩溃".encode(), "x.txt")

    class Crash(BaseException):
        pass

    def crash(*_a: Any, **_k: Any) -> Any:
        raise Crash()

    monkeypatch.setattr(extraction_mod, "extract", crash)
    for _ in range(3):
        with pytest.raises(Crash):
            extractor(node_ctx, extraction_max_attempts=3).run()
    report = extractor(node_ctx, extraction_max_attempts=3).run()
    assert report.failed == 1 and report.complete
    row = rows(node_ctx)[item]
    assert row.status == TextStatus.FAILED and row.message.startswith("gave_up: ") and row.attempts == 3
    assert row.extracted_at is not None


def test_node_errors_are_retried_a_bounded_number_of_times(api, node_ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    item = ingest(api, "磁盘错误".encode(), "io.txt")
    other = ingest(api, "正常".encode(), "ok.txt")
    real = extraction_mod.extract

    def flaky(path: Path, *a: Any, **k: Any) -> Any:
        if path.read_bytes() == "磁盘错误".encode():
            raise OSError(5, "Input/output error", str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(extraction_mod, "extract", flaky)
    one = extractor(node_ctx, extraction_max_attempts=2).run()
    assert (one.retry, one.done, one.complete) == (1, 1, True)  # tried once per pass, the other item done
    row = rows(node_ctx)[item]
    assert row.status == TextStatus.PENDING and "Input/output error" in row.message and row.attempts == 1
    assert str(node_ctx.settings.data_dir) not in row.message  # no server paths
    view = status(api)
    assert view["pending"] == 1 and view["last_errors"][0]["status"] == "pending"
    extractor(node_ctx, extraction_max_attempts=2).run()
    extractor(node_ctx, extraction_max_attempts=2).run()
    row = rows(node_ctx)[item]
    assert row.status == TextStatus.FAILED and row.message.startswith("gave_up: ") and "Input/output" in row.message
    assert rows(node_ctx)[other].status == TextStatus.DONE


def test_a_missing_blob_fails(api, node_ctx) -> None:  # type: ignore[no-untyped-def]
    item = ingest(api, "将被删除".encode(), "gone.txt")
    with node_ctx.reader() as s:
        from node.core.models import Item

        sha = s.get(Item, item).content_sha256
    node_ctx.blobs.path_for(sha).unlink()
    extractor(node_ctx).run()
    row = rows(node_ctx)[item]
    assert row.status == TextStatus.FAILED and row.message.startswith("blob_missing")


def test_pass_bounds_stop_and_the_next_pass_resumes_oldest_first(api, node_ctx) -> None:  # type: ignore[no-untyped-def]
    ids = [ingest(api, f"第{i}件".encode(), f"{i}.txt") for i in range(5)]
    first = extractor(node_ctx, extraction_batch=2).run(max_items=3)
    assert first.items == 3 and not first.complete
    assert sorted(rows(node_ctx)) == sorted(ids[:3])
    assert status(api)["pending"] == 2 and status(api)["done"] == 3
    second = extractor(node_ctx, extraction_batch=2).run()
    assert second.items == 2 and second.complete and sorted(rows(node_ctx)) == sorted(ids)


@pytest.mark.skipif(cjk_font() is None, reason="no CJK font: apt-get install fonts-wqy-zenhei")
def test_ocr_missing_skips_with_the_hint_then_ocr_installed_requeues(api, node_ctx) -> None:  # type: ignore[no-untyped-def]
    item = ingest(api, scan_png(["关于码头建设合同的请示"]), "scan.png")
    node_ctx._services["ocr"] = NO_OCR  # this node has no Tesseract
    extractor(node_ctx, ocr=NO_OCR).run()
    row = rows(node_ctx)[item]
    assert row.status == TextStatus.SKIPPED and row.method == "ocr" and INSTALL_HINT in row.message
    view = status(api)
    assert view["skipped"] == 1 and view["ocr"]["available"] is False and view["ocr"]["message"] == INSTALL_HINT
    real = Ocr()
    if not real.available:
        pytest.skip(f"Tesseract with chi_sim is not installed here: {real.status.message}")
    fresh = extractor(node_ctx, ocr=real)  # OCR installed, node restarted: the skipped scans are queued again
    report = fresh.run()
    assert report.done == 1
    row = rows(node_ctx)[item]
    assert row.status == TextStatus.DONE and row.method == "ocr" and "码头" in row.text and row.ocr_pages == 1


@pytest.mark.skipif(cjk_font() is None, reason="no CJK font: apt-get install fonts-wqy-zenhei")
def test_an_uploaded_scanned_pdf_is_ocrd_by_the_job(api, node_ctx) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers.search_files import scan_pdf

    ocr = Ocr()
    if not (ocr.available and ocr.status.pdf_pages):
        pytest.skip(f"Tesseract with chi_sim and pdftoppm are not installed here: {ocr.status.message}")
    item = ingest(api, scan_pdf([["关于码头建设合同的请示", "档案馆 2024年"]]), "scan.pdf")
    assert extractor(node_ctx, ocr=ocr).run().done == 1
    row = rows(node_ctx)[item]
    assert row.method == "ocr" and (row.pages, row.ocr_pages) == (1, 1)
    assert "码头" in row.text and "合同" in row.text and "档案馆" in row.text


def test_status_of_a_fonds_limited_caller_counts_its_fonds_only(api, node_ctx) -> None:  # type: ignore[no-untyped-def]
    from node.users import service as users

    ingest(api, "甲全宗".encode(), "a.txt", fonds="Z001")
    ingest(api, "乙全宗".encode(), "b.txt", fonds="Z002")
    ingest(api, "乙全宗二".encode(), "c.txt", fonds="Z002")
    extractor(node_ctx).run(max_items=2)
    with node_ctx.sessions() as s, s.begin():
        _row, key = users.create_api_key(s, "status Z002", ["status:read"], ["Z002"])
    mine = status(api, headers={"Authorization": f"Bearer {key}"})
    assert (mine["total"], mine["done"], mine["pending"]) == (2, 1, 1)
    assert (status(api)["total"], status(api)["done"]) == (3, 2)


def test_cli_search_status(api, node_ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from cli import app
    from node.core import client as client_mod

    def fake_init(self: Any, base_url: str, api_key: str | None, *, timeout: float = 300.0) -> None:
        self.base_url, self.http = base_url, api  # the in-process app instead of a socket

    monkeypatch.setattr(client_mod.NodeClient, "__init__", fake_init)
    monkeypatch.setattr(client_mod.NodeClient, "close", lambda self: None)
    monkeypatch.setenv("ARCHIVE_LEDGER_API_KEY", "unused")
    node_ctx._services["ocr"] = NO_OCR
    ingest(api, "命令行".encode(), "c.txt")
    ingest(api, b"%PDF-1.7\n" + b"\x00garbage" * 100, "bad.pdf")
    ingest(api, "待处理".encode(), "p.txt")
    extractor(node_ctx).run(max_items=2)
    runner = CliRunner()
    result = runner.invoke(app, ["search", "status"])
    assert result.exit_code == 0, result.output
    assert "items: 3 total, 1 done (33%), 1 pending, 0 skipped, 1 failed" in result.output
    assert f"OCR: NOT available: {INSTALL_HINT}" in result.output
    assert "FAILED item" in result.output and "unreadable" in result.output
    as_json = runner.invoke(app, ["search", "status", "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.output)["pending"] == 1


def test_the_scheduled_job_is_registered_and_runs_a_pass(api, node_ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    item = ingest(api, "定时任务".encode(), "s.txt")
    jobs = scheduled_jobs(monkeypatch, node_ctx, "extraction_enabled", extraction_interval_s=7.0)
    (job,) = jobs
    assert job["id"] == "extraction" and job["trigger"] == "interval" and job["seconds"] == 7.0
    assert job["next_run_time"] is not None  # the first pass at start: resume what a crash left pending
    job["func"]()
    assert rows(node_ctx)[item].status == TextStatus.DONE
    assert node_ctx.extractor().last_error is None and node_ctx.extractor().last_run.done == 1
    assert scheduled_jobs(monkeypatch, node_ctx, only="") == []  # switched off: not scheduled


def test_a_scanned_pdf_is_found_by_search_through_its_ocr_text(api, node_ctx) -> None:  # type: ignore[no-untyped-def]
    """The whole path: upload a scan (no text layer) -> the extraction job OCRs it -> the index catches up ->
    GET /search finds it by a word that is only in the scanned image, with a <mark>ed text snippet."""
    from tests.helpers.search_files import scan_pdf

    ocr = Ocr()
    if not (ocr.available and ocr.status.pdf_pages):
        pytest.skip(f"Tesseract with chi_sim and pdftoppm are not installed here: {ocr.status.message}")
    scanned = ingest(api, scan_pdf([["关于码头建设合同的请示", "档案馆 2024年"]]), "scan.pdf", title="请示")
    ingest(api, "无关的文本".encode(), "other.txt", title="其他")
    node_ctx.search().catch_up()
    assert api.get("/search", params={"q": "码头"}).json()["total"] == 0  # not extracted yet: nothing to find
    assert extractor(node_ctx, ocr=ocr).run().done == 2
    node_ctx.search().catch_up()
    answer = api.get("/search", params={"q": "码头"}).json()  # the init key reads content: text hits count
    assert [hit["id"] for hit in answer["items"]] == [scanned], answer
    assert "<mark>码头</mark>" in answer["items"][0]["highlights"]["text"], answer
