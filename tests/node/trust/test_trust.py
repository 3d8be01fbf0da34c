"""The trust root (issue 7): issued by the node (init, `trust issue`, rotation), served by GET /trust,
and what it buys an auditor: every attack fails with its own reason code, the good path still verifies.

The first part runs on the in-process chain; the attacks run on a real ganache (marked `ganache`)."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from anchor.chain.dev import fund_from_dev_account
from cli import app
from node.core.settings import load_settings
from tests.helpers.ganache_fixture import ganache_url  # noqa: F401  (the module's one ganache)
from tests.helpers.paths import TEST_DATA
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

    from node.app import create_app
    from node.core.context import NodeContext
    from node.trust.service import issue_next
    from tests.helpers.api import upload

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
            r = client.post("/verify", json={"bundle": bundle, "content_sha256": item["content_sha256"]})
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


# -- the attacks, on a real ganache -----------------------------------------------------------------------
IMPOSTOR_SOURCE = TEST_DATA / "impostor" / "ImpostorAnchor.sol"
ORIGINAL = b"Minutes of the board of the port group, 12 March 1998"
FORGED_ROOT = "ab" * 32


@dataclass
class World:
    """One node (in process) on one real ganache, with an anchored item, its bundle, the exported trust
    root and a certificate the node issued: shared by the attack tests of this module."""

    tmp: Path
    data: Path
    rpc_url: str
    ctx: Any
    api: Any
    bundle: dict[str, Any]
    original: Path
    proof: Path
    trust_file: Path
    certificate: Path


@pytest.fixture(scope="module")
def world(ganache_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:  # noqa: F811
    from fastapi.testclient import TestClient

    from anchor.chain import ChainClient
    from anchor.profiles import load_profile
    from node.app import create_app
    from node.core.bootstrap import initialise
    from node.core.context import NodeContext
    from tests.helpers.api import upload

    saved = {k: v for k, v in os.environ.items() if k.startswith("ARCHIVE_LEDGER_")}
    for key in saved:
        del os.environ[key]
    os.environ["ARCHIVE_LEDGER_CHAIN_KEY_SCRYPT_N"] = "1024"
    tmp = tmp_path_factory.mktemp("trust")
    data = tmp / "data"
    client = ChainClient(load_profile("dev").replace(rpc_url=ganache_url))
    try:
        initialise(data, profile_name="dev", rpc_url=ganache_url, archive_name="Port Group Archive", client=client)
        ctx = NodeContext.build(load_settings(data), chain_client=client)
        key = (data / "secrets" / "api-key").read_text().strip()
        with TestClient(create_app(ctx, scheduler=False)) as api:
            api.headers["Authorization"] = f"Bearer {key}"
            item = upload(api, ORIGINAL).json()
            assert api.post("/anchor").status_code == 200
            bundle = api.get(f"/items/{item['id']}/proof").json()
            original, proof, trust_file, certificate = (tmp / n for n in ("original.txt", "proof.json", "trust.json",
                                                                          "cert.json"))  # fmt: skip
            original.write_bytes(ORIGINAL)
            proof.write_text(json.dumps(bundle))
            trust_file.write_bytes(api.get("/trust", headers={"Authorization": ""}).content)  # pinned once
            body = {"bundle": bundle, "content_sha256": item["content_sha256"], "certificate": True}
            r = api.post("/verify", json=body)
            assert r.status_code == 200 and r.json()["result"]["outcome"] == "authentic", r.text
            certificate.write_text(json.dumps(r.json()["certificate"]))
            yield World(tmp, data, ganache_url, ctx, api, bundle, original, proof, trust_file, certificate)
        ctx.close()
    finally:
        for key in [k for k in os.environ if k.startswith("ARCHIVE_LEDGER_")]:
            del os.environ[key]
        os.environ.update(saved)


def cli(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args], env=env)
    return result.exit_code, result.output


def verify_args(world: World, *rpc: str, proof: Path | None = None, trust: Path | None = None) -> list[str | Path]:
    args: list[str | Path] = ["verify", world.original, "--proof", proof or world.proof]
    if trust is not None:
        args += ["--trust", trust]
    for url in rpc or (world.rpc_url,):
        args += ["--rpc", url]
    return args


def forged_bundle(world: World, contract: str) -> dict[str, Any]:
    """A record that was never in the archive, as a one-leaf tree whose root `contract` claims to hold."""
    from verifier.records import record_leaf_hash

    record = dict(world.bundle["record"], item_id="f0" * 16, content_sha256="cd" * 32)
    leaf = record_leaf_hash(record).hex()
    anchor = dict(world.bundle["anchor"], contract=contract)
    return dict(world.bundle, record=record, leaf_hash=leaf, leaf_index=0, tree_size=1, inclusion_path=[], root=leaf,
                anchor=anchor)  # fmt: skip


def deploy_impostor(world: World, root_hex: str) -> str:
    """Compile tests/data/impostor/ImpostorAnchor.sol with the project's pinned solc and deploy it."""
    import solcx

    from anchor.keystore import load_account
    from contracts.compile import CONTRACTS_DIR, ContractSpec, find_solc, standard_input

    binary, _version = find_solc()
    spec = ContractSpec("ImpostorAnchor", "ImpostorAnchor.sol")
    out = solcx.compile_standard(standard_input({spec.source: IMPOSTOR_SOURCE.read_text()}, [spec]),
                                 solc_binary=binary, allow_paths=str(CONTRACTS_DIR))  # fmt: skip
    compiled = out["contracts"][spec.source][spec.name]
    artifact = {"abi": compiled["abi"], "bytecode": "0x" + compiled["evm"]["bytecode"]["object"]}
    settings = world.ctx.settings
    attacker = load_account(settings.keystore_path, settings.keystore_password_file)  # any funded key would do
    address, _ = world.ctx.chain().deploy(attacker, artifact, bytes.fromhex(root_hex))
    return address.lower()


@pytest.mark.ganache
def test_good_path_verifies_with_the_pinned_trust_root(world: World) -> None:
    code, out = cli(*verify_args(world, trust=world.trust_file))
    assert code == 0, out
    code, out = cli(*verify_args(world, world.rpc_url, world.rpc_url, trust=world.trust_file))  # two witnesses agree
    assert code == 0, out
    code, out = cli(*verify_args(world), env={"ARCHIVE_LEDGER_TRUST": str(world.trust_file)})  # from the env
    assert code == 0, out
    code, out = cli("verify-certificate", world.certificate, "--trust", world.trust_file)
    assert code == 0, out
    cert = json.loads(world.certificate.read_text())
    assert cert["payload"]["trust_root_sha256"] == load_trust_root_file(world.trust_file).sha256


@pytest.mark.ganache
def test_without_trust_root_never_authentic(world: World) -> None:
    code, out = cli(*verify_args(world))
    assert code == 2 and "no_trust_root" in out
    code, out = cli("verify-certificate", world.certificate)
    assert code == 2 and "no_trust_root" in out


@pytest.mark.ganache
def test_get_trust_checks_with_the_verifier(world: World) -> None:
    r = world.api.get("/trust", headers={"Authorization": ""})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    trust = load_trust_root(json.loads(r.content))
    assert r.content == (world.data / "trust" / "trust-root-1.json").read_bytes() == world.trust_file.read_bytes()
    assert trust.archive_name == "Port Group Archive" and len(trust.officer_signers) == 3
    assert trust.chain_id == 1337 and trust.rpc_endpoints == (world.rpc_url,)
    assert trust.anchor_address == world.bundle["anchor"]["contract"].lower()


@pytest.mark.ganache
def test_impostor_contract_on_the_same_chain_is_contract_untrusted(world: World) -> None:
    bundle = forged_bundle(world, "0x" + "00" * 20)
    impostor = deploy_impostor(world, bundle["root"])
    bundle["anchor"]["contract"] = impostor
    forged = world.tmp / "forged.json"
    forged.write_text(json.dumps(bundle))
    from verifier.chain import JsonRpcChain, anchor_version, root_at

    chain = JsonRpcChain(world.rpc_url)
    assert anchor_version(chain, impostor) == "archive-ledger/ArchiveAnchor/1"  # it does look the part
    assert root_at(chain, impostor, bytes.fromhex(bundle["log_id"]), 1).hex() == bundle["root"]
    code, out = cli("verify", "--sha256", "cd" * 32, "--proof", forged, "--trust", world.trust_file,
                    "--rpc", world.rpc_url, "--json")  # fmt: skip
    assert code == 1 and json.loads(out)["reason_code"] == "contract_untrusted", out
    # The node's POST /verify uses its own trust root too, never the bundle's contract.
    r = world.api.post("/verify", json={"bundle": bundle, "content_sha256": "cd" * 32})
    result = r.json()["result"]
    assert (result["outcome"], result["reason_code"]) == ("not_authentic", "contract_untrusted"), result


@pytest.mark.ganache
def test_look_alike_chain_with_the_same_id_and_address_is_wrong_chain(world: World) -> None:
    """A second ganache, chain id 1337 too, with the real contracts deployed at the same addresses (same
    deployer key, same nonces) and the bundle's root anchored there: only the genesis hash tells."""
    from anchor.chain import ChainClient
    from anchor.deploy import deploy_contracts
    from anchor.keystore import load_account
    from anchor.profiles import load_profile
    from node.core.bootstrap import OFFICER_ACCOUNTS
    from node.users import service as users
    from tests.helpers.ganache_fixture import run_ganache

    settings = world.ctx.settings
    account = load_account(settings.keystore_path, settings.keystore_password_file)
    officers = {}
    with world.ctx.reader() as s:
        for username, role in OFFICER_ACCOUNTS.items():
            password = (settings.officers_dir / f"{username}.password").read_text().strip()
            officers[role.value] = users.unlock_chain_key(users.by_username(s, username), password)
    with run_ganache(world.tmp / "look-alike", chain_id=1337) as other_url:
        other = ChainClient(load_profile("dev").replace(rpc_url=other_url))
        for address in (account.address, *(o.address for o in officers.values())):
            fund_from_dev_account(other, address, 10**20)
        deployment = deploy_contracts(other, account, system_admin=officers["system_admin"],
                                      security_admin=officers["security_admin"],
                                      auditor=officers["security_auditor"], anchorer=account.address)  # fmt: skip
        assert deployment.anchor.lower() == settings.contract_address.lower()  # same address, other chain
        from contracts import load_artifact

        contract = other.contract(deployment.anchor, load_artifact("ArchiveAnchor"))
        b = world.bundle
        signed = other.send(account, contract.functions.anchor(bytes.fromhex(b["log_id"]), b["tree_size"],
                                                               bytes.fromhex(b["root"]), []))  # fmt: skip
        other.wait_confirmed(signed.tx_hash)
        code, out = cli(*verify_args(world, other_url, trust=world.trust_file), "--json")
        assert code == 1 and json.loads(out)["reason_code"] == "wrong_chain", out
        assert other_url in out


class LyingProxy:
    """A JSON-RPC proxy to ganache that answers every rootAt eth_call with another root."""

    def __init__(self, upstream: str) -> None:
        from eth_utils import function_signature_to_4byte_selector

        self.upstream = upstream
        self.selector = "0x" + function_signature_to_4byte_selector("rootAt(bytes32,uint64)").hex()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = urllib.request.Request(proxy.upstream, data=body,
                                                 headers={"Content-Type": "application/json"})  # fmt: skip
                with urllib.request.urlopen(request, timeout=10) as r:
                    answer = json.loads(r.read())
                asked = json.loads(body)
                calls = {c.get("id"): c for c in (asked if isinstance(asked, list) else [asked])}
                for reply in answer if isinstance(answer, list) else [answer]:
                    call = calls.get(reply.get("id"), {})
                    params = call.get("params") or [{}]
                    data = params[0].get("data") or params[0].get("input") or "" if isinstance(params[0], dict) else ""
                    if call.get("method") == "eth_call" and str(data).startswith(proxy.selector):
                        reply["result"] = "0x" + FORGED_ROOT
                out = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LyingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.ganache
def test_lying_rpc_is_split_view_naming_the_endpoint(world: World) -> None:
    with LyingProxy(world.rpc_url) as liar:
        code, out = cli(*verify_args(world, world.rpc_url, liar.url, trust=world.trust_file), "--json")
        assert code == 1 and json.loads(out)["reason_code"] == "split_view", out
        assert liar.url in out
        code, out = cli(*verify_args(world, liar.url, trust=world.trust_file), "--json")  # alone it cannot be told
        assert code == 1 and json.loads(out)["reason_code"] == "root_not_on_chain", out


@pytest.mark.ganache
def test_certificate_by_a_key_not_in_the_trust_root_is_key_untrusted(world: World) -> None:
    from datetime import UTC, datetime

    from verifier.certificate import generate_signing_key, issue_certificate

    result = world.ctx.verify_proof(world.bundle, content=ORIGINAL)
    assert result.outcome == "authentic"
    trust = load_trust_root_file(world.trust_file)
    cert = issue_certificate(result, world.bundle, generate_signing_key(), datetime.now(UTC), "an impostor",
                             trust_root_sha256=trust.sha256)  # fmt: skip
    path = world.tmp / "impostor-cert.json"
    path.write_text(json.dumps(cert))
    code, out = cli("verify-certificate", path, "--trust", world.trust_file)
    assert code == 1 and "key_untrusted" in out, out


@pytest.mark.ganache
def test_trust_root_with_a_broken_officer_signature_is_refused(world: World) -> None:
    doc = json.loads(world.trust_file.read_bytes())
    officer = next(s for s in doc["signatures"] if s["kind"] == "officer")
    flipped = "1" if officer["signature"][10] != "1" else "2"
    officer["signature"] = officer["signature"][:10] + flipped + officer["signature"][11:]
    broken = world.tmp / "broken-trust.json"
    broken.write_text(json.dumps(doc))
    with pytest.raises(Exception) as exc_info:
        load_trust_root(doc)
    assert getattr(exc_info.value, "reason_code", None) == "trust_root_bad_signature"
    code, out = cli(*verify_args(world, trust=broken))
    assert code != 0 and "trust_root_bad_signature" in out, out
    code, out = cli("verify-certificate", world.certificate, "--trust", broken)
    assert code != 0 and "trust_root_bad_signature" in out, out


@pytest.mark.ganache
def test_rotation_retires_the_old_key_without_invalidating_its_certificates(world: World) -> None:
    """Runs last in this module: it rotates the node's verifier key."""
    from datetime import UTC, datetime

    from verifier.certificate import issue_certificate, load_signing_key, public_key_hex

    settings = world.ctx.settings
    old_key = load_signing_key(settings.verifier_key_path)
    code, out = cli("trust", "issue", "--data-dir", world.data, "--rotate-verifier-key",
                    *officer_args(world.data, "sysadmin", "secadmin"))  # fmt: skip
    assert code == 0, out
    v2 = world.data / "trust" / "trust-root-2.json"
    code, out = cli("trust", "show", v2, "--pinned", world.trust_file)  # an auditor checks the update
    assert code == 0, out
    # The certificate issued before the rotation still verifies under the new trust root.
    code, out = cli("verify-certificate", world.certificate, "--trust", v2)
    assert code == 0, out
    # The old key signing after it was retired: key_not_valid_at_issue.
    time.sleep(1.1)
    result = world.ctx.verify_proof(world.bundle, content=ORIGINAL)
    late = issue_certificate(result, world.bundle, old_key, datetime.now(UTC), "stolen old key",
                             trust_root_sha256=load_trust_root_file(v2).sha256)  # fmt: skip
    path = world.tmp / "late-cert.json"
    path.write_text(json.dumps(late))
    code, out = cli("verify-certificate", path, "--trust", v2)
    assert code == 1 and "key_not_valid_at_issue" in out, out
    # The new key signs certificates the new trust root accepts.
    new_key = load_signing_key(settings.verifier_key_path)
    assert public_key_hex(new_key) != public_key_hex(old_key)
    fresh = issue_certificate(result, world.bundle, new_key, datetime.now(UTC), "node",
                              trust_root_sha256=load_trust_root_file(v2).sha256)  # fmt: skip
    path.write_text(json.dumps(fresh))
    code, out = cli("verify-certificate", path, "--trust", v2)
    assert code == 0, out
