"""Filing transfer packages (issue 4): checked as a whole, filed atomically, reference codes assigned
in sequence and never twice, re-sent packages recognised, reports served and anchored in the records."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from anchor.log import MerkleLog
from anchor.models import Log
from node.core.models import Item, Package, RefcodeCounter
from node.filing.service import Filer, package_digest
from tests.helpers.checks_builders import EICAR, ELF_HEADER, pdf_bytes, sha256, write_package, ws_metadata, zip_of
from verifier.errors import RecordError
from verifier.records import canonical_bytes, new_record, validate_record


def items_of(start: int, count: int, **over: Any) -> list[tuple[str, bytes, dict[str, Any]]]:
    """PDF items without reference code or item number (the node assigns them) unless `over` gives them."""
    base = {"archival_code": None, "item_number": None}
    return [
        (f"doc-{n:04d}.pdf", pdf_bytes(1, text=f"doc {n}"), ws_metadata(n, **{**base, **over}))
        for n in range(start, start + count)
    ]


def post(api: Any, root: Path, **kwargs: Any) -> Any:
    return api.post("/packages", content=zip_of(root, **kwargs), headers={"Content-Type": "application/zip"})


def state(ctx: Any) -> dict[str, Any]:
    """What filing can change: items, log sizes, counters, filed packages, blob files."""
    with ctx.reader() as s:
        return {
            "items": s.scalar(select(func.count()).select_from(Item)),
            "logs": {lg.fonds_code: lg.size for lg in s.scalars(select(Log)) if "/" not in lg.fonds_code},
            "counters": {c.scope: c.last_number for c in s.scalars(select(RefcodeCounter))},
            "filed": s.scalar(select(func.count()).select_from(Package).where(Package.status == "FILED")),
            "blobs": sorted(p.name for p in ctx.blobs.root.glob("??/??/*")),
        }


@pytest.fixture
def filer(node_ctx: Any) -> Filer:
    return Filer(node_ctx.sessions, node_ctx.blobs, reader=node_ctx.reader)


def file_dir(filer: Filer, root: Path) -> Any:
    return filer.file(root, who="test", where="127.0.0.1")


def codes_of(ctx: Any) -> list[str]:
    with ctx.reader() as s:
        return sorted(c for c in s.scalars(select(Item.archival_code)) if c)


# -- a good package -----------------------------------------------------------------------------------
def test_good_package_files_completely(api: Any, node_ctx: Any, tmp_path: Path) -> None:
    root = write_package(tmp_path / "pkg", items_of(1, 3))
    answer = post(api, root)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "FILED" and body["duplicate"] is False and body["item_count"] == 3
    assert [i["archival_code"] for i in body["items"]] == [f"Z001-WS·2024-Y-BGS-{n:04d}" for n in (1, 2, 3)]
    assert body["report"]["blocking"] == []

    with node_ctx.reader() as s:
        log = MerkleLog(s)
        for entry in body["items"]:
            item = s.get(Item, entry["id"])
            checks = api.get(f"/items/{item.id}/checks")
            assert checks.status_code == 200, checks.text
            report = checks.json()
            # the report's digest is recomputable from the JSON and sits in the item's ledger record
            assert report["digest"] == hashlib.sha256(canonical_bytes(report["report"])).hexdigest()
            record = log.record(s.get(Log, item.log_pk), item.leaf_index)
            validate_record(record)
            assert record["checks_sha256"] == report["digest"]
            assert record["content_sha256"] == item.content_sha256 == report["report"]["sha256"]
            assert json.loads(item.metadata_json)["archival_code"] == item.archival_code
            assert node_ctx.blobs.exists(item.content_sha256)
        assert s.get(Log, s.get(Item, body["items"][0]["id"]).log_pk).size == 3

    got = api.get(f"/packages/{body['id']}")
    assert got.status_code == 200 and got.json()["report"]["package"] == body["report"]["package"]
    text = api.get(f"/packages/{body['id']}", params={"format": "text"})
    assert text.status_code == 200 and "FILED" in text.text and "AUTH-DIGEST" in text.text
    assert "NOT BLOCKED" in text.text
    item_text = api.get(f"/items/{body['items'][0]['id']}/checks", params={"format": "text"})
    assert "SEC-VIRUS" in item_text.text
    listed = api.get("/packages").json()
    assert listed["total"] == 1 and listed["packages"][0]["id"] == body["id"]
    assert "report" not in listed["packages"][0]


def test_resent_package_is_not_filed_twice(api: Any, node_ctx: Any, tmp_path: Path) -> None:
    root = write_package(tmp_path / "pkg", items_of(1, 2))
    first = post(api, root)
    assert first.status_code == 201, first.text
    before = state(node_ctx)
    # the same package, packed differently (stored instead of deflated): recognised by its digest
    again = post(api, root, compression=zipfile.ZIP_STORED)
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True and again.json()["id"] == first.json()["id"]
    assert [i["id"] for i in again.json()["items"]] == [i["id"] for i in first.json()["items"]]
    assert state(node_ctx) == before
    # metadata corrected: another package
    write_package(tmp_path / "pkg2", items_of(3, 2))
    assert post(api, tmp_path / "pkg2").status_code == 201


def test_package_digest_is_independent_of_the_container(tmp_path: Path) -> None:
    from node.filing.checks.package import load_package

    root = write_package(tmp_path / "pkg", items_of(1, 2))
    (tmp_path / "p.zip").write_bytes(zip_of(root, compression=zipfile.ZIP_STORED))
    with load_package(root) as a, load_package(tmp_path / "p.zip") as b:
        assert package_digest(a)[0] == package_digest(b)[0]
    write_package(tmp_path / "other", items_of(1, 2, responsible="另一个部门"))
    with load_package(root) as a, load_package(tmp_path / "other") as b:
        assert package_digest(a)[0] != package_digest(b)[0]


# -- each blocking failure rejects the whole package ---------------------------------------------------
def _eicar(items: list[Any]) -> None:
    _, _, md = items[1]
    items[1] = ("eicar.txt", EICAR, md)


def _renamed(items: list[Any]) -> None:
    _, data, md = items[1]
    items[1] = ("doc-renamed.txt", data, md)


def _gap(items: list[Any]) -> None:
    for k, n in enumerate((1, 2, 4)):
        items[k][2]["item_number"] = n


def _executable(items: list[Any]) -> None:
    items[2] = ("tool.pdf", ELF_HEADER, items[2][2])


def _required(items: list[Any]) -> None:
    del items[0][2]["title"]


BLOCKING = {
    "SEC-VIRUS": _eicar,
    "AUTH-ATTR-FORMAT": _renamed,
    "INTEG-NUMBERING": _gap,
    "SEC-EXECUTABLE": _executable,
    "INTEG-REQUIRED": _required,
}


@pytest.mark.parametrize("code", sorted(BLOCKING))
def test_each_blocking_failure_files_nothing(filer: Filer, node_ctx: Any, tmp_path: Path, code: str) -> None:
    write_package(tmp_path / "first", items_of(1, 2))
    assert file_dir(filer, tmp_path / "first").status == "FILED"
    before = state(node_ctx)
    items = items_of(3, 3)
    BLOCKING[code](items)
    outcome = file_dir(filer, write_package(tmp_path / "bad", items))
    assert outcome.status == "REJECTED", outcome.report["blocking"]
    assert code in {b["code"] for b in outcome.report["blocking"]}, outcome.report["blocking"]
    assert state(node_ctx) == before  # no item, record, counter or blob of the package
    with node_ctx.reader() as s:
        row = s.get(Package, outcome.package_id)
        assert row.status == "REJECTED" and row.filed_digest is None
        assert json.loads(row.report_json)["blocking"] == outcome.report["blocking"]


def test_digest_mismatch_rejects_the_package(api: Any, node_ctx: Any, tmp_path: Path) -> None:
    items = items_of(1, 3)
    root = write_package(tmp_path / "pkg", items, row_over={"doc-0002.pdf": {"sha256": sha256(b"other bytes")}})
    before = state(node_ctx)
    answer = post(api, root)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == "package_rejected" and body["status"] == "REJECTED" and body["items"] == []
    assert {(b["item"], b["code"]) for b in body["report"]["blocking"]} == {("doc-0002.pdf", "AUTH-DIGEST")}
    assert state(node_ctx) == before
    assert api.get(f"/packages/{body['id']}").json()["status"] == "REJECTED"
    assert api.get("/packages", params={"status": "rejected"}).json()["total"] == 1


def test_unreadable_package_is_refused(api: Any) -> None:
    answer = api.post("/packages", content=b"not a zip", headers={"Content-Type": "application/zip"})
    assert answer.status_code == 422 and answer.json()["error"] == "package_unreadable"
    answer = api.post("/packages", json={})
    assert answer.status_code == 422 and answer.json()["error"] == "not_a_package"


def test_multipart_upload(api: Any, tmp_path: Path) -> None:
    root = write_package(tmp_path / "pkg", items_of(1, 1))
    answer = api.post("/packages", files={"file": ("移交-2024.zip", zip_of(root), "application/zip")})
    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == "移交-2024.zip"


# -- reference codes -----------------------------------------------------------------------------------
def test_numbering_continues_across_packages(filer: Filer, node_ctx: Any, tmp_path: Path) -> None:
    assert file_dir(filer, write_package(tmp_path / "a", items_of(1, 3))).status == "FILED"
    assert file_dir(filer, write_package(tmp_path / "b", items_of(4, 2))).status == "FILED"
    assert codes_of(node_ctx) == [f"Z001-WS·2024-Y-BGS-{n:04d}" for n in range(1, 6)]
    # a given number that leaves a gap after the counter (5): rejected
    gap = file_dir(filer, write_package(tmp_path / "c", items_of(6, 1, item_number=7)))
    assert gap.status == "REJECTED"
    assert {b["code"] for b in gap.report["blocking"]} == {"INTEG-NUMBERING"}
    # a given number already issued: a repeat
    repeat = file_dir(filer, write_package(tmp_path / "d", items_of(6, 1, item_number=5)))
    assert repeat.status == "REJECTED" and "INTEG-NUMBERING" in {b["code"] for b in repeat.report["blocking"]}
    # given codes that continue the counter are validated and accepted; then assignment goes on from them
    given = [(f"g-{n}.pdf", pdf_bytes(1, text=f"g{n}"), ws_metadata(n)) for n in (6, 7)]
    assert file_dir(filer, write_package(tmp_path / "e", given)).status == "FILED"
    assert file_dir(filer, write_package(tmp_path / "f", items_of(8, 1))).status == "FILED"
    assert codes_of(node_ctx) == [f"Z001-WS·2024-Y-BGS-{n:04d}" for n in range(1, 9)]
    with node_ctx.reader() as s:
        assert list(s.scalars(select(RefcodeCounter.last_number))) == [8]
    # another scope (retention 30 years) has its own counter
    other = file_dir(filer, write_package(tmp_path / "g", items_of(20, 2, retention="30年")))
    assert other.status == "FILED"
    assert "Z001-WS·2024-D30-BGS-0001" in codes_of(node_ctx)


def test_given_codes_are_validated(filer: Filer, node_ctx: Any, tmp_path: Path) -> None:
    bad = [("x.pdf", pdf_bytes(1), ws_metadata(1, archival_code="Z001-WS-2024-0001"))]
    outcome = file_dir(filer, write_package(tmp_path / "bad", bad))
    assert outcome.status == "REJECTED" and {b["code"] for b in outcome.report["blocking"]} == {"AUTH-REFCODE"}
    wrong_year = [("x.pdf", pdf_bytes(1), ws_metadata(1, archival_code="Z001-WS·2023-Y-BGS-0001"))]
    outcome = file_dir(filer, write_package(tmp_path / "wrong", wrong_year))
    assert outcome.status == "REJECTED" and "disagrees" in outcome.report["blocking"][0]["message"]
    assert codes_of(node_ctx) == []


def test_duplicates_against_existing_items(filer: Filer, node_ctx: Any, tmp_path: Path) -> None:
    assert file_dir(filer, write_package(tmp_path / "a", items_of(1, 2))).status == "FILED"
    before = state(node_ctx)
    # same document number as item 1 (per fonds), otherwise new
    dup_doc = items_of(3, 1, document_number="港发〔2024〕1号")
    outcome = file_dir(filer, write_package(tmp_path / "b", dup_doc))
    assert outcome.status == "REJECTED"
    [block] = outcome.report["blocking"]
    assert block["code"] == "AUTH-DUPLICATE" and "already in the archive" in block["message"]
    # same title and date as item 2
    dup_title = items_of(3, 1, title="关于港口调度工作的通知（第2号）")
    outcome = file_dir(filer, write_package(tmp_path / "c", dup_title))
    assert [b["code"] for b in outcome.report["blocking"]] == ["AUTH-DUPLICATE"]
    # a given code already issued
    dup_code = [("x.pdf", pdf_bytes(1, text="x"), ws_metadata(3, archival_code="Z001-WS·2024-Y-BGS-0002",
                                                             item_number=2))]  # fmt: skip
    outcome = file_dir(filer, write_package(tmp_path / "d", dup_code))
    assert "AUTH-DUPLICATE" in {b["code"] for b in outcome.report["blocking"]}
    assert state(node_ctx) == before


def test_a_failure_in_the_transaction_files_nothing(node_ctx: Any, tmp_path: Path) -> None:
    def boom(stage: str) -> None:
        if stage == "commit":
            raise RuntimeError("disk on fire")

    root = write_package(tmp_path / "a", items_of(1, 5))
    failing = Filer(node_ctx.sessions, node_ctx.blobs, reader=node_ctx.reader, hook=boom)
    before = state(node_ctx)
    with pytest.raises(RuntimeError):
        failing.file(root, who="test", where="here")
    after = state(node_ctx)
    assert {k: v for k, v in after.items() if k != "blobs"} == {k: v for k, v in before.items() if k != "blobs"}
    # the blobs written before the transaction are orphans (content-addressed, harmless); filing again works
    outcome = Filer(node_ctx.sessions, node_ctx.blobs, reader=node_ctx.reader).file(root, who="t", where="h")
    assert outcome.status == "FILED" and len(outcome.item_ids) == 5
    assert codes_of(node_ctx) == [f"Z001-WS·2024-Y-BGS-{n:04d}" for n in range(1, 6)]


def test_api_key_limited_to_another_fonds_is_refused(api: Any, node_ctx: Any, tmp_path: Path) -> None:
    from node.core.context import hash_api_key
    from node.core.models import ApiKey

    key = "alk_test_z002_only"
    with node_ctx.sessions() as s, s.begin():
        s.add(ApiKey(name="z002", key_sha256=hash_api_key(key), actions=json.dumps(["items:ingest", "items:read"]),
                     fonds=json.dumps(["Z002"])))  # fmt: skip
    root = write_package(tmp_path / "pkg", items_of(1, 1))
    answer = api.post("/packages", content=zip_of(root),
                      headers={"Content-Type": "application/zip", "Authorization": f"Bearer {key}"})  # fmt: skip
    assert answer.status_code == 403 and answer.json()["error"] == "fonds_forbidden"
    assert state(node_ctx)["items"] == 0


# -- records ---------------------------------------------------------------------------------------------
def test_record_checks_sha256_is_optional_and_checked() -> None:
    from datetime import UTC, datetime

    args = ("item.ingested", "Z001", "0" * 32, "ab" * 32, 1, "cd" * 32, datetime.now(UTC))
    assert "checks_sha256" not in new_record(*args)
    record = new_record(*args, checks_sha256="ef" * 32)
    assert record["checks_sha256"] == "ef" * 32
    validate_record(record)
    with pytest.raises(RecordError, match="checks_sha256"):
        validate_record({**record, "checks_sha256": "EF" * 32})
    with pytest.raises(RecordError, match="checks_sha256"):
        new_record(*args, checks_sha256="12")


# -- CLI -------------------------------------------------------------------------------------------------
def test_cli_file(api: Any, node_ctx: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli import app
    from node.core import client as client_mod

    def fake_init(self: Any, base_url: str, api_key: str | None, *, timeout: float = 300.0) -> None:
        self.base_url, self.http = base_url, api  # the in-process app instead of a socket

    monkeypatch.setattr(client_mod.NodeClient, "__init__", fake_init)
    monkeypatch.setattr(client_mod.NodeClient, "close", lambda self: None)
    monkeypatch.setenv("ARCHIVE_LEDGER_API_KEY", "unused")
    runner = CliRunner()
    root = write_package(tmp_path / "移交包", items_of(1, 2))
    result = runner.invoke(app, ["file", str(root)])
    assert result.exit_code == 0, result.output
    assert "FILED" in result.output and "Z001-WS·2024-Y-BGS-0002" in result.output
    again = runner.invoke(app, ["file", str(root)])
    assert again.exit_code == 0 and "not filed again" in again.output
    (tmp_path / "bad.zip").write_bytes(zip_of(write_package(tmp_path / "bad", [("e.txt", EICAR, ws_metadata(9))])))
    rejected = runner.invoke(app, ["file", str(tmp_path / "bad.zip")])
    assert rejected.exit_code == 1, rejected.output
    assert "BLOCKED" in rejected.output and "REJECTED" in rejected.output
    assert runner.invoke(app, ["file", str(tmp_path / "missing")]).exit_code == 2
    assert state(node_ctx)["items"] == 2


def test_cli_file_node_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli import app

    monkeypatch.setenv("ARCHIVE_LEDGER_API_KEY", "alk_x")
    root = write_package(tmp_path / "pkg", items_of(1, 1))
    result = CliRunner().invoke(app, ["file", str(root), "--node", "http://127.0.0.1:1"])
    assert result.exit_code == 2 and "cannot reach" in result.output
