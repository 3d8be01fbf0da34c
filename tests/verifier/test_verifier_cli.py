"""`python -m verifier verify|verify-certificate|trust-show`, run as a subprocess against a JSON-RPC stub
that serves an in-memory chain (tests/verifier/test_verify.py's FakeChain) over HTTP batches."""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.bundles import CONTENTS, CONTRACT, GENESIS, FakeChain, build
from tests.helpers.paths import REPO_ROOT as ROOT
from tests.helpers.trust_builders import TrustKit
from verifier.certificate import issue_certificate
from verifier.cli import main
from verifier.errors import RpcCallError
from verifier.trustroot import canonical_document_bytes, load_trust_root, trust_root_sha256
from verifier.verify import verify_bundle


def serve(chain: FakeChain) -> tuple[str, http.server.ThreadingHTTPServer]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            answers = chain.batch([(r["method"], r["params"]) for r in req])
            replies = []
            for r, a in zip(req, answers, strict=True):
                if isinstance(a, RpcCallError):
                    replies.append(
                        {"jsonrpc": "2.0", "id": r["id"], "error": {"code": a.code, "message": a.rpc_message}}
                    )
                else:
                    replies.append({"jsonrpc": "2.0", "id": r["id"], "result": a})
            body = json.dumps(replies).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A bundle, its file, a chain behind an HTTP endpoint, a signed trust root listing that endpoint."""
    bundle, fake = build()
    url, server = serve(fake)
    kit = TrustKit()
    body = kit.body(genesis_hash=GENESIS, rpc_endpoints=[url])
    body["contracts"]["ArchiveAnchor"]["address"] = CONTRACT
    doc = kit.document(body)
    paths = {"proof": tmp_path / "proof.json", "file": tmp_path / "doc.bin", "trust": tmp_path / "trust.json"}
    paths["proof"].write_text(json.dumps(bundle))
    paths["file"].write_bytes(CONTENTS[3])
    paths["trust"].write_bytes(canonical_document_bytes(doc))
    try:
        yield {**paths, "url": url, "fake": fake, "kit": kit, "doc": doc, "bundle": bundle, "tmp": tmp_path}
    finally:
        server.shutdown()
        server.server_close()


def run(*args: Any, env: dict[str, str] | None = None, subprocess_: bool = False) -> subprocess.CompletedProcess:
    """`python -m verifier ARGS`: in a subprocess when asked (the real entry point), else `verifier.cli.main`
    in this process (fast, and mutation testing sees which code the test runs)."""
    argv = [str(a) for a in args]
    if subprocess_:
        full_env = {k: v for k, v in os.environ.items() if k not in _ENV_VARS}
        full_env["PYTHONPATH"] = str(ROOT)
        full_env.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "verifier", *argv], capture_output=True, text=True, env=full_env, timeout=60
        )
    saved = {k: os.environ.get(k) for k in (*_ENV_VARS, *(env or {}))}
    for k in _ENV_VARS:
        os.environ.pop(k, None)
    os.environ.update(env or {})
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


_ENV_VARS = ("ARCHIVE_LEDGER_TRUST", "ARCHIVE_LEDGER_RPC_URL")


def test_verify_authentic(world) -> None:  # type: ignore[no-untyped-def]
    out = run("verify", world["file"], "--proof", world["proof"], "--trust", world["trust"], subprocess_=True)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("[ok  ] content_hash: ") for line in lines)
    assert [line[:6] for line in lines if line.startswith("[")] == ["[ok  ]"] * 4
    assert lines[-1] == "AUTHENTIC"
    assert world["url"] in out.stdout  # the endpoint came from the trust root


def test_verify_json(world) -> None:  # type: ignore[no-untyped-def]
    out = run("verify", world["file"], "--proof", world["proof"], "--trust", world["trust"], "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["outcome"] == "authentic" and data["exit_code"] == 0
    assert [s["name"] for s in data["steps"]] == ["content_hash", "record", "inclusion", "chain"]
    assert data["trust_root"]["sha256"] == load_trust_root(world["doc"]).sha256
    assert data["endpoints"] == [world["url"]]


def test_verify_tampered_file(world) -> None:  # type: ignore[no-untyped-def]
    world["file"].write_bytes(CONTENTS[3] + b"!")
    out = run("verify", world["file"], "--proof", world["proof"], "--trust", world["trust"])
    assert out.returncode == 1
    assert "[FAIL] content_hash: content_mismatch" in out.stdout
    assert out.stdout.splitlines()[-1].startswith("NOT_AUTHENTIC: content_mismatch")


def test_verify_sha256_and_env_trust(world) -> None:  # type: ignore[no-untyped-def]
    sha = world["bundle"]["record"]["content_sha256"]
    out = run("verify", "--sha256", sha, "--proof", world["proof"], env={"ARCHIVE_LEDGER_TRUST": str(world["trust"])})
    assert out.returncode == 0, out.stdout + out.stderr


def test_verify_without_trust_root(world) -> None:  # type: ignore[no-untyped-def]
    out = run("verify", world["file"], "--proof", world["proof"], "--rpc", world["url"], subprocess_=True)
    assert out.returncode == 2
    assert out.stderr.startswith("no_trust_root: ")
    assert "AUTHENTIC" not in out.stdout
    out = run("verify", world["file"], "--proof", world["proof"], "--json")
    assert out.returncode == 2 and json.loads(out.stdout)["reason_code"] == "no_trust_root"


def test_verify_with_a_forged_trust_root(world) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(world["trust"].read_text())
    doc["trust_root"]["contracts"]["ArchiveAnchor"]["address"] = "0x" + "cd" * 20
    world["trust"].write_text(json.dumps(doc))
    out = run("verify", world["file"], "--proof", world["proof"], "--trust", world["trust"])
    assert out.returncode == 2
    assert out.stderr.startswith("trust_root_bad_signature: ")


def test_verify_rpc_env_and_flags(world) -> None:  # type: ignore[no-untyped-def]
    liar = world["fake"].mirror("liar")
    liar.lie_root = b"\x42" * 32
    liar_url, server = serve(liar)
    try:
        out = run("verify", world["file"], "--proof", world["proof"], "--trust", world["trust"],
                  env={"ARCHIVE_LEDGER_RPC_URL": liar_url})  # fmt: skip
        assert out.returncode == 1 and "root_not_on_chain" in out.stdout
        out = run("verify", world["file"], "--proof", world["proof"], "--trust", world["trust"],
                  "--rpc", world["url"], "--rpc", liar_url)  # fmt: skip
        assert out.returncode == 1
        assert "split_view" in out.stdout and world["url"] in out.stdout and liar_url in out.stdout
    finally:
        server.shutdown()
        server.server_close()


def test_verify_unreachable(world) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers.ganache_fixture import closed_port_url

    down = closed_port_url()
    out = run("verify", world["file"], "--proof", world["proof"], "--trust", world["trust"], "--rpc", down)
    assert out.returncode == 2
    assert "chain_unreachable" in out.stdout and down in out.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["verify", "--trust", "t.json"],  # no --proof
        ["verify", "--proof", "nope.json", "--trust", "TRUST"],
        ["verify", "FILE", "--sha256", "00" * 32, "--proof", "PROOF", "--trust", "TRUST"],
        ["verify", "--proof", "PROOF", "--trust", "TRUST"],
        ["verify", "FILE", "--proof", "PROOF", "--trust", "TRUST", "--rpc", "ftp://x"],
        ["nonsense"],
    ],
)
def test_usage_errors_exit_2(world, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    subst = {"FILE": world["file"], "PROOF": world["proof"], "TRUST": world["trust"]}
    out = run(*[subst.get(a, a) for a in args])
    assert out.returncode == 2, out.stdout + out.stderr


def test_usage_error_as_json_is_an_indeterminate_result(world) -> None:  # type: ignore[no-untyped-def]
    out = run("verify", world["file"], "--proof", world["tmp"] / "nope.json", "--trust", world["trust"], "--json")
    data = json.loads(out.stdout)
    assert out.returncode == 2 and set(data) == {"outcome", "exit_code", "reason_code", "message"}
    assert (data["outcome"], data["exit_code"]) == ("indeterminate", 2)
    assert out.stderr == f"{data['reason_code']}: {data['message']}\n"


# -- certificates ------------------------------------------------------------------------------------------------


def _certificate(world: dict, key: Any = None, issued_at: datetime | None = None) -> Path:
    tr = load_trust_root(world["doc"])
    result = verify_bundle(world["bundle"], content=CONTENTS[3], trust=tr, chains=[world["fake"]])
    cert = issue_certificate(result, world["bundle"], key or world["kit"].verifier_key,
                             issued_at or datetime(2026, 11, 29, 18, tzinfo=UTC), "Port Group Archive",
                             trust_root_sha256=tr.sha256)  # fmt: skip
    path = world["tmp"] / "cert.json"
    path.write_text(json.dumps(cert))
    return path


def test_verify_certificate(world) -> None:  # type: ignore[no-untyped-def]
    cert = _certificate(world)
    out = run("verify-certificate", cert, "--trust", world["trust"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "certificate valid" in out.stdout and out.stdout.splitlines()[-1] == "outcome: authentic"
    out = run("verify-certificate", cert, "--trust", world["trust"], "--json")
    data = json.loads(out.stdout)
    assert out.returncode == 0 and data["valid"] is True and data["payload"]["outcome"] == "authentic"


def test_verify_certificate_rejections(world) -> None:  # type: ignore[no-untyped-def]
    import nacl.signing

    cert = _certificate(world)
    doc = json.loads(cert.read_text())
    doc["payload"]["issuer"] = "Someone else"
    cert.write_text(json.dumps(doc))
    out = run("verify-certificate", cert, "--trust", world["trust"])
    assert out.returncode == 1 and out.stderr.startswith("bad_signature: ")

    cert = _certificate(world, key=nacl.signing.SigningKey.generate())
    out = run("verify-certificate", cert, "--trust", world["trust"], "--json")
    assert out.returncode == 1 and json.loads(out.stdout)["reason_code"] == "key_untrusted"

    out = run("verify-certificate", cert)
    assert out.returncode == 2 and out.stderr.startswith("no_trust_root: ")


# -- trust-show ----------------------------------------------------------------------------------------------------


def test_trust_show(world) -> None:  # type: ignore[no-untyped-def]
    out = run("trust-show", world["trust"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("trust root version 1 of 'Port Group Archive'")
    assert CONTRACT in out.stdout and world["url"] in out.stdout
    data = json.loads(run("trust-show", world["trust"], "--json").stdout)
    assert data["valid"] is True and data["version"] == 1 and data["trust_root"]["chain"]["genesis_hash"] == GENESIS


def test_trust_show_pinned(world) -> None:  # type: ignore[no-untyped-def]
    kit, old = world["kit"], world["doc"]
    body = json.loads(json.dumps(old["trust_root"]))
    body.update(version=2, previous_sha256=trust_root_sha256(old["trust_root"]), issued_at="2026-12-01T00:00:00Z")
    newer = world["tmp"] / "trust-2.json"
    newer.write_bytes(canonical_document_bytes(kit.document(body)))
    out = run("trust-show", newer, "--pinned", world["trust"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid update of the pinned version 1" in out.stdout

    out = run("trust-show", world["trust"], "--pinned", newer)
    assert out.returncode == 1 and out.stderr.startswith("trust_root_rollback: ")

    body["chain"]["genesis_hash"] = "0x" + "99" * 32
    newer.write_bytes(canonical_document_bytes(kit.document(body)))
    out = run("trust-show", newer, "--pinned", world["trust"], "--json")
    assert out.returncode == 1 and json.loads(out.stdout)["reason_code"] == "wrong_chain"


def test_trust_show_rejects_a_bad_document(world) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(world["trust"].read_text())
    doc["signatures"] = doc["signatures"][:2]  # verifier + one officer
    world["trust"].write_text(json.dumps(doc))
    out = run("trust-show", world["trust"])
    assert out.returncode == 1 and out.stderr.startswith("trust_root_bad_signature: ")
    assert run("trust-show", world["tmp"] / "missing.json").returncode == 2


def _certificate_with(world: dict, *, content: bytes, trust_root_sha256: str, extra: dict | None = None) -> Path:
    tr = load_trust_root(world["doc"])
    result = verify_bundle(world["bundle"], content=content, trust=tr, chains=[world["fake"]])
    cert = issue_certificate(result, world["bundle"], world["kit"].verifier_key, datetime(2026, 11, 29, 18, tzinfo=UTC),
                             "Port Group Archive", trust_root_sha256=trust_root_sha256, extra=extra)  # fmt: skip
    path = world["tmp"] / "cert-with.json"
    path.write_text(json.dumps(cert))
    return path


PERMIT = {
    "permit_id": "ab" * 32, "approver": "0x" + "12" * 20, "tx_hash": "0x" + "34" * 32, "block_number": 9,
    "chain_id": 1337, "contract": "0x" + "56" * 20, "not_before_iso": "2026-11-29T00:00:00Z",
    "expires_at_iso": "2026-12-29T00:00:00Z", "grantee": "reader@example.org", "loan_id": 17,
}  # fmt: skip


def test_verify_certificate_prints_what_it_vouches_for(world) -> None:  # type: ignore[no-untyped-def]
    tr = load_trust_root(world["doc"])
    cert = _certificate_with(world, content=CONTENTS[3], trust_root_sha256=tr.sha256, extra={"permit": PERMIT})
    record = world["bundle"]["record"]
    public_key = json.loads(cert.read_text())["public_key"]
    out = run("verify-certificate", cert, "--trust", world["trust"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines() == [
        f"certificate valid: signed by {public_key}, a verifier key of trust root version 1 valid at the issue time "
        "2026-11-29T18:00:00Z",
        f"issued by 'Port Group Archive' under trust root {tr.sha256}",
        f"record: item {record['item_id']} of fonds {record['fonds']}, content_sha256 {record['content_sha256']}",
        f"permit {'ab' * 32}: approver {'0x' + '12' * 20}, tx {'0x' + '34' * 32} (block 9, chain 1337, contract "
        f"{'0x' + '56' * 20})",
        "  valid 2026-11-29T00:00:00Z .. 2026-12-29T00:00:00Z; grantee reader@example.org; loan 17",
        "outcome: authentic",
    ]
    data = json.loads(run("verify-certificate", cert, "--trust", world["trust"], "--json").stdout)
    assert data["valid"] is True and data["exit_code"] == 0 and data["public_key"] == public_key
    issued_at = tr.document["trust_root"]["issued_at"]
    assert data["trust_root"] == {"version": 1, "sha256": tr.sha256, "issued_at": issued_at, "chain_id": 1337,
                                  "archive": "Port Group Archive"}  # fmt: skip
    assert data["payload"]["permit"] == PERMIT


def test_verify_certificate_of_a_failed_verification_under_another_trust_root(world) -> None:  # type: ignore[no-untyped-def]
    tr = load_trust_root(world["doc"])
    other = "cd" * 32
    cert = _certificate_with(world, content=b"not the archived file", trust_root_sha256=other)
    out = run("verify-certificate", cert, "--trust", world["trust"])
    lines = out.stdout.splitlines()
    assert out.returncode == 1, out.stdout + out.stderr
    assert lines[1] == f"issued by 'Port Group Archive' under trust root {other}"
    assert lines[2] == f"  (the trust root given is {tr.sha256}, version 1: an earlier or later version)"
    assert lines[-1].startswith("outcome: not_authentic (content_mismatch: content SHA-256 is ")
    assert lines[-1].endswith(")")
    assert not any(line.startswith("permit") for line in lines)
    data = json.loads(run("verify-certificate", cert, "--trust", world["trust"], "--json").stdout)
    assert data["valid"] is True and data["exit_code"] == 1 and data["payload"]["reason_code"] == "content_mismatch"


def test_verify_certificate_rejection_output(world) -> None:  # type: ignore[no-untyped-def]
    cert = _certificate(world)
    doc = json.loads(cert.read_text())
    doc["payload"]["issuer"] = "Someone else"
    cert.write_text(json.dumps(doc))
    out = run("verify-certificate", cert, "--trust", world["trust"], "--json")
    data = json.loads(out.stdout)
    assert out.returncode == 1 and set(data) == {"valid", "reason_code", "message", "exit_code"}
    assert data["valid"] is False and data["reason_code"] == "bad_signature" and data["exit_code"] == 1
    assert out.stderr == f"bad_signature: {data['message']}\n" and data["message"]
    out = run("verify-certificate", cert, "--trust", world["trust"])
    assert out.stdout == f"REJECTED: bad_signature: {data['message']}\n"


def test_verify_certificate_unreadable_file(world) -> None:  # type: ignore[no-untyped-def]
    out = run("verify-certificate", world["tmp"] / "missing.json", "--trust", world["trust"])
    assert out.returncode == 2 and out.stderr.startswith("usage: cannot read certificate ")
    out = run("verify-certificate", world["tmp"] / "missing.json", "--trust", world["trust"], "--json")
    data = json.loads(out.stdout)
    assert out.returncode == 2 and data["exit_code"] == 2 and data["message"].startswith("cannot read certificate ")


def test_trust_show_lines_and_json_of_an_update(world) -> None:  # type: ignore[no-untyped-def]
    kit, old = world["kit"], world["doc"]
    old_tr = load_trust_root(old)
    body = json.loads(json.dumps(old["trust_root"]))
    body.update(version=2, previous_sha256=old_tr.sha256, issued_at="2026-12-01T00:00:00Z")
    body["chain"]["rpc_endpoints"] = [world["url"], "https://rpc.example.org"]
    newer = world["tmp"] / "trust-2.json"
    newer.write_bytes(canonical_document_bytes(kit.document(body)))
    new_tr = load_trust_root(json.loads(newer.read_text()))

    lines = run("trust-show", world["trust"]).stdout.splitlines()
    assert lines[2] == "  previous:      -"
    assert lines[4] == f"  rpc endpoints: {world['url']}"
    out = run("trust-show", newer, "--pinned", world["trust"])
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and lines[1] == f"  sha256:        {new_tr.sha256}"
    assert lines[2] == f"  previous:      {old_tr.sha256}"
    assert lines[4] == f"  rpc endpoints: {world['url']}, https://rpc.example.org"
    assert lines[-1].startswith(f"valid update of the pinned version 1 ({old_tr.sha256}): signed by at least ")
    same = run("trust-show", world["trust"], "--pinned", world["trust"])
    assert same.returncode == 0 and same.stdout.splitlines()[-1] == "same document as the pinned trust root (version 1)"

    out = run("trust-show", newer, "--pinned", world["trust"], "--json")
    data = json.loads(out.stdout)
    assert out.returncode == 0 and data["valid"] is True and data["exit_code"] == 0
    assert data["version"] == 2 and data["sha256"] == new_tr.sha256 and data["chain_id"] == 1337
    assert data["issued_at"] == "2026-12-01T00:00:00Z" and data["archive"] == new_tr.archive_name
    assert data["officer_signers"] == list(new_tr.officer_signers) and len(data["officer_signers"]) >= new_tr.threshold
    assert data["pinned"] == {"version": 1, "sha256": old_tr.sha256, "issued_at": old["trust_root"]["issued_at"],
                              "chain_id": 1337, "archive": old_tr.archive_name}  # fmt: skip
    assert "pinned" not in json.loads(run("trust-show", world["trust"], "--json").stdout)


def test_trust_show_rejection_and_missing_file_output(world) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(world["trust"].read_text())
    doc["signatures"] = doc["signatures"][:2]
    world["trust"].write_text(json.dumps(doc))
    out = run("trust-show", world["trust"], "--json")
    data = json.loads(out.stdout)
    assert out.returncode == 1 and set(data) == {"valid", "reason_code", "message", "exit_code"}
    assert data["valid"] is False and data["exit_code"] == 1 and data["reason_code"] == "trust_root_bad_signature"
    assert out.stderr == f"trust_root_bad_signature: {data['message']}\n"
    out = run("trust-show", world["trust"])
    assert out.stdout == f"REJECTED: trust_root_bad_signature: {data['message']}\n"

    missing = world["tmp"] / "missing.json"
    out = run("trust-show", missing, "--json")
    data = json.loads(out.stdout)
    assert out.returncode == 2 and data["reason_code"] == "trust_root_malformed"
    assert data["message"] == f"cannot read trust root {missing}: no such file"
    out = run("trust-show", world["trust"], "--pinned", missing)
    assert out.returncode == 2 and f"cannot read trust root {missing}: no such file" in out.stderr


def _expected_lines(data: dict, tr: Any, urls: str) -> list[str]:
    marks = {True: "ok  ", False: "FAIL", None: "--  "}
    steps = [
        f"[{marks[s['ok']]}] {s['name']}: " + (f"{s['reason_code']}: " if s["reason_code"] else "") + s["message"]
        for s in data["steps"]
    ]
    last = data["outcome"].upper() + (f": {data['reason_code']}: {data['message']}" if data["exit_code"] else "")
    return [
        f"trust root: version 1 of 'Port Group Archive' ({tr.sha256}), chain 1337, ArchiveAnchor {CONTRACT}",
        f"chain endpoints: {urls}",
        *steps,
        last,
    ]


@pytest.mark.parametrize("tamper", [False, True])
def test_verify_human_output_line_by_line(world, tamper: bool) -> None:  # type: ignore[no-untyped-def]
    if tamper:
        world["file"].write_bytes(CONTENTS[3] + b"!")
    tr = load_trust_root(world["doc"])
    args = ("verify", world["file"], "--proof", world["proof"], "--trust", world["trust"])
    data = json.loads(run(*args, "--json").stdout)
    out = run(*args)
    assert out.returncode == data["exit_code"] == (1 if tamper else 0)
    assert out.stdout.splitlines() == _expected_lines(data, tr, world["url"])
    assert {s["ok"] for s in data["steps"]} == ({False, None} if tamper else {True})
    if not tamper:
        assert out.stdout.splitlines()[2].startswith("[ok  ] content_hash: content SHA-256 matches the record")
    else:
        assert out.stdout.splitlines()[2].startswith("[FAIL] content_hash: content_mismatch: content SHA-256 is ")
        assert out.stdout.splitlines()[3].startswith("[--  ] record: ")


def test_verify_with_no_endpoints_says_offline(world) -> None:  # type: ignore[no-untyped-def]
    body = json.loads(json.dumps(world["doc"]["trust_root"]))
    body["chain"]["rpc_endpoints"] = []
    world["trust"].write_bytes(canonical_document_bytes(world["kit"].document(body)))
    args = ("verify", world["file"], "--proof", world["proof"], "--trust", world["trust"])
    data = json.loads(run(*args, "--json").stdout)
    out = run(*args)
    assert data["endpoints"] == [] and out.returncode == data["exit_code"]
    lines = out.stdout.splitlines()
    assert lines[1] == "chain endpoints: none (offline check)"
    assert lines == _expected_lines(data, load_trust_root(json.loads(world["trust"].read_text())),
                                    "none (offline check)")  # fmt: skip


def _resigned(world: dict, change: Any) -> Path:
    """A certificate whose payload `change(payload)` edited, signed again with the trusted verifier key: what
    a verifier of another make (or a later version) could have issued."""
    from verifier.records import canonical_bytes

    doc = json.loads(_certificate(world).read_text())
    change(doc["payload"])
    doc["signature"] = world["kit"].verifier_key.sign(canonical_bytes(doc["payload"])).signature.hex()
    path = world["tmp"] / "resigned.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("outcome", ["accepted", None, ["authentic"]])
def test_certificate_with_an_outcome_this_verifier_does_not_know_exits_1(world, outcome: Any) -> None:  # type: ignore[no-untyped-def]
    cert = _resigned(world, lambda p: p.update(outcome=outcome))
    out = run("verify-certificate", cert, "--trust", world["trust"])
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stdout.splitlines()[-1] == f"outcome: {outcome}"
    data = json.loads(run("verify-certificate", cert, "--trust", world["trust"], "--json").stdout)
    assert data["valid"] is True and data["exit_code"] == 1


@pytest.mark.parametrize("record", ["item 0001", ["item"], {}])
def test_certificate_whose_record_is_not_a_record_prints_no_record_line(world, record: Any) -> None:  # type: ignore[no-untyped-def]
    cert = _resigned(world, lambda p: p["bundle"].update(record=record))
    out = run("verify-certificate", cert, "--trust", world["trust"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert not any(line.startswith("record:") for line in out.stdout.splitlines())


def test_run_functions_print_text_unless_asked_for_json(world, capsys) -> None:  # type: ignore[no-untyped-def]
    """The library entry points (`verifier.cli.run_*`) default to the readable output, like the CLI."""
    from verifier.cli import run_trust_show, run_verify, run_verify_certificate

    assert run_verify_certificate(_certificate(world), trust=world["trust"]) == 0
    assert capsys.readouterr().out.startswith("certificate valid: signed by ")
    assert run_trust_show(world["trust"]) == 0
    assert capsys.readouterr().out.startswith("trust root version 1 of 'Port Group Archive'")
    assert run_verify(world["file"], proof=world["proof"], trust=world["trust"], rpc=[world["url"]]) == 0
    assert not capsys.readouterr().out.startswith("{")


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (["verify", "FILE", "--sha256", "00" * 32, "--proof", "PROOF", "--trust", "TRUST"],
         "usage: give either the FILE to check or --sha256 (one of them)"),
        (["verify", "--proof", "PROOF", "--trust", "TRUST"],
         "usage: give either the FILE to check or --sha256 (one of them)"),
        (["verify", "--sha256", "0" * 63, "--proof", "PROOF", "--trust", "TRUST"],
         "usage: --sha256 takes 64 hex characters"),
        (["verify", "--sha256", "0" * 63 + "g", "--proof", "PROOF", "--trust", "TRUST"],
         "usage: --sha256 takes 64 hex characters"),
        (["verify", "--sha256", "X" * 64, "--proof", "PROOF", "--trust", "TRUST"],
         "usage: --sha256 takes 64 hex characters"),
        (["verify", "FILE", "--confirmations", "0", "--proof", "PROOF", "--trust", "TRUST"],
         "usage: --confirmations must be at least 1"),
        (["verify", "TMP", "--proof", "PROOF", "--trust", "TRUST"], "usage: {TMP} is not a readable file"),
        (["verify", "FILE", "--proof", "PROOF", "--trust", "TRUST", "--rpc", "ftp://x"],
         "usage: chain RPC url must be http(s), got 'ftp://x'"),
        (["verify", "FILE", "--proof", "TMP/nope.json", "--trust", "TRUST"],
         "usage: cannot read proof bundle {TMP}/nope.json: [Errno 2] No such file or directory: '{TMP}/nope.json'"),
        (["verify", "FILE", "--proof", "FILE", "--trust", "TRUST"], "usage: proof bundle {FILE} is not JSON: "),
    ],
)  # fmt: skip
def test_usage_error_messages(world, args: list[str], stderr: str) -> None:  # type: ignore[no-untyped-def]
    subst = {
        "FILE": str(world["file"]),
        "PROOF": str(world["proof"]),
        "TRUST": str(world["trust"]),
        "TMP": str(world["tmp"]),
    }
    out = run(*[subst.get(a, a.replace("TMP", subst["TMP"])) for a in args])
    expected = stderr.format(**subst)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith(expected) and out.stderr.endswith("\n"), out.stderr


def test_sha256_in_upper_case_is_accepted(world) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    digest = hashlib.sha256(CONTENTS[3]).hexdigest().upper()
    out = run("verify", "--sha256", digest, "--proof", world["proof"], "--trust", world["trust"])
    assert out.returncode == 0, out.stdout + out.stderr


def test_verify_names_every_endpoint_it_asked(world) -> None:  # type: ignore[no-untyped-def]
    url = world["url"]
    out = run("verify", world["file"], "--proof", world["proof"], "--trust", world["trust"], "--rpc", url, "--rpc", url)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"chain endpoints: {url}, {url}" in out.stdout.splitlines()


def test_confirmations_flag_reaches_the_chain_step(world) -> None:  # type: ignore[no-untyped-def]
    args = ("verify", world["file"], "--proof", world["proof"], "--trust", world["trust"])
    assert run(*args, "--confirmations", "1").returncode == 0  # the smallest depth is allowed
    out = run(*args, "--confirmations", "50", "--json")
    data = json.loads(out.stdout)
    assert out.returncode == 2 and data["reason_code"] == "not_confirmed" and " of 50 confirmations" in data["message"]


def test_json_output_is_indented_and_keeps_non_ascii_text(world) -> None:  # type: ignore[no-untyped-def]
    cert = _resigned(world, lambda p: p.update(issuer="Archiv Zürich"))
    out = run("verify-certificate", cert, "--trust", world["trust"], "--json")
    assert out.stdout.startswith('{\n  "valid": true,\n') and '"issuer": "Archiv Zürich"' in out.stdout


def test_trust_root_missing_or_rejected_says_what_to_do(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    out = run("verify", world["file"], "--proof", world["proof"])
    assert out.returncode == 2 and out.stderr == (
        "no_trust_root: no trust root given: pass --trust trust.json (or set ARCHIVE_LEDGER_TRUST); get it once "
        "from the archive (`archive-ledger trust export` or GET /trust) and pin it\n"
    )
    bad = world["tmp"] / "bad-trust.json"
    bad.write_text("[]")
    out = run("verify", world["file"], "--proof", world["proof"], "--trust", bad)
    assert out.returncode == 2 and out.stderr.startswith(f"trust_root_malformed: trust root {bad} rejected: ")


def test_json_inputs_are_read_up_to_the_limit_and_as_bytes(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import verifier.cli as cli_mod

    args = ("verify", world["file"], "--trust", world["trust"], "--proof")
    proof = world["proof"].read_bytes()
    monkeypatch.setattr(cli_mod, "MAX_JSON_BYTES", len(proof))
    assert run(*args, world["proof"]).returncode == 0  # exactly the limit: read whole
    monkeypatch.setattr(cli_mod, "MAX_JSON_BYTES", len(proof) - 1)
    out = run(*args, world["proof"])
    limit = len(proof) - 1
    assert out.returncode == 2 and out.stderr == f"usage: proof bundle {world['proof']} is larger than {limit} bytes\n"
    monkeypatch.undo()
    latin = world["tmp"] / "latin.json"
    latin.write_bytes(b'{"v": "\xe9"}')  # not UTF-8: refused as not JSON, never a crash
    out = run(*args, latin)
    assert out.returncode == 2 and out.stderr.startswith(f"usage: proof bundle {latin} is not JSON: ")


def test_help_texts_and_required_arguments() -> None:
    out = run("--help")
    top = " ".join(out.stdout.split())  # argparse wraps help lines
    assert out.returncode == 0 and top.startswith("usage: python -m verifier ")
    assert "Check archive-ledger proof bundles and certificates against a pinned trust root." in top
    for line in ("verify a file (or its SHA-256) against a proof bundle", "check a verification certificate",
                 "print a trust root (and check it as an update of a pinned one)"):  # fmt: skip
        assert line in top
    verify = " ".join(run("verify", "--help").stdout.split())
    for text in ("the file to check (omit with --sha256)", "proof bundle JSON",
                 "trust root JSON (default: $ARCHIVE_LEDGER_TRUST)",
                 "chain JSON-RPC URL, repeatable (default: $ARCHIVE_LEDGER_RPC_URL, else the trust root's "
                 "rpc_endpoints)",
                 "check against this digest instead of a file", "blocks required (at least the trust root's)",
                 "print the result as JSON"):  # fmt: skip
        assert text in verify, text
    assert "certificate JSON" in run("verify-certificate", "--help").stdout
    show = " ".join(run("trust-show", "--help").stdout.split())
    assert "trust root JSON" in show
    assert "the trust root pinned earlier: check TRUST_ROOT is a valid update of it" in show
    missing = run("verify", "x.bin", "--trust", "t.json")
    assert missing.returncode == 2 and "the following arguments are required: --proof" in missing.stderr
    nothing = run()
    assert nothing.returncode == 2 and "the following arguments are required: command" in nothing.stderr
