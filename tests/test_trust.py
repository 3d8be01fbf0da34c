"""The trust root (issue 7): issued by the node (init, `trust issue`, rotation), served by GET /trust,
and what it buys an auditor: every attack fails with its own reason code, the good path still verifies.

The first part runs on the in-process chain; the attacks run on a real ganache (marked `ganache`)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from typer.testing import CliRunner

from cli import app
from node.settings import load_settings
from verifier.trustroot import check_trust_update, load_trust_root, load_trust_root_file

runner = CliRunner()
OFFICERS = ("sysadmin", "secadmin", "secauditor")


def officer_args(data: Path, *usernames: str) -> list[str]:
    args: list[str] = []
    for username in usernames:
        args += ["--officer", f"{username}={data / 'secrets' / 'officers' / f'{username}.password'}"]
    return args


def trust_files(data: Path) -> list[Path]:
    return sorted((data / "trust").glob("trust-root-*.json"))


# -- issuance on the node (in-process chain) -----------------------------------------------------------------
def test_init_writes_version_1_signed_by_the_verifier_and_all_officers(node_data: Path, chain_client) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(node_data)
    path = node_data / "trust" / "trust-root-1.json"
    assert trust_files(node_data) == [path]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 and stat.S_IMODE(path.parent.stat().st_mode) == 0o755
    raw = path.read_bytes()
    trust = load_trust_root(json.loads(raw))
    import rfc8785

    assert rfc8785.dumps(json.loads(raw)) == raw  # stored as RFC 8785 bytes
    assert trust.version == 1 and trust.previous_sha256 is None and trust.threshold == 2
    assert trust.chain_id == chain_client.w3.eth.chain_id
    assert trust.genesis_hash == "0x" + bytes(chain_client.w3.eth.get_block(0)["hash"]).hex()
    assert trust.anchor_address == settings.contract_address.lower()
    assert trust.roles_address == settings.roles_address.lower()
    assert trust.permits_address == settings.permits_address.lower()
    blocks = {name: c.deployed_block for name, c in trust.contracts.items()}
    assert blocks["ArchiveRoles"] < blocks["ArchiveAnchor"] < blocks["ReadPermits"]
    assert trust.confirmations == 1
    assert [f.code for f in trust.fonds] == ["Z001"]
    from verifier.records import log_id_for_fonds

    assert trust.fonds[0].audit_log_id == log_id_for_fonds("Z001/audit").hex()
    from verifier.certificate import load_signing_key, public_key_hex

    key = public_key_hex(load_signing_key(settings.verifier_key_path))
    assert [(k.public_key, k.valid_until) for k in trust.verifier_keys] == [(key, None)]
    assert {o.role for o in trust.officers} == {"system_admin", "security_admin", "security_auditor"}
    assert len(trust.officer_signers) == 3  # all three officers signed version 1
    kinds = [s["kind"] for s in trust.document["signatures"]]
    assert kinds.count("verifier") == 1 and kinds.count("officer") == 3


def test_get_trust_serves_the_document_publicly(api, node_data: Path, node_ctx) -> None:  # type: ignore[no-untyped-def]
    r = api.get("/trust", headers={"Authorization": ""})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.content == (node_data / "trust" / "trust-root-1.json").read_bytes()
    assert load_trust_root(r.json()).sha256 == node_ctx.trust_root.sha256
    out = node_data.parent / "exported.json"
    result = runner.invoke(app, ["trust", "export", "-o", str(out), "--data-dir", str(node_data)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == r.content


def test_trust_issue_links_versions_and_refuses_too_few_or_wrong_officers(node_data: Path, tmp_path: Path) -> None:
    data = str(node_data)
    one = runner.invoke(app, ["trust", "issue", "--data-dir", data, *officer_args(node_data, "sysadmin")])
    assert one.exit_code == 1 and "at least 2" in one.output
    same = runner.invoke(app, ["trust", "issue", "--data-dir", data, *officer_args(node_data, "sysadmin", "sysadmin")])
    assert same.exit_code == 1 and "at least 2" in same.output
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not the password\n")
    bad = runner.invoke(app, ["trust", "issue", "--data-dir", data, *officer_args(node_data, "sysadmin"),
                              "--officer", f"secadmin={wrong}"])  # fmt: skip
    assert bad.exit_code == 1 and "wrong password" in bad.output
    assert len(trust_files(node_data)) == 1  # nothing issued

    ok = runner.invoke(app, ["trust", "issue", "--data-dir", data, "--archive-name", "Port Group Archive",
                             *officer_args(node_data, "secadmin", "secauditor")])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    v1 = load_trust_root_file(node_data / "trust" / "trust-root-1.json")
    v2 = load_trust_root_file(node_data / "trust" / "trust-root-2.json")
    assert v2.version == 2 and v2.previous_sha256 == v1.sha256 and v2.archive_name == "Port Group Archive"
    assert v2.verifier_keys == v1.verifier_keys and len(v2.officer_signers) == 2
    assert check_trust_update(v1, v2.document).version == 2  # an auditor who pinned v1 accepts v2
    assert load_settings(node_data).archive_name == "Port Group Archive"  # kept for the next version
    shown = runner.invoke(app, ["trust", "show", str(node_data / "trust" / "trust-root-2.json"),
                                "--pinned", str(node_data / "trust" / "trust-root-1.json")])  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert "Port Group Archive" in shown.output


def test_rotation_keeps_the_old_key_listed_and_on_disk(node_data: Path) -> None:
    settings = load_settings(node_data)
    from verifier.certificate import load_signing_key, public_key_hex

    old = public_key_hex(load_signing_key(settings.verifier_key_path))
    r = runner.invoke(app, ["trust", "issue", "--data-dir", str(node_data), "--rotate-verifier-key",
                            *officer_args(node_data, "sysadmin", "secauditor")])  # fmt: skip
    assert r.exit_code == 0, r.output
    new = public_key_hex(load_signing_key(settings.verifier_key_path))
    assert new != old
    kept = settings.secrets_dir / "verifier-keys" / f"{old}.key"
    assert public_key_hex(load_signing_key(kept)) == old and stat.S_IMODE(kept.stat().st_mode) == 0o600
    v2 = load_trust_root_file(node_data / "trust" / "trust-root-2.json")
    keys = {k.public_key: k for k in v2.verifier_keys}
    assert keys[old].valid_until == v2.issued_at and keys[new].valid_from == v2.issued_at
    assert keys[new].valid_until is None
    signers = [s["public_key"] for s in v2.document["signatures"] if s["kind"] == "verifier"]
    assert signers == [new]


def test_a_data_dir_without_trust_root_still_serves(node_data: Path, chain_client) -> None:  # type: ignore[no-untyped-def]
    """Initialised before trust roots existed: the node starts, GET /trust says what to run, POST /verify
    answers no_trust_root (and issues no certificate); `trust issue` then writes version 1."""
    import shutil

    from fastapi.testclient import TestClient
    from test_api import upload

    from node.app import create_app
    from node.context import NodeContext
    from node.trust import issue_next

    shutil.rmtree(node_data / "trust")
    ctx = NodeContext.build(load_settings(node_data), chain_client=chain_client)
    key = (node_data / "secrets" / "api-key").read_text().strip()
    try:
        assert ctx.trust_root is None
        with TestClient(create_app(ctx, scheduler=False)) as client:
            r = client.get("/trust")
            assert r.status_code == 404 and "archive-ledger trust issue" in r.text
            client.headers["Authorization"] = f"Bearer {key}"
            item = upload(client, b"legacy node").json()
            assert client.post("/anchor").status_code == 200
            bundle = client.get(f"/items/{item['id']}/proof").json()
            r = client.post("/verify", json={"bundle": bundle})
            assert r.status_code == 200, r.text
            result = r.json()["result"]
            assert result["outcome"] == "indeterminate" and result["reason_code"] == "no_trust_root"
            r = client.post("/verify", json={"bundle": bundle, "certificate": True})
            assert r.status_code == 409 and r.json()["error"] == "no_trust_root"
    finally:
        ctx.close()
    out = node_data.parent / "t.json"
    assert runner.invoke(app, ["trust", "export", "-o", str(out), "--data-dir", str(node_data)]).exit_code == 1
    creds = [(u, (node_data / "secrets" / "officers" / f"{u}.password").read_text().strip())
             for u in ("sysadmin", "secadmin")]  # fmt: skip
    path, trust = issue_next(load_settings(node_data), creds, client=chain_client)
    assert path.name == "trust-root-1.json" and trust.version == 1 and len(trust.officer_signers) == 2
    assert [f.code for f in trust.fonds] == ["Z001"]
