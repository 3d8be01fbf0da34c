"""Solidity sources of archive-ledger and their committed, compiled artifacts.

`load_artifact("ArchiveAnchor")` returns the JSON written by `python -m contracts.compile`:
``{contractName, abi, bytecode, deployedBytecode, compiler, sourceHash, sources}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BUILD_DIR = Path(__file__).resolve().parent / "build"


class ArtifactError(Exception):
    """A compiled artifact is missing or unreadable (run `python -m contracts.compile`)."""


def load_artifact(name: str) -> dict[str, Any]:
    """Read ``contracts/build/<name>.json``; raise `ArtifactError` if absent or malformed."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ArtifactError(f"invalid contract name {name!r}")
    path = BUILD_DIR / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(f"no artifact for {name!r} at {path}; run `python -m contracts.compile`") from exc
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"unreadable artifact {path}: {exc}") from exc
    if not isinstance(data, dict) or "abi" not in data or "bytecode" not in data:
        raise ArtifactError(f"artifact {path} lacks abi/bytecode")
    return data


__all__ = ["BUILD_DIR", "ArtifactError", "load_artifact"]
