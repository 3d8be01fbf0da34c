"""Compile the Solidity contracts into committed JSON artifacts in ``contracts/build/``.

    python -m contracts.compile            # (re)write the artifacts
    python -m contracts.compile --check    # exit 1 if a committed artifact is stale

The compiler is solc at the version pinned in ``contracts/package.json``, driven through py-solc-x's
``compile_standard``. A native ``solc`` on PATH is used if it is exactly that version; otherwise the
npm ``solc`` (solcjs) in ``contracts/node_modules`` through the ``solc-npm.js`` shim, which speaks the
subset of the native CLI that py-solc-x uses. Never downloads a compiler.

Every source (ours and the imported OpenZeppelin files) is passed to the compiler by content under its
canonical import name, so native solc and solcjs see the identical input and produce identical output,
and the artifact's ``sourceHash`` covers every imported file: an OpenZeppelin change is detected.

To add a contract, append a `ContractSpec` to `CONTRACTS`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import posixpath
import re
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parent
NODE_MODULES = CONTRACTS_DIR / "node_modules"
BUILD_DIR = CONTRACTS_DIR / "build"
SHIM = CONTRACTS_DIR / "solc-npm.js"

EVM_VERSION = "shanghai"  # ganache 7.9 supports up to shanghai; py-evm runs it too
OPTIMIZER = {"enabled": True, "runs": 200}


@dataclass(frozen=True)
class ContractSpec:
    name: str  # contract name, also the artifact file name
    source: str  # source unit name (path relative to contracts/)


CONTRACTS: list[ContractSpec] = [
    ContractSpec("ArchiveAnchor", "ArchiveAnchor.sol"),
    ContractSpec("ArchiveRoles", "ArchiveRoles.sol"),
    ContractSpec("ReadPermits", "ReadPermits.sol"),
]


class CompileError(Exception):
    """The contracts could not be compiled (no suitable compiler, or a compiler error)."""


# ---------------------------------------------------------------- sources and imports

_TOKEN = re.compile(r'("(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\')|(//[^\n]*|/\*.*?\*/)', re.S)
_IMPORT = re.compile(r'\bimport\s+(?:[^;"\']*?\bfrom\s+)?["\']([^"\']+)["\'][^;]*;')


def _strip_comments(src: str) -> str:
    return _TOKEN.sub(lambda m: m.group(1) or " ", src)


def _resolve_name(importer: str, path: str) -> str:
    """solc's rule: './' and '../' imports are relative to the importing unit's name."""
    if path.startswith(("./", "../")):
        return posixpath.normpath(posixpath.join(posixpath.dirname(importer), path))
    return path


def _source_file(name: str) -> Path:
    root = NODE_MODULES if name.startswith("@") else CONTRACTS_DIR
    full = (root / name).resolve()
    if root.resolve() not in full.parents:
        raise CompileError(f"import {name!r} escapes {root}")
    if not full.is_file():
        hint = " (run `cd contracts && npm ci`)" if name.startswith("@") else ""
        raise CompileError(f"source {name!r} not found at {full}{hint}")
    return full


def collect_sources(roots: Iterable[str]) -> dict[str, str]:
    """The import closure of `roots`: {source unit name: content}."""
    sources: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in sources:
            continue
        content = _source_file(name).read_text(encoding="utf-8")
        sources[name] = content
        for imp in _IMPORT.findall(_strip_comments(content)):
            todo.append(_resolve_name(name, imp))
    return dict(sorted(sources.items()))


def source_hash(sources: dict[str, str]) -> str:
    """SHA-256 over every (name, content) pair in name order, NUL-separated."""
    h = hashlib.sha256()
    for name in sorted(sources):
        h.update(name.encode("utf-8") + b"\0" + sources[name].encode("utf-8") + b"\0")
    return h.hexdigest()


# ---------------------------------------------------------------- compiler selection


def pinned_solc_version() -> str:
    pkg = json.loads((CONTRACTS_DIR / "package.json").read_text(encoding="utf-8"))
    return pkg["dependencies"]["solc"]


def find_solc() -> tuple[Path, str]:
    """(binary, version with commit) of a compiler at the pinned version: native solc, else the shim."""
    from solcx.exceptions import SolcError
    from solcx.wrapper import get_solc_version

    pinned = pinned_solc_version()
    native = shutil.which("solc")
    if native:
        try:
            version = get_solc_version(native, with_commit_hash=True)
        except (OSError, SolcError, ValueError):
            version = None
        if version is not None and version.base_version == pinned:
            return Path(native), str(version)
    if shutil.which("node") is None:
        raise CompileError(f"no native solc {pinned} on PATH and no `node` to run {SHIM.name}")
    if not (NODE_MODULES / "solc" / "package.json").is_file():
        raise CompileError("npm solc is not installed: run `cd contracts && npm ci`")
    version = get_solc_version(SHIM, with_commit_hash=True)
    if version.base_version != pinned:
        raise CompileError(f"npm solc is {version}, pinned {pinned}: run `cd contracts && npm ci`")
    return SHIM, str(version)


# ---------------------------------------------------------------- compile


def standard_input(sources: dict[str, str], specs: Sequence[ContractSpec]) -> dict[str, Any]:
    return {
        "language": "Solidity",
        "sources": {name: {"content": content} for name, content in sources.items()},
        "settings": {
            "optimizer": dict(OPTIMIZER),
            "evmVersion": EVM_VERSION,
            # No metadata hash: the bytecode then depends only on the code, not on comments or paths.
            "metadata": {"bytecodeHash": "none"},
            "outputSelection": {
                spec.source: {spec.name: ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
                for spec in specs
            },
        },
    }


def build_artifacts(specs: Sequence[ContractSpec] = tuple(CONTRACTS)) -> dict[str, dict[str, Any]]:
    """Compile `specs` in one compiler run; return {contract name: artifact dict}."""
    import solcx
    from solcx.exceptions import SolcError

    binary, version = find_solc()
    closures = {spec.name: collect_sources([spec.source]) for spec in specs}
    all_sources: dict[str, str] = {}
    for closure in closures.values():
        all_sources.update(closure)
    try:
        output = solcx.compile_standard(
            standard_input(dict(sorted(all_sources.items())), specs),
            solc_binary=binary,
            allow_paths=str(CONTRACTS_DIR),
        )
    except SolcError as exc:
        raise CompileError(str(exc)) from exc
    for err in output.get("errors", []):
        print(err.get("formattedMessage", err.get("message", "")), file=sys.stderr)

    artifacts = {}
    for spec in specs:
        out = output["contracts"][spec.source][spec.name]
        artifacts[spec.name] = {
            "contractName": spec.name,
            "abi": out["abi"],
            "bytecode": "0x" + out["evm"]["bytecode"]["object"],
            "deployedBytecode": "0x" + out["evm"]["deployedBytecode"]["object"],
            "compiler": {"version": version, "evmVersion": EVM_VERSION, "optimizer": dict(OPTIMIZER)},
            "sourceHash": source_hash(closures[spec.name]),
            "sources": sorted(closures[spec.name]),
        }
    return artifacts


def render(artifact: dict[str, Any]) -> str:
    """Deterministic JSON text of an artifact."""
    return json.dumps(artifact, sort_keys=True, indent=2) + "\n"


def write_artifacts(artifacts: dict[str, dict[str, Any]], out_dir: Path = BUILD_DIR) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, artifact in artifacts.items():
        path = out_dir / f"{name}.json"
        path.write_text(render(artifact), encoding="utf-8")
        paths.append(path)
    return paths


def stale_artifacts(artifacts: dict[str, dict[str, Any]], out_dir: Path = BUILD_DIR) -> list[str]:
    """Names whose artifact in `out_dir` is missing or differs from `artifacts`."""
    stale = []
    for name, artifact in artifacts.items():
        path = out_dir / f"{name}.json"
        if not path.is_file() or path.read_text(encoding="utf-8") != render(artifact):
            stale.append(name)
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.compile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if committed artifacts are stale")
    parser.add_argument("--out-dir", type=Path, default=BUILD_DIR, help="artifact directory")
    args = parser.parse_args(argv)
    try:
        artifacts = build_artifacts()
    except CompileError as exc:
        print(f"compile failed: {exc}", file=sys.stderr)
        return 2
    if args.check:
        stale = stale_artifacts(artifacts, args.out_dir)
        if stale:
            print(f"stale artifacts: {', '.join(stale)}; run `python -m contracts.compile`", file=sys.stderr)
            return 1
        print(f"artifacts up to date: {', '.join(artifacts)}")
        return 0
    for path in write_artifacts(artifacts, args.out_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
