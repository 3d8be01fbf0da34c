"""The committed artifacts in contracts/build/ are exactly what the pinned compiler makes of the sources."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from contracts import compile as cc
from contracts import load_artifact


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> tuple[dict, Path]:
    """Recompile every contract into a temporary directory."""
    out = tmp_path_factory.mktemp("build")
    artifacts = cc.build_artifacts()
    cc.write_artifacts(artifacts, out)
    return artifacts, out


@pytest.mark.parametrize("spec", cc.CONTRACTS, ids=lambda s: s.name)
def test_committed_artifact_is_current(fresh, spec):
    artifacts, out = fresh
    committed = load_artifact(spec.name)
    rebuilt = json.loads((out / f"{spec.name}.json").read_text())
    hint = "stale artifact: run `python -m contracts.compile` and commit contracts/build/"
    assert committed["sourceHash"] == rebuilt["sourceHash"], hint
    assert committed["abi"] == rebuilt["abi"], hint
    assert committed["bytecode"] == rebuilt["bytecode"], hint
    assert committed["deployedBytecode"] == rebuilt["deployedBytecode"], hint
    assert committed == rebuilt, hint
    # Byte-identical file: the JSON writer is deterministic.
    assert (cc.BUILD_DIR / f"{spec.name}.json").read_text() == cc.render(artifacts[spec.name])


def test_artifact_shape():
    art = load_artifact("ArchiveAnchor")
    assert art["contractName"] == "ArchiveAnchor"
    assert art["bytecode"].startswith("0x") and len(art["bytecode"]) > 1000
    assert art["deployedBytecode"].startswith("0x")
    assert art["compiler"] == {
        "version": art["compiler"]["version"],
        "evmVersion": "shanghai",
        "optimizer": {"enabled": True, "runs": 200},
    }
    assert art["compiler"]["version"].startswith(cc.pinned_solc_version() + "+commit.")
    assert re.fullmatch(r"[0-9a-f]{64}", art["sourceHash"])
    # The hash covers the imported OpenZeppelin files, so an OpenZeppelin change makes it stale.
    assert "@openzeppelin/contracts/access/AccessControl.sol" in art["sources"]  # via ArchiveRoles.sol
    assert {"ArchiveAnchor.sol", "ArchiveRoles.sol"} <= set(art["sources"])
    assert {"ReadPermits.sol", "ArchiveRoles.sol"} <= set(load_artifact("ReadPermits")["sources"])


DESIGN_ABI = {
    "ArchiveAnchor": {
        "function": (
            "ANY_LOG", "roles", "isAnchorer", "anchorVersion", "anchor", "anchorMany", "latest", "rootAt",
            "anchoredAtBlock", "checkpointCount",
        ),
        "event": ("CheckpointAnchored",),
        "error": ("NotAnchorer", "EmptyCheckpoint", "LogShrinks", "ConflictingRoot", "InconsistentCheckpoint"),
    },
    "ArchiveRoles": {
        "function": (
            "SYSTEM_ADMIN_ROLE", "SECURITY_ADMIN_ROLE", "AUDITOR_ROLE", "ANY_LOG", "anchorerRole", "approverRole",
            "isAnchorer", "isApprover", "grantAnchorer", "revokeAnchorer", "grantApprover", "revokeApprover",
            "proposeOfficerChange", "confirmOfficerChange", "cancelOfficerChange", "getProposal", "officerRoleOf",
            "hasRole", "getRoleAdmin",
        ),
        "event": ("OfficerChangeProposed", "OfficerChangeConfirmed", "AnchorerChanged", "ApproverChanged"),
        "error": ("OfficerConflict", "BusinessRoleHolder", "OwnRoleChange", "SameOfficer", "LastOfficer"),
    },
    "ReadPermits": {
        "function": (
            "grant", "revoke", "isValid", "getPermit", "permitsOf", "permitVersion", "PERMIT_TYPEHASH",
            "REVOKE_TYPEHASH", "eip712Domain", "roles",
        ),
        "event": ("PermitGranted", "PermitRevoked"),
        "error": ("NotApprover", "InvalidPeriod", "AlreadyExpired", "UnknownPermit", "NotAllowedToRevoke"),
    },
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(DESIGN_ABI))
def test_abi_matches_design(name):
    abi = load_artifact(name)["abi"]
    names = {(item["type"], item.get("name")) for item in abi}
    for kind, expected in DESIGN_ABI[name].items():
        for item in expected:
            assert (kind, item) in names, (kind, item)


def test_anchor_has_no_access_control_of_its_own():
    names = {item.get("name") for item in load_artifact("ArchiveAnchor")["abi"]}
    assert not names & {"grantAnchorer", "revokeAnchorer", "grantRole", "hasRole", "SYSTEM_ADMIN_ROLE"}


def test_source_hash_tracks_every_source():
    sources = cc.collect_sources(["ArchiveAnchor.sol"])
    base = cc.source_hash(sources)
    for name in sources:
        changed = dict(sources)
        changed[name] += "\n"
        assert cc.source_hash(changed) != base, name


def test_check_mode(fresh, tmp_path, monkeypatch, capsys):
    artifacts, out = fresh
    monkeypatch.setattr(cc, "build_artifacts", lambda: artifacts)
    assert cc.main(["--check", "--out-dir", str(out)]) == 0
    assert cc.main(["--check", "--out-dir", str(tmp_path)]) == 1
    (tmp_path / "ArchiveAnchor.json").write_text(cc.render({**artifacts["ArchiveAnchor"], "bytecode": "0x00"}))
    assert cc.main(["--check", "--out-dir", str(tmp_path)]) == 1
    assert "stale" in capsys.readouterr().err


def test_import_closure_resolves_relative_imports():
    sources = cc.collect_sources(["ArchiveAnchor.sol"])
    assert "@openzeppelin/contracts/utils/introspection/IERC165.sol" in sources  # via ../ and ./ imports
    with pytest.raises(cc.CompileError):
        cc.collect_sources(["../pyproject.toml"])


def test_npm_shim_speaks_solc_cli():
    if not (cc.NODE_MODULES / "solc").is_dir():
        pytest.skip("npm solc not installed")
    version = subprocess.run([str(cc.SHIM), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("solc, the solidity compiler commandline interface\nVersion: ")
    assert f"{cc.pinned_solc_version()}+commit." in version
    bad = subprocess.run([str(cc.SHIM), "--bogus"], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("unrecognised option '--bogus'")
    # The import callback resolves OpenZeppelin from contracts/node_modules when not given by content.
    src = (
        'pragma solidity ^0.8.20;\nimport {Context} from "@openzeppelin/contracts/utils/Context.sol";\ncontract X {}\n'
    )
    request = {
        "language": "Solidity",
        "sources": {"X.sol": {"content": src}},
        "settings": {"outputSelection": {"X.sol": {"X": ["abi"]}}},
    }
    res = subprocess.run(
        [str(cc.SHIM), "--standard-json", "--allow-paths", str(cc.CONTRACTS_DIR)],
        input=json.dumps(request), capture_output=True, text=True, check=True,
    )  # fmt: skip
    output = json.loads(res.stdout)
    assert not [e for e in output.get("errors", []) if e["severity"] == "error"], output
    assert output["contracts"]["X.sol"]["X"]["abi"] == []
