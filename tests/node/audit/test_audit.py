"""The audit trail: events for writes and content access (allowed or not), hash-chained, sealed into
the fonds' audit log and anchored; deleted or edited rows are found by `audit verify` (API and CLI)."""

from __future__ import annotations

import csv
import io
import json
import socket
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from anchor.bundles import proof_bundle
from anchor.chain import Web3ChainReader
from anchor.log import MerkleLog
from node.core.models import AuditEvent
from tests.helpers.api import upload
from tests.helpers.people import People
from verifier.verify import verify_bundle


def events(node_ctx) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with node_ctx.reader() as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def test_writes_and_content_access_are_events(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]
    item = upload(api, b"audited bytes").json()
    ingest = events(node_ctx)[-1]
    assert (ingest.action, ingest.outcome, ingest.principal_kind, ingest.target) == (
        "items:ingest", "ok", "api_key", f"/items/{item['id']}",
    )  # fmt: skip
    assert ingest.fonds == "Z001" and ingest.log_fonds == "Z001/audit" and ingest.leaf_index is not None
    assert ingest.source_ip  # from where

    # The system admin cannot read content: 403, audited as denied.
    r = api.get(f"/items/{item['id']}/content", headers=people.auth("system_admin"))
    assert r.status_code == 403
    denied = events(node_ctx)[-1]
    assert (denied.action, denied.outcome, denied.principal_name) == ("items:content", "denied", "sysadmin")
    assert json.loads(denied.details_json)["status"] == 403 and denied.fonds == "Z001"

    assert api.get(f"/items/{item['id']}/content", headers=people.auth("archivist")).status_code == 200
    assert (events(node_ctx)[-1].action, events(node_ctx)[-1].outcome) == ("items:content", "ok")

    r = api.post("/items", headers={"Authorization": ""}, files={"file": ("a", b"x")})
    assert r.status_code == 401
    anonymous = events(node_ctx)[-1]
    assert (anonymous.action, anonymous.outcome, anonymous.principal_id) == ("items:ingest", "denied", None)

    r = api.post("/users", json={"username": "x1", "password": "short"}, headers=people.auth("system_admin"))
    assert r.status_code == 422 and events(node_ctx)[-1].outcome == "failed"
    assert api.get("/items").status_code == 200
    assert events(node_ctx)[-1].action != "items:read"  # plain reads of metadata are not events

    seqs = [e.seq for e in events(node_ctx)]
    assert seqs == list(range(1, len(seqs) + 1))
    report = api.get("/audit/verify", headers=people.auth("security_auditor")).json()
    assert report["ok"] is True, report["problems"]


def test_events_are_anchored_with_the_next_checkpoint(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]
    upload(api, b"to be anchored")
    api.post("/users", json={"username": "li.na", "password": "x" * 12}, headers=people.auth("system_admin"))
    event = events(node_ctx)[-1]
    assert event.action == "users:manage" and event.leaf_index is not None
    assert api.post("/anchor").status_code == 200
    with node_ctx.reader() as s:
        log = MerkleLog(s).by_fonds(event.log_fonds)
        record = MerkleLog(s).record(log, event.leaf_index)
        assert record["type"] == "audit.event" and record["item_id"] == event.id
        assert record["content_sha256"] == event.hash and record["size"] == 0
        bundle = proof_bundle(s, log, event.leaf_index)
    assert node_ctx.trust_root.anchor_address == node_ctx.settings.contract_address.lower()
    result = verify_bundle(
        bundle, content_sha256=event.hash, trust=node_ctx.trust_root, chains=(Web3ChainReader(node_ctx.chain().w3),),
        confirmations=node_ctx.profile.confirmations,
    )  # fmt: skip
    assert result.outcome == "authentic", result.to_dict()
    # The anchoring run's own event waits for the next event of its log (so anchoring settles).
    last = events(node_ctx)[-1]
    assert last.action == "anchor:run" and last.leaf_index is None
    assert api.post("/anchor").json()["submitted"] is None
    report = api.get("/audit/verify", headers=people.auth("security_auditor")).json()
    assert report["ok"] and report["chain_checked"] and report["checkpoints_checked"] >= 2, report


def test_deleted_and_edited_rows_are_detected(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]
    for k in range(3):
        upload(api, f"doc {k}".encode())
    api.post("/anchor")
    rows = events(node_ctx)
    victim, edited = rows[-3], rows[-2]
    with node_ctx.sessions() as s, s.begin():
        s.execute(delete(AuditEvent).where(AuditEvent.id == victim.id))
        s.execute(update(AuditEvent).where(AuditEvent.id == edited.id).values(outcome="denied"))
    report = api.get("/audit/verify", headers=people.auth("security_auditor")).json()
    assert report["ok"] is False
    kinds = {(p["kind"], p.get("id")) for p in report["problems"]}
    assert ("deleted", victim.id) in kinds  # the log record without its row
    assert any(p["kind"] == "deleted" and p.get("seq") == str(victim.seq) for p in report["problems"])
    assert ("edited", edited.id) in kinds and ("record_mismatch", edited.id) in kinds


def test_rewritten_chain_still_caught_by_the_log(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]
    """An attacker who edits a row and recomputes every hash after it: the log records disagree."""
    from node.audit.service import event_body, event_hash

    upload(api, b"one")
    upload(api, b"two")
    with node_ctx.sessions() as s, s.begin():
        rows = list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        rows[-2].principal_name = "somebody else"
        prev = rows[-3].hash
        for row in rows[-2:]:
            row.prev_hash = prev
            row.hash = prev = event_hash(prev, event_body(row))
    problems = api.get("/audit/verify", headers=people.auth("security_auditor")).json()["problems"]
    assert {p["kind"] for p in problems} == {"record_mismatch"}
    assert {p["id"] for p in problems} == {rows[-2].id, rows[-1].id}


def test_query_and_export_for_the_security_auditor_only(api, people: People) -> None:  # type: ignore[no-untyped-def]
    upload(api, b"exported")
    auditor = people.auth("security_auditor")
    listed = api.get("/audit/events", params={"action": "items:ingest"}, headers=auditor).json()["events"]
    assert listed and all(e["action"] == "items:ingest" for e in listed)
    as_csv = api.get("/audit/export", params={"format": "csv"}, headers=auditor)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert rows and {"seq", "id", "time", "principal_name", "action", "outcome", "source_ip", "hash"} <= set(rows[0])
    as_json = api.get("/audit/export", params={"format": "json"}, headers=auditor).json()
    assert len(as_json["events"]) >= len(rows)
    for role in ("system_admin", "security_admin", "archivist", "auditor"):
        assert api.get("/audit/export", headers=people.auth(role)).status_code == 403
        assert api.get("/audit/verify", headers=people.auth(role)).status_code == 403
    assert api.get("/audit/export").status_code == 403  # the init API key neither
    # An export is itself an event; so is a refused one.
    last = api.get("/audit/events", params={"action": "audit:read", "outcome": "denied"}, headers=auditor).json()
    assert last["events"]


@pytest.fixture
def server(node_ctx):  # type: ignore[no-untyped-def]
    """The app served by uvicorn on a loopback port, for the CLI."""
    import uvicorn

    from node.app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(node_ctx, scheduler=False), host="127.0.0.1", port=port,
                                        log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_cli_login_audit_verify_and_export(server: str, node_data: Path, node_ctx, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from cli import app

    runner = CliRunner()
    token_file = tmp_path / "cfg" / "token"
    common = ["--node", server, "--api-key-file", str(tmp_path / "no-key"), "--token-file", str(token_file)]
    password = (node_data / "secrets" / "officers" / "secauditor.password").read_text().strip()
    monkeypatch.setenv("ARCHIVE_LEDGER_PASSWORD", password)
    r = runner.invoke(app, ["login", "secauditor", "--node", server, "--token-file", str(token_file)])
    assert r.exit_code == 0, r.output
    assert token_file.stat().st_mode & 0o777 == 0o600

    r = runner.invoke(app, ["audit", "verify", *common])
    assert r.exit_code == 0 and "OK" in r.output, r.output
    r = runner.invoke(app, ["audit", "export", "--format", "json", "-o", str(tmp_path / "a.json"), *common])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "a.json").read_text())["events"]

    victim = events(node_ctx)[0]
    with node_ctx.sessions() as s, s.begin():
        s.execute(delete(AuditEvent).where(AuditEvent.id == victim.id))
    r = runner.invoke(app, ["audit", "verify", *common])
    assert r.exit_code == 1, r.output
    assert "TAMPERED deleted" in r.output and victim.id in r.output

    r = runner.invoke(app, ["users", "list", *common])
    assert r.exit_code == 0 and "secauditor" in r.output and "sysadmin" in r.output
    r = runner.invoke(app, ["users", "create", "nope", *common])  # the security auditor writes nothing
    assert r.exit_code == 1 and "403" in r.output


def test_pending_lazy_events_are_sealed_in_chain_order(node_ctx) -> None:  # type: ignore[no-untyped-def]
    """A lazy event (anchor:run) waits, events of other logs do not seal it, the next event of its log
    seals it first; also after the log has records (the pending lookup starts after its last record)."""
    from node.audit import service as audit

    for _ in range(2):
        with node_ctx.sessions() as s, s.begin():
            lazy = audit.record_event(s, None, "anchor:run", "/anchor", "ok", None, {}, "Z001")
            other = audit.record_event(s, None, "items:ingest", "/a", "ok", None, {}, "Z002")
            lazy2 = audit.record_event(s, None, "anchor:run", "/anchor", "ok", None, {}, "Z001")
            assert lazy.leaf_index is None and lazy2.leaf_index is None and other.leaf_index is not None
            sealing = audit.record_event(s, None, "items:ingest", "/b", "ok", None, {}, "Z001")
            assert (lazy.leaf_index, lazy2.leaf_index) == (sealing.leaf_index - 2, sealing.leaf_index - 1)
            log = MerkleLog(s).by_fonds("Z001/audit")
            assert log.size == sealing.leaf_index + 1
            assert [MerkleLog(s).record(log, i)["item_id"] for i in range(log.size - 3, log.size)] == [
                lazy.id, lazy2.id, sealing.id,
            ]  # fmt: skip
    with node_ctx.reader() as s:
        report = audit.verify_audit(s)
    assert report["ok"], report


def test_edited_unsealed_row_breaks_the_chain_link(node_ctx) -> None:  # type: ignore[no-untyped-def]
    """An event not yet in the log (a lazy anchor:run) has no record to compare with: editing it and
    recomputing its own hash is still caught, because the next row's prev_hash no longer links to it."""
    from node.audit import service as audit

    with node_ctx.sessions() as s, s.begin():
        first = audit.record_event(s, None, "anchor:run", "/anchor", "ok", None, {}, "Z001")
        second = audit.record_event(s, None, "anchor:run", "/anchor", "ok", None, {}, "Z001")
        assert first.leaf_index is None and second.leaf_index is None
        first_id, second_id = first.id, second.id
    with node_ctx.reader() as s:
        assert audit.verify_audit(s)["ok"]
    with node_ctx.sessions() as s, s.begin():
        row = s.scalar(select(AuditEvent).where(AuditEvent.id == first_id))
        row.outcome = "failed"
        row.hash = audit.event_hash(row.prev_hash, audit.event_body(row))  # consistent with itself
    with node_ctx.reader() as s:
        report = audit.verify_audit(s)
    assert report["ok"] is False and report["unsealed"] >= 2
    kinds = {(p["kind"], p.get("id")) for p in report["problems"]}
    assert ("chain_broken", second_id) in kinds
    assert not any(p.get("id") == first_id and p["kind"] == "edited" for p in report["problems"])
