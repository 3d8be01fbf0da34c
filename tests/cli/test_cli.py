"""CLI behaviour that needs no chain: clear messages and non-zero exits on bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import rfc8785
from typer.testing import CliRunner

from cli import app
from verifier.certificate import generate_signing_key, issue_certificate, public_key_hex
from verifier.trustroot import load_trust_root_file
from verifier.verify import verify_bundle

runner = CliRunner()


def offline_trust_root(tmp_path: Path, key) -> Path:  # type: ignore[no-untyped-def]
    """A trust root signed by `key` and two throwaway officer keys (no chain needed to check a certificate)."""
    from eth_account import Account

    from node.trust.service import sign_document
    from verifier.records import log_id_for_fonds

    officers = [("system_admin", Account.create()), ("security_admin", Account.create())]
    body = {
        "type": "archive-ledger/trust-root", "version": 1, "previous_sha256": None, "issued_at": "2026-01-01T00:00:00Z",
        "archive": {"name": "Test Archive"},
        "fonds": [{"code": "Z001", "log_id": log_id_for_fonds("Z001").hex(),
                   "audit_log_id": log_id_for_fonds("Z001/audit").hex()}],
        "chain": {"chain_id": 1337, "genesis_hash": "0x" + "11" * 32, "confirmations": 1,
                  "rpc_endpoints": ["http://127.0.0.1:1"]},
        "contracts": {name: {"address": "0x" + f"{i:02x}" * 20, "deployed_block": i}
                      for i, name in enumerate(("ArchiveAnchor", "ArchiveRoles", "ReadPermits"), start=1)},
        "verifier_keys": [{"public_key": public_key_hex(key), "valid_from": "2026-01-01T00:00:00Z",
                           "valid_until": None}],
        "officers": [{"role": role, "address": acct.address.lower()} for role, acct in officers],
        "threshold": 2,
    }  # fmt: skip
    path = tmp_path / "trust.json"
    path.write_bytes(rfc8785.dumps(sign_document(body, key, officers)))
    return path


def test_verify_rejects_unreadable_bundle(tmp_path: Path) -> None:
    trust = offline_trust_root(tmp_path, generate_signing_key())
    (tmp_path / "f.txt").write_text("x")
    (tmp_path / "bad.json").write_text("{not json")
    result = runner.invoke(app, ["verify", str(tmp_path / "f.txt"), "--proof", str(tmp_path / "bad.json"),
                                 "--trust", str(trust)])  # fmt: skip
    assert result.exit_code == 2 and "bad.json" in result.output, result.output


def test_verify_needs_exactly_one_of_file_or_digest(tmp_path: Path) -> None:
    trust = offline_trust_root(tmp_path, generate_signing_key())
    (tmp_path / "b.json").write_text("{}")
    result = runner.invoke(app, ["verify", "--proof", str(tmp_path / "b.json"), "--trust", str(trust)])
    assert result.exit_code == 2, result.output


def test_verify_malformed_bundle_is_not_authentic(tmp_path: Path) -> None:
    trust = offline_trust_root(tmp_path, generate_signing_key())
    (tmp_path / "f.txt").write_text("x")
    (tmp_path / "b.json").write_text(json.dumps({"v": 1, "record": {}}))
    result = runner.invoke(app, ["verify", str(tmp_path / "f.txt"), "--proof", str(tmp_path / "b.json"),
                                 "--trust", str(trust), "--rpc", "http://127.0.0.1:1"])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "NOT_AUTHENTIC" in result.output.upper().replace(" ", "_")


def test_verify_without_trust_root_exits_2(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("ARCHIVE_LEDGER_TRUST", raising=False)
    (tmp_path / "f.txt").write_text("x")
    (tmp_path / "b.json").write_text(json.dumps({"v": 1, "record": {}}))
    result = runner.invoke(app, ["verify", str(tmp_path / "f.txt"), "--proof", str(tmp_path / "b.json")])
    assert result.exit_code == 2 and "no_trust_root" in result.output, result.output


def _certificate(tmp_path: Path, tamper: bool = False) -> tuple[Path, Path]:
    key = generate_signing_key()
    trust = offline_trust_root(tmp_path, key)
    result = verify_bundle({"v": 1}, content_sha256="00" * 32, trust=None)
    cert = issue_certificate(result, {"v": 1}, key, datetime.now(UTC), issuer="test",
                             trust_root_sha256=load_trust_root_file(trust).sha256)  # fmt: skip
    if tamper:
        cert["payload"]["issuer"] = "someone else"
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(cert))
    return path, trust


def test_verify_certificate_signature(tmp_path: Path) -> None:
    path, trust = _certificate(tmp_path)
    result = runner.invoke(app, ["verify-certificate", str(path), "--trust", str(trust)])
    assert result.exit_code == 1, result.output  # validly signed, but it records a not-authentic verification
    (tmp_path / "other").mkdir()
    other = offline_trust_root(tmp_path / "other", generate_signing_key())
    result = runner.invoke(app, ["verify-certificate", str(path), "--trust", str(other)])
    assert result.exit_code == 1 and "key_untrusted" in result.output, result.output


def test_verify_certificate_tampered(tmp_path: Path) -> None:
    path, trust = _certificate(tmp_path, tamper=True)
    result = runner.invoke(app, ["verify-certificate", str(path), "--trust", str(trust)])
    assert result.exit_code == 1 and "bad_signature" in result.output, result.output


def test_ingest_node_unreachable(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ARCHIVE_LEDGER_API_KEY", "alk_x")
    (tmp_path / "a.txt").write_text("x")
    result = runner.invoke(
        app,
        ["ingest", str(tmp_path / "a.txt"), "--node", "http://127.0.0.1:1", "--journal", str(tmp_path / "j"), "-q",
         "--fonds", "Z001", "--category", "WS", "--year", "2024", "--retention", "10y"],
    )  # fmt: skip
    assert result.exit_code == 1 and "cannot reach the node" in result.output and "resume" in result.output


def test_api_key_file_must_be_private(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("ARCHIVE_LEDGER_API_KEY", raising=False)
    key = tmp_path / "api-key"
    key.write_text("alk_x")
    key.chmod(0o644)
    result = runner.invoke(app, ["status", "--node", "http://127.0.0.1:1", "--api-key-file", str(key)])
    assert result.exit_code != 0 and "chmod 600" in str(result.output) + str(result.exception)


def test_serve_refuses_uninitialised_dir(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "not initialised" in result.output


def test_init_twice_is_refused(node_data: Path) -> None:
    result = runner.invoke(app, ["init", "--data-dir", str(node_data), "--profile", "test"])
    assert result.exit_code == 1 and "already initialised" in result.output


def test_serve_brings_an_old_database_up_to_date(node_data: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An upgraded node migrates its database before serving (init is not run again)."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine

    from node.core.db import alembic_config
    from node.core.settings import load_settings

    url = load_settings(node_data).db_url
    command.downgrade(alembic_config(url), "0001")
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: None)
    result = runner.invoke(app, ["serve", "--data-dir", str(node_data)])
    assert result.exit_code == 0, result.output
    engine = create_engine(url)
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    engine.dispose()
    assert current == ScriptDirectory.from_config(alembic_config(url)).get_current_head()
