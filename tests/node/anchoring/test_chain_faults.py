"""Chain faults on a real ganache: a chain that is down answers 503 `chain_unavailable` (never a bare
500) while status still answers; a chain that forgets confirmed anchors (ganache `evm_snapshot` before
the anchor, `evm_revert` after, blocks mined: a reorg, a reset, validators restored from a backup) is
noticed on reconcile, reported (status, audit, log), re-anchored at the same sizes, and the proofs the
node serves, including those handed out before the loss, verify against the chain again."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from anchor.chain import ChainClient, SignedTx
from anchor.errors import ChainUnavailable
from anchor.models import ChainRollback, Checkpoint, CheckpointStatus, Log, Submission
from contracts import load_artifact
from node.app import create_app
from node.core.context import ROLLBACK_ACTION, NodeContext
from node.core.models import AuditEvent
from node.core.settings import load_settings
from tests.helpers.e2e_support import clean_env, describe, run_cli
from tests.helpers.ganache_fixture import closed_port_url, free_port, kill_ganache, make_ganache_fixture, run_ganache
from verifier.merkle import verify_inclusion

pytestmark = pytest.mark.ganache

# One ganache per test: a rollback test reverts the chain, and each init funds keys from accounts[0].
ganache_url = make_ganache_fixture("function")

META = {"fonds": "Z001", "title": "港口调度通知", "category": "WS", "year": 2024, "retention": "永久"}


# -- a node on a test ganache (dev profile), in process ----------------------------------------------
@pytest.fixture
def node_dir(tmp_path: Path, ganache_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    from node.core.bootstrap import initialise

    monkeypatch.delenv("ARCHIVE_LEDGER_KEYSTORE_PASSWORD", raising=False)
    monkeypatch.setenv("ARCHIVE_LEDGER_CHAIN_KEY_SCRYPT_N", "1024")
    data = tmp_path / "data"
    initialise(data, profile_name="dev", rpc_url=ganache_url)
    return data


@contextlib.contextmanager
def node_api(data: Path, *, scheduler: bool = False, **settings: Any) -> Iterator[tuple[TestClient, NodeContext]]:
    """The node app over `data`, authenticated with the init API key; `settings` override config."""
    ctx = NodeContext.build(load_settings(data, **settings))
    key = (data / "secrets" / "api-key").read_text().strip()
    with TestClient(create_app(ctx, scheduler=scheduler)) as api:
        api.headers["Authorization"] = f"Bearer {key}"
        yield api, ctx


def upload(api: TestClient, n: int, start: int = 0) -> list[dict[str, Any]]:
    items = []
    for i in range(start, start + n):
        files = {
            "metadata": (None, json.dumps(META, ensure_ascii=False).encode(), "application/json"),
            "file": (f"doc{i}.pdf", f"%PDF-1.7 notice {i}".encode() * 20, "application/octet-stream"),
        }
        r = api.post("/items", files=files)
        assert r.status_code == 201, r.text
        items.append(r.json())
    return items


def rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    """A raw JSON-RPC call (ganache's evm_* methods)."""
    client = ChainClient(load_settings_profile(url), check_chain_id=False)
    answer = client.w3.provider.make_request(method, params or [])
    assert "error" not in answer, answer
    return answer["result"]


def load_settings_profile(url: str):  # type: ignore[no-untyped-def]
    from anchor.profiles import load_profile

    return load_profile("dev").replace(rpc_url=url)


def root_on_chain(ctx: NodeContext, log_id_hex: str, tree_size: int) -> bytes:
    client = ctx.chain()
    contract = client.contract(ctx.settings.contract_address, load_artifact("ArchiveAnchor"))
    return bytes(client.call(contract.functions.rootAt(bytes.fromhex(log_id_hex), tree_size)))


def proof_holds(ctx: NodeContext, bundle: dict[str, Any]) -> bool:
    """The bundle's inclusion path leads to its root, and the contract holds that root at its size.

    (The verifier's verify_bundle takes a trust root since issue 7; this checks the same two facts
    with the chain client so the test does not depend on that interface.)"""
    verify_inclusion(
        bundle["leaf_index"], bundle["tree_size"], bytes.fromhex(bundle["leaf_hash"]),
        [bytes.fromhex(h) for h in bundle["inclusion_path"]], bytes.fromhex(bundle["root"]),
    )  # fmt: skip
    return root_on_chain(ctx, bundle["log_id"], bundle["tree_size"]) == bytes.fromhex(bundle["root"])


def z001(status: dict[str, Any]) -> dict[str, Any]:
    return next(log for log in status["logs"] if log["fonds"] == "Z001")


def rollback_events(ctx: NodeContext) -> list[dict[str, Any]]:
    with ctx.reader() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == ROLLBACK_ACTION).order_by(AuditEvent.seq))
        return [{"target": r.target, "outcome": r.outcome, **json.loads(r.details_json)} for r in rows]


@contextlib.contextmanager
def served(ctx: NodeContext) -> Iterator[str]:
    """The node app on a real port (uvicorn in a thread), for the CLI."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(ctx, scheduler=False), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the node did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


# -- chain down ----------------------------------------------------------------------------------------
@pytest.mark.e2e  # the CLI against the node on a real port
def test_chain_down_anchor_answers_503_and_status_answers(node_dir: Path, tmp_path: Path) -> None:
    """RPC on a closed port: POST /anchor is 503 chain_unavailable with a message, the CLI says so
    with a non-zero exit, GET /status and `archive-ledger status` still answer, chain unreachable."""
    down = closed_port_url()
    with node_api(node_dir) as (api, _ctx):
        upload(api, 2)
    with node_api(node_dir, rpc_url=down) as (api, ctx):
        r = api.post("/anchor")
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "chain_unavailable"
        assert "does not answer" in r.json()["detail"]
        r = api.get("/status")
        assert r.status_code == 200, r.text
        assert r.json()["chain"]["reachable"] is False and r.json()["chain"]["error"]
        assert z001(r.json())["pending_records"] == 2

        with served(ctx) as url:
            env = clean_env(tmp_path)
            result = run_cli("anchor", "--node", url, "--api-key-file", node_dir / "secrets" / "api-key", env=env)
            assert result.returncode != 0, describe(result)
            assert "chain unavailable" in result.stderr and "does not answer" in result.stderr, describe(result)
            assert "Traceback" not in result.stderr
            result = run_cli("status", "--node", url, "--api-key-file", node_dir / "secrets" / "api-key", env=env)
            assert result.returncode == 0, describe(result)
            assert "UNREACHABLE" in result.stdout and "2 pending" in result.stdout, describe(result)


@contextlib.contextmanager
def bad_gateway() -> Iterator[str]:
    """What a reverse proxy in front of a dead chain node answers: 502 to every request."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b"<html>502 Bad Gateway</html>"
            self.send_response(502)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_proxy_answering_502_is_chain_unavailable(node_dir: Path) -> None:
    with node_api(node_dir) as (api, _ctx):
        upload(api, 1)
    with bad_gateway() as url, node_api(node_dir, rpc_url=url) as (api, _ctx):
        r = api.post("/anchor")
        assert r.status_code == 503 and r.json()["error"] == "chain_unavailable", r.text
        r = api.get("/status")
        assert r.status_code == 200 and r.json()["chain"]["reachable"] is False


def test_every_chain_step_maps_a_dead_node_to_chain_unavailable(node_dir: Path) -> None:
    """Reconcile, prepare, broadcast, wait and status, each against a node that went away after the
    anchorer was built: ChainUnavailable, never a raw requests/web3 exception."""
    with node_api(node_dir) as (api, ctx):
        upload(api, 1)
        anchorer = ctx.anchorer()
        client = anchorer.client
        dead = ChainClient(ctx.profile.replace(rpc_url=closed_port_url()), check_chain_id=False)
        client.w3.provider = dead.w3.provider  # the same client and contract objects, their node gone
        for step in (
            anchorer.reconcile,
            anchorer.submit,
            lambda: client.wait_confirmed("0x" + "11" * 32, 1, 1.0),
            lambda: client.block_hash(1),
            lambda: client.broadcast(SignedTx(b"\x00", "0x" + "11" * 32, 0)),
            anchorer.run,
        ):
            with pytest.raises(ChainUnavailable):
                step()
        assert ctx.chain_status()["reachable"] is False
        with ctx.sessions() as s:  # nothing half-done left behind: the records wait for the next run
            assert s.scalar(select(Submission)) is None
            assert s.scalar(select(Checkpoint)) is None


def test_ganache_killed_after_anchoring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's case: the node anchored, then its chain died; the next POST /anchor fails in
    reconcile (reading the contract's heads) and must be 503 chain_unavailable, not a bare 500."""
    from node.core.bootstrap import initialise

    monkeypatch.delenv("ARCHIVE_LEDGER_KEYSTORE_PASSWORD", raising=False)
    monkeypatch.setenv("ARCHIVE_LEDGER_CHAIN_KEY_SCRYPT_N", "1024")
    with run_ganache(tmp_path / "ganache") as url:
        data = tmp_path / "data"
        initialise(data, profile_name="dev", rpc_url=url)
        with node_api(data) as (api, _ctx):
            upload(api, 2)
            assert api.post("/anchor").status_code == 200
            upload(api, 1, start=2)
            kill_ganache(url)
            r = api.post("/anchor")
            assert r.status_code == 503, r.text
            assert r.json()["error"] == "chain_unavailable" and "does not answer" in r.json()["detail"]
            r = api.get("/status")
            assert r.status_code == 200 and r.json()["chain"]["reachable"] is False
            assert (z001(r.json())["anchored_size"], z001(r.json())["pending_records"]) == (2, 1)


def test_ganache_killed_mid_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chain dies while POST /anchor waits for confirmations: 503 chain_unavailable, status still
    answers; the transaction stays SUBMITTED (stored, resent by the next run), nothing is confirmed."""
    from node.core.bootstrap import initialise

    monkeypatch.delenv("ARCHIVE_LEDGER_KEYSTORE_PASSWORD", raising=False)
    monkeypatch.setenv("ARCHIVE_LEDGER_CHAIN_KEY_SCRYPT_N", "1024")
    with run_ganache(tmp_path / "ganache") as url:
        data = tmp_path / "data"
        initialise(data, profile_name="dev", rpc_url=url)
        with node_api(data, anchor_wait_timeout_s=60) as (api, ctx):
            # ganache mines only on transactions: with 2 confirmations the run waits after mining
            ctx.profile = ctx.profile.replace(confirmations=2)
            upload(api, 2)

            def kill_once_mined() -> None:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    with ctx.reader() as s:
                        sub = s.scalar(select(Submission))
                    if sub is not None and ctx.chain().receipt(sub.tx_hash) is not None:
                        kill_ganache(url)
                        return
                    time.sleep(0.05)

            killer = threading.Thread(target=kill_once_mined)
            killer.start()
            r = api.post("/anchor")
            killer.join()
            assert r.status_code == 503, r.text
            assert r.json()["error"] == "chain_unavailable" and r.json()["detail"]
            r = api.get("/status")
            assert r.status_code == 200 and r.json()["chain"]["reachable"] is False
            assert z001(r.json())["anchored_size"] == 0
            with ctx.reader() as s:
                assert {cp.status for cp in s.scalars(select(Checkpoint))} == {CheckpointStatus.SUBMITTED}
            # the next run, by the anchorer built while the chain was up, fails in reconcile: 503 too
            r = api.post("/anchor")
            assert r.status_code == 503 and r.json()["error"] == "chain_unavailable", r.text


# -- a chain that forgets --------------------------------------------------------------------------------
def test_chain_rollback_is_noticed_reported_and_reanchored(
    node_dir: Path, ganache_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Ingest, anchor (confirmed), the chain loses that block; the node notices on reconcile, says so
    (status, audit, log), anchors the lost checkpoints again and its proofs verify again."""
    with node_api(node_dir) as (api, ctx):
        items = upload(api, 3)
        snapshot = rpc(ganache_url, "evm_snapshot")
        r = api.post("/anchor")
        assert r.status_code == 200, r.text
        status = api.get("/status").json()
        assert (z001(status)["anchored_size"], z001(status)["pending_records"]) == (3, 0)
        before = api.get(f"/items/{items[1]['id']}/proof").json()
        assert proof_holds(ctx, before)
        anchored_block = before["anchor"]["block_number"]

        assert rpc(ganache_url, "evm_revert", [snapshot]) is True
        for _ in range(4):
            rpc(ganache_url, "evm_mine")
        assert not proof_holds(ctx, before)  # what every auditor sees now: root_not_on_chain

        # reconcile (every run, and at start) notices
        with caplog.at_level(logging.WARNING, logger="anchor.anchorer"):
            ctx.anchorer().reconcile()
        assert any("CHAIN ROLLBACK" in rec.getMessage() for rec in caplog.records)
        status = api.get("/status").json()
        assert z001(status)["anchored_size"] == 0 and z001(status)["pending_records"] == 3
        assert z001(status)["lost_checkpoints"] == 1 and z001(status)["chain_rollbacks"] == 1
        assert status["anchoring"]["chain_rollbacks"] >= 2  # the fonds' log and its audit log
        assert status["anchoring"]["lost_checkpoints"] >= 2
        assert status["anchoring"]["last_rollback"]["reanchored_at"] is None
        r = api.get(f"/items/{items[1]['id']}/proof")
        assert r.status_code == 409 and r.json()["error"] == "not_anchored"
        events = rollback_events(ctx)
        z = next(e for e in events if e["fonds"] == "Z001")
        assert z["outcome"] == "failed" and z["target"] == "/logs/Z001"
        assert z["lost_sizes"] == [3] and z["chain_size"] == 0 and "behind" in z["reason"]

        # anchored again, at the same size: the proof handed out before verifies again
        r = api.post("/anchor")
        assert r.status_code == 200, r.text
        assert {"log_id": before["log_id"], "tree_size": 3, "root": before["root"]} in r.json()["checkpoints"]
        status = api.get("/status").json()
        assert (z001(status)["anchored_size"], z001(status)["lost_checkpoints"]) == (3, 0)
        assert status["anchoring"]["lost_checkpoints"] == 0
        assert status["anchoring"]["last_rollback"]["reanchored_at"] is not None
        assert proof_holds(ctx, before)
        for item in items:
            bundle = api.get(f"/items/{item['id']}/proof").json()
            assert proof_holds(ctx, bundle)
            assert bundle["anchor"]["tx_hash"] != before["anchor"]["tx_hash"]
        assert api.post("/anchor").json()["submitted"] is None  # nothing lost is left
        assert len(rollback_events(ctx)) == len(events)  # noticed once, not on every run
        with ctx.reader() as s:
            lost_sub = s.scalar(select(Submission).where(Submission.tx_hash == before["anchor"]["tx_hash"]))
            assert lost_sub.status.value == "FAILED" and "rollback" in lost_sub.error
        assert anchored_block is not None


@pytest.mark.e2e  # the CLI against the node on a real port
def test_rollback_detected_by_block_hash_and_cli_status(
    node_dir: Path, ganache_url: str, tmp_path: Path
) -> None:
    """`archive-ledger anchor` reports the rollback and re-anchors; `archive-ledger status` shows it."""
    with node_api(node_dir) as (api, ctx):
        items = upload(api, 2)
        snapshot = rpc(ganache_url, "evm_snapshot")
        api.post("/anchor").raise_for_status()
        rpc(ganache_url, "evm_revert", [snapshot])
        for _ in range(3):
            rpc(ganache_url, "evm_mine")
        with served(ctx) as url:
            key = node_dir / "secrets" / "api-key"
            env = clean_env(tmp_path)
            result = run_cli("anchor", "--node", url, "--api-key-file", key, env=env)
            assert result.returncode == 0, describe(result)
            assert "CHAIN ROLLBACK: fonds Z001" in result.stderr, describe(result)
            assert "anchored 2 log(s)" in result.stdout, describe(result)
            result = run_cli("status", "--node", url, "--api-key-file", key, env=env)
            assert result.returncode == 0, describe(result)
            assert "CHAIN ROLLBACKS: 2 detected; 0 lost checkpoint(s)" in result.stdout, describe(result)
            assert "2 records, 2 anchored, 0 pending" in result.stdout, describe(result)
        bundle = api.get(f"/items/{items[0]['id']}/proof").json()
        assert proof_holds(ctx, bundle)


def test_partial_rollback_keeps_what_the_chain_still_holds(node_dir: Path, ganache_url: str) -> None:
    """The chain still holds the older checkpoint (size 3): only the newer one (size 5) is lost and
    anchored again, as an extension of the one the contract holds."""
    with node_api(node_dir) as (api, ctx):
        first = upload(api, 3)
        api.post("/anchor").raise_for_status()
        kept = api.get(f"/items/{first[0]['id']}/proof").json()
        snapshot = rpc(ganache_url, "evm_snapshot")
        second = upload(api, 2, start=3)
        api.post("/anchor").raise_for_status()
        newer = api.get(f"/items/{second[1]['id']}/proof").json()
        assert newer["tree_size"] == 5 and proof_holds(ctx, newer)
        rpc(ganache_url, "evm_revert", [snapshot])
        rpc(ganache_url, "evm_mine")
        assert proof_holds(ctx, kept) and not proof_holds(ctx, newer)

        report = ctx.anchor_now()
        z = next(loss for loss in report.rollbacks if loss["fonds"] == "Z001")
        assert (z["chain_size"], z["lost_sizes"]) == (3, [5])
        assert {"log_id": newer["log_id"], "tree_size": 5, "root": newer["root"]} in report.checkpoints
        status = api.get("/status").json()
        assert (z001(status)["anchored_size"], z001(status)["lost_checkpoints"]) == (5, 0)
        assert proof_holds(ctx, kept) and proof_holds(ctx, newer)
        contract = ctx.chain().contract(ctx.settings.contract_address, load_artifact("ArchiveAnchor"))
        assert ctx.chain().call(contract.functions.checkpointCount(bytes.fromhex(kept["log_id"]))) == 2
        with ctx.reader() as s:
            rows = list(s.scalars(select(ChainRollback)))
            assert rows and all(row.reanchored_at is not None for row in rows)
            log_pk = s.scalar(select(Log.id).where(Log.fonds_code == "Z001"))
            sizes = [
                (cp.tree_size, cp.status.value, cp.previous_size)
                for cp in s.scalars(
                    select(Checkpoint).where(Checkpoint.log_pk == log_pk).order_by(Checkpoint.tree_size)
                )
            ]
        assert sizes == [(3, "CONFIRMED", 0), (5, "CONFIRMED", 3)]


def test_rollback_noticed_at_start_by_the_scheduled_run(node_dir: Path, ganache_url: str) -> None:
    """A node (re)started after its chain forgot: the scheduled run at start notices and repairs it,
    with no one running `archive-ledger anchor`."""
    with node_api(node_dir) as (api, ctx):
        items = upload(api, 2)
        snapshot = rpc(ganache_url, "evm_snapshot")
        api.post("/anchor").raise_for_status()
        bundle = api.get(f"/items/{items[0]['id']}/proof").json()
    rpc(ganache_url, "evm_revert", [snapshot])
    rpc(ganache_url, "evm_mine")
    with node_api(node_dir, scheduler=True, anchor_interval_s=3600) as (api, ctx):
        deadline = time.monotonic() + 60
        while True:
            anchoring = api.get("/status").json()["anchoring"]
            # lost_checkpoints drops to 0 when the re-anchoring is submitted; reanchored_at is set
            # once it is confirmed (a status read in between sees the one without the other).
            repaired = (anchoring["last_rollback"] or {}).get("reanchored_at") is not None
            if anchoring["chain_rollbacks"] and not anchoring["lost_checkpoints"] and repaired:
                break
            assert time.monotonic() < deadline, anchoring
            time.sleep(0.2)
        assert any(e["fonds"] == "Z001" for e in rollback_events(ctx))
        assert proof_holds(ctx, bundle)


def test_audit_verify_with_its_chain_gone_says_the_roots_were_not_checked(node_dir: Path) -> None:
    """GET /audit/verify reads the anchored roots through the node's own chain reader: a chain that does not
    answer is a `chain_error` in the report (the trail itself is still checked), never a 500."""
    with node_api(node_dir) as (api, _ctx):
        upload(api, 1)
        assert api.post("/anchor").status_code == 200
    password = (node_dir / "secrets" / "officers" / "secauditor.password").read_text().strip()
    with bad_gateway() as url, node_api(node_dir, rpc_url=url) as (api, _ctx):
        login = api.post("/auth/login", json={"username": "secauditor", "password": password})
        assert login.status_code == 200, login.text
        r = api.get("/audit/verify", headers={"Authorization": f"Bearer {login.json()['token']}"})
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["chain_error"], report
        assert report["events"] > 0 and report["chain_checked"] is False, report
