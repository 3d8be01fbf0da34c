"""The import rules of docs/design.md ("Architecture rules"), checked by import-linter on every run of
the suite: the contracts live in pyproject.toml ``[tool.importlinter]``; `lint-imports` reads them."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.helpers.paths import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACT_IDS = {"layers", "cli-on-top", "verifier-standalone", "anchor-below-node", "slice-routes", "slice-commands",
                "slice-pages"}


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    assert LINT_IMPORTS.exists(), f"{LINT_IMPORTS} missing: import-linter is a dev dependency (make setup)"
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd)},
    )  # fmt: skip


def test_the_tree_keeps_every_import_contract() -> None:
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    kept = re.search(r"Contracts: (\d+) kept, (\d+) broken", result.stdout)
    assert kept is not None, result.stdout
    assert (int(kept[1]), int(kept[2])) == (len(CONTRACT_IDS), 0), result.stdout


def test_the_contracts_are_the_documented_ones() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {c["id"]: c for c in config["contracts"]}
    assert set(contracts) == CONTRACT_IDS
    assert contracts["layers"]["layers"] == ["node", "anchor", "verifier"]
    assert {"anchor", "node", "cli", "contracts"} <= set(contracts["verifier-standalone"]["forbidden_modules"])
    assert contracts["anchor-below-node"]["forbidden_modules"] == ["node"]
    assert contracts["cli-on-top"]["forbidden_modules"] == ["cli"]
    # every slice's routes and commands are in the independence contracts (a new slice must be added there)
    slices = sorted(p.parent.name for p in (REPO_ROOT / "node").glob("*/routes.py"))
    assert len(slices) >= 9
    for slice_ in slices:
        assert f"node.{slice_}.routes" in contracts["slice-routes"]["modules"], slice_
        assert f"node.{slice_}.commands" in contracts["slice-commands"]["modules"], slice_
    pages = sorted(p.parent.name for p in (REPO_ROOT / "node").glob("*/pages.py"))  # the web UI (issue 11)
    assert pages and all(f"node.{s}.pages" in contracts["slice-pages"]["modules"] for s in pages), pages


def _slice_modules(config: dict) -> list[str]:
    return [m for c in config["contracts"] if c["type"] == "independence" for m in c["modules"]]


def _project(tmp_path: Path, modules: dict[str, str]) -> Path:
    """A throwaway tree with this repository's import contracts and the given modules."""
    (tmp_path / "pyproject.toml").write_text(
        "[tool.importlinter]\n" + (REPO_ROOT / "pyproject.toml").read_text().split("[tool.importlinter]\n", 1)[1]
    )
    for package in ("node", "anchor", "verifier", "contracts"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    for module in _slice_modules(config):  # the slices' routes and commands, empty
        *packages, name = module.split(".")
        folder = tmp_path.joinpath(*packages)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").touch()
        (folder / f"{name}.py").write_text("")
    (tmp_path / "cli.py").write_text("import node\n")
    for name, source in modules.items():
        (tmp_path / name).write_text(source)
    return tmp_path


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("anchor/leak.py", "from node import settings\n", "anchor never imports node"),
        ("anchor/up.py", "import node\n", "Imports point one way"),
        ("verifier/ours.py", "import contracts\n", "The verifier imports nothing of ours"),
        ("verifier/heavy.py", "import web3\n", "The verifier imports nothing of ours"),
        ("node/down.py", "import cli\n", "Nothing imports the CLI"),
        ("node/arrangement/routes.py", "from node.ingest import routes\n", "Slices do not import each other's routes"),
        ("node/users/commands.py", "import node.audit.commands\n", "Slices do not import each other's commands"),
    ],
)
def test_a_broken_contract_fails(tmp_path: Path, module: str, source: str, broken: str) -> None:
    result = lint_imports(_project(tmp_path, {module: source}))
    assert result.returncode != 0, result.stdout
    assert re.search(re.escape(broken) + r".*BROKEN", result.stdout), result.stdout


def test_a_clean_throwaway_tree_passes(tmp_path: Path) -> None:
    """The throwaway tree itself breaks nothing: the failures above come from the one bad import."""
    result = lint_imports(_project(tmp_path, {"node/ok.py": "import anchor\n", "anchor/ok.py": "import verifier\n"}))
    assert result.returncode == 0, result.stdout + result.stderr
