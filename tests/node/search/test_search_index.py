"""The search index as derived data (issue 10, point 2): the incremental path (log position and text
watermark) and `search reindex` give the same answers; a crash in the middle of indexing is caught up
after a restart; an item that leaves the items table leaves the index; the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select
from typer.testing import CliRunner

from anchor.log import MerkleLog
from anchor.models import Log
from node.arrangement import service as arrangement
from node.core.models import Item, ItemText, TextStatus
from node.search.index import TantivyIndex, Visibility
from node.search.service import SearchService
from tests.helpers.arrangement import ingest
from tests.helpers.scheduler import scheduled_jobs
from verifier.records import new_record

QUERIES = ["", "码头", "合同", "题名:通知", "责任者:张三", "档号:Z001", "审计 OR 财务", '"码头合同"', "全文:执行"]
EVERYTHING = Visibility(content_all=True)


@pytest.fixture
def filled(api: Any, node_ctx: Any) -> list[str]:
    ids = []
    for i in range(7):
        ids.append(ingest(api, f"doc {i}".encode(), title=["码头调度通知", "财务审计报告", "合同清单"][i % 3] + str(i),
                          archival_code=f"Z001-WS-2024-{i:04d}", year=2020 + i % 3,
                          extra={"responsible": ["张三", "李四"][i % 2]})["id"])  # fmt: skip
    with node_ctx.sessions() as s, s.begin():
        for n in (0, 2, 5):
            s.add(ItemText(item_id=ids[n], status=TextStatus.DONE, text=f"码头合同第{n}号，遵照执行。",
                           extracted_at=datetime.now(UTC)))  # fmt: skip
        arrangement.edit_metadata(s, s.get(Item, ids[1]), {"title": "码头安全通知"}, [], "typo", None)
    return ids


def answers(service: SearchService) -> list[dict[str, Any]]:
    out = []
    for q in QUERIES:
        for sort in ("reference_code", "date"):
            answer = service.search(EVERYTHING, q=q, sort=sort, limit=100)
            for item in answer["items"]:
                item.pop("score")
            out.append(answer)
        out.append(service.search(Visibility(), q=q, fonds="Z001", year_from=2021, limit=100, sort="reference_code"))
    return out


def new_service(data: Path, node_ctx: Any) -> SearchService:
    return SearchService(data / "search", node_ctx.sessions, node_ctx.reader)


def test_reindex_equals_incremental(filled: list[str], node_ctx: Any, node_data: Path) -> None:
    service = node_ctx.search()
    assert service.catch_up() >= len(filled)
    incremental = answers(service)
    assert incremental[0]["total"] == 7 and any(a["total"] for a in incremental[1:])
    service.catch_up()  # nothing new (it re-applies only the last seconds of texts): the same answers
    assert answers(service) == incremental
    assert service.rebuild() == 7
    assert answers(service) == incremental
    # the CLI rebuilds on the data dir; the node's service picks the new generation up at its next search
    result = CliRunner().invoke(_cli(), ["search", "reindex", "--data-dir", str(node_data), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["items"] == 7
    assert answers(service) == incremental
    assert len([p for p in (node_data / "search").iterdir() if p.is_dir()]) == 1  # old generations removed


def test_crash_during_indexing_then_restart(
    filled: list[str], node_ctx: Any, node_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_commit = TantivyIndex.commit
    calls = {"n": 0}

    def crashing_commit(self: TantivyIndex) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("power cut")  # the process dies between two batches
        real_commit(self)

    monkeypatch.setattr(TantivyIndex, "commit", crashing_commit)
    first = new_service(node_data, node_ctx)
    with pytest.raises(KeyboardInterrupt):
        first.catch_up(batch=2)
    with node_ctx.reader() as s:
        log = s.scalar(select(Log).where(Log.fonds_code == "Z001"))
    assert 0 < first.state().logs[str(log.id)] < log.size  # the position it covers, recorded as it went
    monkeypatch.setattr(TantivyIndex, "commit", real_commit)
    del first
    restarted = new_service(node_data, node_ctx)  # a new process on the same data dir
    assert restarted.catch_up(batch=2) > 0
    after_crash = answers(restarted)
    restarted.rebuild()
    assert answers(restarted) == after_crash


def test_an_item_gone_from_the_table_leaves_the_index(filled: list[str], node_ctx: Any) -> None:
    from node.search.service import scheduled

    service = node_ctx.search()
    assert service.search(EVERYTHING)["total"] == 0
    scheduled(node_ctx)  # what the node runs at start and then every search_interval_s
    assert service.search(EVERYTHING)["total"] == 7
    gone = filled[3]
    with node_ctx.sessions() as s, s.begin():  # what destruction will do: the item goes, a record says so
        item = s.get(Item, gone)
        record = new_record(type="item.destroyed", fonds=item.fonds_code, item_id=gone,
                            content_sha256=item.content_sha256, size=item.size, metadata_sha256="0" * 64,
                            time=datetime.now(UTC))  # fmt: skip
        MerkleLog(s).append(item.fonds_code, record)
        s.execute(delete(Item).where(Item.id == gone))
    stale = service.search(EVERYTHING, limit=100)
    assert stale["total"] == 7 and gone not in {i["id"] for i in stale["items"]}  # never shown, only counted
    service.catch_up()
    answer = service.search(EVERYTHING, limit=100)
    assert gone not in {i["id"] for i in answer["items"]} and answer["total"] == 6
    with node_ctx.reader() as s:
        assert s.scalar(select(Item).where(Item.id == gone)) is None


def _cli() -> Any:
    from cli import app

    return app


def test_cli_search_sends_the_query_to_the_node(tmp_path: Path) -> None:
    """`search QUERY` is the hidden `query` command (the first word is no subcommand); it calls the node."""
    key = tmp_path / "key"
    key.write_text("alk_x")
    key.chmod(0o600)
    result = CliRunner().invoke(
        _cli(), ["search", "码头", "--fonds", "A001", "--json", "--node", "http://127.0.0.1:9", "--api-key-file",
                 str(key)],
    )  # fmt: skip
    assert result.exit_code == 1 and "error" in result.output
    assert "No such command" not in result.output


def test_the_node_schedules_the_catch_up_at_start(filled: list[str], node_ctx: Any, monkeypatch: Any) -> None:
    jobs = scheduled_jobs(monkeypatch, node_ctx, "search_enabled", search_interval_s=7.0)
    (job,) = jobs
    assert job["id"] == "search" and job["seconds"] == 7.0 and job["next_run_time"] is not None  # at start
    job["func"](*job["args"])
    assert node_ctx.search().search(EVERYTHING)["total"] == 7
