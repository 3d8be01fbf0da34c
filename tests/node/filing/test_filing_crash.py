"""A real node SIGKILLed in the middle of filing a 300-item package (while its blobs are written, and
while its transaction holds every row uncommitted), restarted: no half-filed package can exist, the
logs are as before, and sending the package again files it exactly once."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.checks_builders import pdf_bytes, write_package, ws_metadata
from tests.helpers.e2e_support import NodeServer, clean_env, db_rows, init_node, iter_blob_files
from tests.helpers.ganache_fixture import ganache_url  # noqa: F401  (module-scoped fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.ganache, pytest.mark.slow]
ITEMS = 300
PAUSE_ENV = "ARCHIVE_LEDGER_FILING_TEST_PAUSE"


@pytest.fixture
def node(ganache_url: str, tmp_path: Path) -> Iterator[NodeServer]:  # noqa: F811
    env = clean_env(tmp_path)
    init_node(tmp_path / "node", ganache_url, env)
    server = NodeServer(tmp_path / "node", env, tmp_path / "server.log")
    try:
        yield server
    finally:
        server.stop()
        print(f"--- server log tail ({server.log_path})\n{server.log_tail()}")


def package_zip(root: Path) -> bytes:
    items = [
        (f"doc-{n:04d}.pdf", pdf_bytes(1, text=f"crash {n}"), ws_metadata(n, archival_code=None, item_number=None))
        for n in range(1, ITEMS + 1)
    ]
    write_package(root, items)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(root.rglob("*")):
            zf.write(p, p.relative_to(root).as_posix())
    return buf.getvalue()


class Upload(threading.Thread):
    def __init__(self, server: NodeServer, data: bytes) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.data = server.url, server.api_key, data
        self.outcome: Any = None

    def run(self) -> None:
        try:
            headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/zip"}
            answer = httpx.post(self.url + "/packages", content=self.data, timeout=120, headers=headers)
            self.outcome = answer.status_code
        except httpx.HTTPError as exc:
            self.outcome = exc


def snapshot(data: Path) -> dict[str, Any]:
    return {
        "items": db_rows(data, "SELECT count(*) FROM items")[0][0],
        "checks": db_rows(data, "SELECT count(*) FROM item_checks")[0][0],
        "filed": db_rows(data, "SELECT count(*) FROM packages WHERE status = 'FILED'")[0][0],
        "counters": db_rows(data, "SELECT scope, last_number FROM refcode_counters"),
        "logs": db_rows(data, "SELECT fonds_code, size FROM logs WHERE fonds_code NOT LIKE '%/audit' ORDER BY 1"),
        "entries": db_rows(
            data,
            "SELECT l.fonds_code, count(e.log_pk) FROM logs l LEFT JOIN log_entries e ON e.log_pk = l.id "
            "WHERE l.fonds_code NOT LIKE '%/audit' GROUP BY l.fonds_code ORDER BY 1",
        ),
    }


def blob_count(data: Path) -> int:
    return sum(1 for _ in iter_blob_files(data))


@pytest.mark.parametrize("stage", ["blobs", "transaction"])
def test_sigkill_while_filing_leaves_no_half_filed_package(node: NodeServer, tmp_path: Path, stage: str) -> None:
    server, data = node, node.data_dir
    body = package_zip(tmp_path / "pkg")
    # slow the chosen stage down so the kill lands inside it: 10 ms per blob, or a pause inside the
    # transaction after every row is written and before the commit
    server.env[PAUSE_ENV] = "blob=0.01" if stage == "blobs" else "commit=30"
    server.start()
    before, blobs_before = snapshot(data), blob_count(data)
    upload = Upload(server, body)
    upload.start()
    deadline = time.monotonic() + 120
    if stage == "blobs":
        while blob_count(data) < blobs_before + 50:
            assert time.monotonic() < deadline and upload.outcome is None, upload.outcome
            time.sleep(0.005)
    else:
        while blob_count(data) < blobs_before + ITEMS:
            assert time.monotonic() < deadline and upload.outcome is None, upload.outcome
            time.sleep(0.01)
        time.sleep(3.0)  # the rows of 300 items are written in well under that; then the pause holds the commit
    written = blob_count(data) - blobs_before
    server.kill()
    upload.join(timeout=30)
    assert isinstance(upload.outcome, httpx.HTTPError), upload.outcome
    if stage == "blobs":
        assert 0 < written < ITEMS, written

    # nothing of the package is filed: no item, report, counter or record; logs as before
    after = snapshot(data)
    assert after == before, (before, after)
    assert all(size == n for (_, size), (_, n) in zip(after["logs"], after["entries"], strict=True))

    # restart (without pauses) and send the package again: filed once, completely
    del server.env[PAUSE_ENV]
    server.start()
    assert snapshot(data) == before
    first = server.client().post("/packages", content=body, headers={"Content-Type": "application/zip"})
    assert first.status_code == 201, first.text
    assert len(first.json()["items"]) == ITEMS
    again = server.client().post("/packages", content=body, headers={"Content-Type": "application/zip"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    final = snapshot(data)
    assert final["items"] == before["items"] + ITEMS and final["checks"] == before["checks"] + ITEMS
    assert final["filed"] == before["filed"] + 1
    assert [n for _, n in final["counters"]] == [ITEMS]
    codes = sorted(i["archival_code"] for i in first.json()["items"])
    assert codes == [f"Z001-WS·2024-Y-BGS-{n:04d}" for n in range(1, ITEMS + 1)]
    assert all(size == n for (_, size), (_, n) in zip(final["logs"], final["entries"], strict=True))
    assert dict(final["logs"])["Z001"] == dict(before["logs"]).get("Z001", 0) + ITEMS
