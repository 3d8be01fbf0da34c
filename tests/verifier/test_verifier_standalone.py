"""The verifier stands alone: a fresh venv holding only its own dependencies (rfc8785, PyNaCl and theirs:
cffi, pycparser), `verifier/` copied alone, verifies a real bundle anchored on a real ganache and a
real certificate. Hermetic: the venv is made without pip and the distributions are copied from this
environment, so no network is needed."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eth_account import Account
from sqlalchemy import select

from anchor.anchorer import Anchorer
from anchor.bundles import proof_bundle
from anchor.chain import ChainClient
from anchor.chain.dev import fund_from_dev_account
from anchor.db import make_engine, make_session_factory, transaction
from anchor.deploy import deploy_for_tests
from anchor.log import MerkleLog
from anchor.models import Log
from anchor.profiles import load_profile
from node.core.db import migrate
from tests.helpers.ganache_fixture import ganache_url  # noqa: F401  (the fixture)
from tests.helpers.paths import REPO_ROOT as ROOT
from tests.helpers.trust_builders import TrustKit
from verifier.certificate import issue_certificate
from verifier.chain import JsonRpcChain
from verifier.records import new_record
from verifier.trustroot import canonical_document_bytes, load_trust_root
from verifier.verify import verify_bundle

VERIFIER_DEPENDENCIES = ("rfc8785", "nacl", "cffi", "_cffi_backend", "pycparser")
CONTENT = b"minutes of the board meeting, 1987-03-02\n" * 50

pytestmark = pytest.mark.ganache


def make_standalone(tmp: Path) -> tuple[Path, Path]:
    """(python of a venv with only the verifier's dependencies, a directory holding only verifier/)."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    for name in VERIFIER_DEPENDENCIES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        if spec.submodule_search_locations:  # a package: copy its directory
            src = Path(next(iter(spec.submodule_search_locations)))
            shutil.copytree(src, site / src.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:  # a single module (the cffi backend extension)
            shutil.copy2(spec.origin, site / Path(spec.origin).name)
    app = tmp / "standalone"
    shutil.copytree(ROOT / "verifier", app / "verifier", ignore=shutil.ignore_patterns("__pycache__"))
    return python, app


def run(python: Path, app: Path, *args: object) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(app)}  # no PYTHONPATH, no project
    return subprocess.run(
        [str(python), "-m", "verifier", *map(str, args)], cwd=app, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def anchored(ganache_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:  # noqa: F811
    """One record anchored on ganache by the anchorer, its proof bundle, a signed trust root, a certificate."""
    tmp = tmp_path_factory.mktemp("standalone")
    client = ChainClient(load_profile("dev").replace(rpc_url=ganache_url, ganache=None))
    account = Account.create()
    fund_from_dev_account(client, account.address, 10**20)
    deployment, _officers = deploy_for_tests(client, account)

    db = f"sqlite:///{tmp / 'node.db'}"
    migrate(db)
    engine = make_engine(db)
    sessions = make_session_factory(engine)
    with transaction(sessions) as s:
        MerkleLog(s).append("Z001", new_record(
            type="item.ingested", fonds="Z001", item_id="ab" * 16, content_sha256=hashlib.sha256(CONTENT).hexdigest(),
            size=len(CONTENT), metadata_sha256="11" * 32, time=datetime.now(UTC),
        ))  # fmt: skip
    report = Anchorer(sessions, client, account, deployment.anchor, confirmations=1, wait_timeout_s=30).run()
    assert report.confirmed
    with sessions() as s:
        bundle = proof_bundle(s, s.scalars(select(Log).where(Log.fonds_code == "Z001")).one(), 0)
    engine.dispose()

    kit = TrustKit()
    body = kit.body(
        chain_id=client.chain_id,
        genesis_hash="0x" + bytes(client.w3.eth.get_block(0)["hash"]).hex(),
        rpc_endpoints=[ganache_url],
    )
    for name, address in (("ArchiveAnchor", deployment.anchor), ("ArchiveRoles", deployment.roles),
                          ("ReadPermits", deployment.permits)):  # fmt: skip
        body["contracts"][name] = {"address": address.lower(), "deployed_block": deployment.block_number}
    doc = kit.document(body)
    trust = load_trust_root(doc)
    result = verify_bundle(bundle, content=CONTENT, trust=trust, chains=[JsonRpcChain(ganache_url)])
    assert result.outcome == "authentic", result.to_dict()
    cert = issue_certificate(result, bundle, kit.verifier_key, datetime.now(UTC), "Port Group Archive",
                             trust_root_sha256=trust.sha256)  # fmt: skip

    paths = {name: tmp / f"{name}.json" for name in ("proof", "trust", "cert")}
    paths["proof"].write_text(json.dumps(bundle))
    paths["trust"].write_bytes(canonical_document_bytes(doc))
    paths["cert"].write_text(json.dumps(cert))
    paths["file"] = tmp / "minutes.txt"
    paths["file"].write_bytes(CONTENT)
    return paths


def test_standalone_verifier(anchored: dict, tmp_path: Path) -> None:
    python, app = make_standalone(tmp_path)

    probe = subprocess.run(
        [str(python), "-c", "import importlib.util as u, verifier.cli, verifier.verify, verifier.certificate; "
         "print([m for m in ('web3', 'eth_account', 'eth_utils', 'anchor', 'node', 'sqlalchemy') "
         "if u.find_spec(m) is not None])"],
        cwd=app, env={"PATH": os.environ.get("PATH", "")}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"  # web3, eth-account and the project are absent
    assert sorted(p.name for p in (app / "verifier").glob("*.py")) == sorted(
        p.name for p in (ROOT / "verifier").glob("*.py")
    )

    out = run(python, app, "verify", anchored["file"], "--proof", anchored["proof"], "--trust", anchored["trust"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines()[-1] == "AUTHENTIC"

    out = run(python, app, "verify-certificate", anchored["cert"], "--trust", anchored["trust"])
    assert out.returncode == 0, out.stdout + out.stderr

    out = run(python, app, "trust-show", anchored["trust"])
    assert out.returncode == 0, out.stdout + out.stderr

    tampered = tmp_path / "minutes.txt"
    tampered.write_bytes(CONTENT.replace(b"1987", b"1988", 1))
    out = run(python, app, "verify", tampered, "--proof", anchored["proof"], "--trust", anchored["trust"])
    assert out.returncode == 1
    assert "content_mismatch" in out.stdout

    out = run(python, app, "verify", anchored["file"], "--proof", anchored["proof"])
    assert out.returncode == 2 and out.stderr.startswith("no_trust_root: ")


def test_a_lying_witness_on_a_real_chain_is_a_split_view(anchored: dict) -> None:
    """One endpoint rewrites rootAt answers (a lying RPC), another answers honestly: split_view, naming both.
    Alone, the liar makes the root look absent (root_not_on_chain); honest alone: authentic."""
    from tests.helpers.rpc_proxy import LyingProxy, lie_about_roots
    from verifier.trustroot import load_trust_root_file

    bundle = json.loads(anchored["proof"].read_text())
    trust = load_trust_root_file(anchored["trust"])
    honest = trust.rpc_endpoints[0]
    with LyingProxy(honest, lie_about_roots("42" * 32)) as liar:
        both = verify_bundle(bundle, content=CONTENT, trust=trust, chains=[JsonRpcChain(honest), JsonRpcChain(liar)])
        assert (both.outcome, both.reason_code) == ("not_authentic", "split_view")
        assert honest in both.message and liar in both.message
        alone = verify_bundle(bundle, content=CONTENT, trust=trust, chains=[JsonRpcChain(liar)])
        assert alone.reason_code == "root_not_on_chain"
    assert verify_bundle(bundle, content=CONTENT, trust=trust, chains=[JsonRpcChain(honest)]).outcome == "authentic"
