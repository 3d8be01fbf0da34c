"""Crash and restart of a real node server: SIGKILL in the middle of anchoring (at several points,
several rounds) and in the middle of an upload, restart on the same data dir, and check that every
proof verifies, that the chain holds exactly one checkpoint per batch the database knows of, and
that no half-done state is left behind."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.core.client import NodeClient
from tests.helpers.e2e_support import (
    CHAIN_ID,
    FONDS,
    NodeServer,
    all_items,
    checkpoint_count,
    clean_env,
    contract_address,
    db_rows,
    describe,
    file_bytes,
    init_node,
    iter_blob_files,
    make_tree,
    root_on_chain,
    run_cli,
)
from tests.helpers.ganache_fixture import ganache_url  # noqa: F401  (module-scoped fixture)
from verifier.chain import JsonRpcChain
from verifier.records import log_id_for_fonds
from verifier.trustroot import load_trust_root
from verifier.verify import verify_bundle

pytestmark = [pytest.mark.e2e, pytest.mark.ganache, pytest.mark.slow]


@pytest.fixture
def node(ganache_url: str, tmp_path: Path) -> Iterator[NodeServer]:  # noqa: F811
    env = clean_env(tmp_path)
    init_node(tmp_path / "node", ganache_url, env)
    server = NodeServer(tmp_path / "node", env, tmp_path / "server.log").start()
    try:
        yield server
    finally:
        server.stop()
        print(f"--- server log tail ({server.log_path})\n{server.log_tail()}")


def ingest_direct(server: NodeServer, files: dict[str, bytes], start: int) -> None:
    """Upload files over HTTP with the CLI's client (in-process: faster than a CLI per round)."""
    with NodeClient(server.url, server.api_key) as client:
        for offset, (source, data) in enumerate(files.items()):
            n = start + offset
            meta = {
                "fonds": FONDS[n % 2], "title": f"第{n}号", "category": "WS", "year": 2024,
                "retention": "permanent", "source_path": source,
            }  # fmt: skip
            answer = client.ingest(io.BytesIO(data), source.rsplit("/", 1)[-1], meta)
            assert answer["duplicate"] is False


def anchor_state(data: Path) -> dict[str, Any]:
    return {
        "lease": db_rows(data, "SELECT owner FROM leases"),
        "submissions": db_rows(data, "SELECT id, status FROM submissions ORDER BY id"),
        "checkpoints": db_rows(
            data, "SELECT log_pk, tree_size, previous_size, status, submission_id FROM checkpoints ORDER BY id"
        ),
    }


class AnchorCall(threading.Thread):
    """POST /anchor in the background; whatever happens to the server, it ends."""

    def __init__(self, server: NodeServer) -> None:
        super().__init__(daemon=True)
        self.url, self.key = server.url, server.api_key
        self.outcome: Any = None

    def run(self) -> None:
        try:
            answer = httpx.post(self.url + "/anchor", headers={"Authorization": f"Bearer {self.key}"}, timeout=60)
            self.outcome = (answer.status_code, answer.text)
        except httpx.HTTPError as exc:
            self.outcome = exc


def kill_when(server: NodeServer, point: str | float, timeout: float = 20.0) -> None:
    """SIGKILL the server after a delay (float seconds) or as soon as a named state is in its DB:
    'submitted' (a signed transaction stored, maybe not yet sent) or 'leased' (the anchoring lease is
    taken, before anything is signed)."""
    if isinstance(point, float):
        time.sleep(point)
    else:
        query = {
            "submitted": "SELECT count(*) FROM submissions WHERE status = 'SUBMITTED'",
            "leased": "SELECT count(*) FROM leases",
        }[point]
        deadline = time.monotonic() + timeout
        while db_rows(server.data_dir, query)[0][0] == 0:
            assert time.monotonic() < deadline, f"never reached {point!r}"
            time.sleep(0.001)
    server.kill()


def anchor_until_settled(server: NodeServer, rounds: int = 5) -> list[dict[str, Any]]:
    reports = []
    for _ in range(rounds):
        answer = server.client().post("/anchor")
        assert answer.status_code == 200, answer.text
        reports.append(answer.json())
        status = server.client().get("/status").json()
        if all(log["pending_records"] == 0 for log in status["logs"]) and not reports[-1]["submitted"]:
            return reports
    raise AssertionError(f"anchoring did not settle: {reports}")


def test_sigkill_during_anchoring_then_restart(node: NodeServer, ganache_url: str, tmp_path: Path) -> None:  # noqa: F811
    server, data = node, node.data_dir
    tree = tmp_path / "tree" / "卷宗"
    files = make_tree(tree, 50)
    first = run_cli(
        "ingest", tree, "--node", server.url, "--api-key-file", server.api_key_file, "--quiet",
        "--journal", tmp_path / "journal.jsonl", env=server.env,
    )  # fmt: skip
    assert first.returncode == 0 and "ingested 50, skipped 0" in first.stdout, describe(first)

    # Each round: new records, an anchoring run, SIGKILL at some point of it, restart. The run killed
    # is either a manual one (POST /anchor, as `archive-ledger anchor` sends it) or the run the node
    # starts by itself at boot to reconcile with the chain.
    rounds: list[tuple[str, str | float]] = [
        ("manual", "leased"), ("manual", 0.0), ("manual", "submitted"), ("manual", 0.02),
        ("startup", "submitted"), ("manual", 0.06), ("startup", "leased"), ("manual", 0.15),
        ("manual", "submitted"),
    ]  # fmt: skip
    interrupted, reports = [], []
    for round_no, (run, point) in enumerate(rounds):
        extra = {f"卷宗/round-{round_no}/件-{k}.txt": file_bytes(f"round {round_no}", k) for k in range(6)}
        ingest_direct(server, extra, start=1000 + 10 * round_no)
        files.update(extra)
        call = None
        if run == "manual":
            call = AnchorCall(server)
            call.start()
        else:
            server.kill()  # idle: nothing is anchoring; the records wait for the next run
            server.start(wait=False)
        kill_when(server, point)
        if call is not None:
            call.join(timeout=30)
            assert not call.is_alive()
        state = anchor_state(data)
        left_over = bool(state["lease"]) or any(status != "CONFIRMED" for _, status in state["submissions"])
        interrupted.append((run, point, left_over, state))
        print(f"round {round_no}: {run} run killed at {point!r}: {str(call and call.outcome)[:60]!r}; {state}")
        # Restart on the same data dir: the lease of the dead process must not block anchoring. The
        # node's own boot run and this manual one settle what the crash left (the manual one waits
        # for the boot run if that holds the lease), so the next round starts from a quiet node.
        server.start()
        reports.extend(anchor_until_settled(server))
    assert any(left for *_, left, _ in interrupted), f"no kill interrupted an anchoring run: {interrupted}"
    assert any(state["lease"] for *_, state in interrupted), "no kill left a stale lease to take over"
    assert any(status == "SUBMITTED" for *_, state in interrupted for _, status in state["submissions"]), (
        "no kill left a transaction in flight"
    )
    print("reconciled after restarts:", [line for r in reports for line in r["reconciled"]])

    # Every item's proof verifies against the chain.
    items = all_items(server.client())
    assert len(items) == len(files) == 50 + 6 * len(rounds)
    chain = JsonRpcChain(ganache_url)
    trust = load_trust_root(server.client().get("/trust").json())  # the node's trust root, survived the kills
    assert trust.chain_id == CHAIN_ID
    for item in items:
        answer = server.client().get(f"/items/{item['id']}/proof")
        assert answer.status_code == 200, answer.text
        result = verify_bundle(answer.json(), content=files[item["source_path"]], trust=trust, chains=(chain,))
        assert result.outcome == "authentic", (item["source_path"], result.to_dict())

    # Exactly one checkpoint on chain per batch the database recorded; nothing half-done left.
    contract = contract_address(data)
    state = anchor_state(data)
    assert state["lease"] == [], state
    assert all(status in ("CONFIRMED", "FAILED") for _, status in state["submissions"]), state
    for fonds in FONDS:
        log_id = log_id_for_fonds(fonds)
        (log_pk, log_size) = db_rows(data, "SELECT id, size FROM logs WHERE fonds_code = ?", (fonds,))[0]
        cps = db_rows(
            data,
            "SELECT tree_size, previous_size, status, root FROM checkpoints WHERE log_pk = ? ORDER BY tree_size",
            (log_pk,),
        )
        assert all(status == "CONFIRMED" for _, _, status, _ in cps), cps
        assert checkpoint_count(ganache_url, contract, log_id) == len(cps), (fonds, cps, reports, interrupted)
        sizes = [size for size, _, _, _ in cps]
        assert [prev for _, prev, _, _ in cps] == [0, *sizes[:-1]], cps  # a chain of batches, no gaps
        assert sizes[-1] == log_size
        for size, _, _, root in cps:
            assert root_on_chain(ganache_url, contract, log_id, size) == bytes(root)


def test_sigkill_during_upload_leaves_nothing_behind(node: NodeServer, ganache_url: str) -> None:  # noqa: F811
    server, data = node, node.data_dir
    small = {f"preload/doc-{k}.txt": file_bytes("preload", k) for k in range(3)}
    ingest_direct(server, small, start=0)
    items_before = db_rows(data, "SELECT id FROM items ORDER BY id")
    logs_before = db_rows(data, "SELECT fonds_code, size FROM logs ORDER BY fonds_code")
    blobs_before = sorted(iter_blob_files(data))
    tmp_dir = data / "blobs" / "tmp"
    assert not list(tmp_dir.glob("upload-*"))

    stop = threading.Event()
    boundary = "e2e-boundary-7f3a"
    chunk = bytes(range(256)) * 1024  # 256 KiB

    def body() -> Iterator[bytes]:
        meta = (
            '{"fonds": "Z001", "title": "大文件", "category": "WS", "year": 2024, "retention": "10y", '
            '"source_path": "big/大文件.bin"}'
        )
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n'
            f"Content-Type: application/json\r\n\r\n{meta}\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="大文件.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        for _ in range(4000):  # up to 1 GiB, but the server dies long before
            if stop.is_set():
                return
            yield chunk
            time.sleep(0.005)

    outcome: list[Any] = []

    def upload() -> None:
        try:
            answer = httpx.post(
                server.url + "/items", content=body(), timeout=60,
                headers={"Authorization": f"Bearer {server.api_key}",
                         "Content-Type": f"multipart/form-data; boundary={boundary}"},
            )  # fmt: skip
            outcome.append(answer.status_code)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    uploader = threading.Thread(target=upload, daemon=True)
    uploader.start()
    deadline = time.monotonic() + 30
    while not any(p.stat().st_size >= 4 * len(chunk) for p in tmp_dir.glob("upload-*")):
        assert time.monotonic() < deadline, "the upload never reached the blob store"
        time.sleep(0.01)
    server.kill()
    stop.set()
    uploader.join(timeout=30)
    assert outcome and isinstance(outcome[0], httpx.HTTPError), outcome

    # The crash left a half-written upload in blobs/tmp and nothing anywhere else.
    assert list(tmp_dir.glob("upload-*")), "expected the killed upload's temporary file"
    assert sorted(iter_blob_files(data)) == blobs_before
    assert db_rows(data, "SELECT id FROM items ORDER BY id") == items_before

    server.start()
    assert not list(tmp_dir.glob("upload-*")), "blobs/tmp is cleaned at start"
    assert sorted(iter_blob_files(data)) == blobs_before
    assert db_rows(data, "SELECT id FROM items ORDER BY id") == items_before
    assert db_rows(data, "SELECT fonds_code, size FROM logs ORDER BY fonds_code") == logs_before
    assert server.client().get("/items", params={"source_path": "big/大文件.bin"}).json()["total"] == 0

    # The restarted node works: a new upload, anchoring, proofs that verify.
    later = {"after/doc-0.txt": file_bytes("after restart", 0)}
    ingest_direct(server, later, start=10)
    anchor_until_settled(server)
    chain = JsonRpcChain(ganache_url)
    trust = load_trust_root(server.client().get("/trust").json())
    assert trust.chain_id == CHAIN_ID
    for item in all_items(server.client()):
        bundle = server.client().get(f"/items/{item['id']}/proof").json()
        content = {**small, **later}[item["source_path"]]
        result = verify_bundle(bundle, content=content, trust=trust, chains=(chain,))
        assert result.outcome == "authentic", result.to_dict()
