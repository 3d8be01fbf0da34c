"""The wheel carries everything a node reads at run time, and an installed node works away from the
repository: chain profiles, compiled contracts, migrations and the checks' data are package data.

Built with the shared venv's setuptools (`pip wheel --no-deps --no-build-isolation`, no network) from a
copy of the source tree, installed `--no-deps` into a fresh venv; the dependencies come from the
shared venv's site-packages on PYTHONPATH (which holds no project code: the project is installed
there in editable mode, through a finder that PYTHONPATH entries do not run).
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.helpers.paths import REPO_ROOT

pytestmark = pytest.mark.slow


# What the wheel must hold (fnmatch: `*` also crosses `/`, so a package may move inside node/).
REQUIRED_IN_WHEEL = {
    "chain profiles": ["anchor/chain_config/dev.toml", "anchor/chain_config/test.toml",
                       "anchor/chain_config/besu-qbft.toml"],
    "contract artifacts": ["contracts/build/ArchiveAnchor.json", "contracts/build/ArchiveRoles.json",
                           "contracts/build/ReadPermits.json"],
    "migrations": ["node/*migrations/env.py", "node/*migrations/script.py.mako", "node/*migrations/versions/0001_*.py"],
    "checks data": ["node/*checks/data/*.hdb", "node/*checks/schemes/WS.json", "node/*checks/policies/default.json"],
    "CLI module": ["cli.py"],
}  # fmt: skip
NOT_AT_TOP = {".git", ".venv", "build", "data", "tests", "bench", "docs"}
NOT_ANYWHERE = shutil.ignore_patterns("node_modules", "__pycache__", "*.egg-info", ".*_cache")


def _not_copied(directory: str, names: list[str]) -> set[str]:
    top = NOT_AT_TOP if Path(directory) == REPO_ROOT else set()
    return (top & set(names)) | NOT_ANYWHERE(directory, names)


def _without_pythonpath() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src") / "archive-ledger"
    shutil.copytree(REPO_ROOT, src, symlinks=True, ignore=_not_copied)  # a private copy: the build writes build/
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(out)],
        capture_output=True, text=True, timeout=180, env=_without_pythonpath(),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = out.glob("archive_ledger-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed (no deps); returns the venv."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps", "--no-index",
         "-q", str(wheel)],
        capture_output=True, text=True, timeout=180, env=_without_pythonpath(),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return venv


def outside_env(tmp: Path) -> dict[str, str]:
    """No project code on the path: only the shared venv's installed dependencies."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARCHIVE_LEDGER_", "PYTHON"))}
    env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
    env["HOME"] = env["XDG_STATE_HOME"] = str(tmp)
    env["ARCHIVE_LEDGER_CHAIN_KEY_SCRYPT_N"] = "1024"  # cheap officer keystores, as in the other tests
    return env


def test_wheel_holds_the_runtime_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    missing = {
        what: [pattern for pattern in patterns if not fnmatch.filter(names, pattern)]
        for what, patterns in REQUIRED_IN_WHEEL.items()
    }
    assert not any(missing.values()), {k: v for k, v in missing.items() if v}
    assert not [n for n in names if n.startswith(("tests/", "chain-config/"))], "tests or a stray top-level dir shipped"


def test_installed_node_finds_its_profiles_away_from_the_repository(installed: Path, tmp_path: Path) -> None:
    code = (
        "import anchor, anchor.profiles as p, contracts\n"
        "print(anchor.__file__)\n"
        "print(p.CHAIN_CONFIG_DIR)\n"
        "print(','.join(p.available_profiles()))\n"
        "dev = p.load_profile('dev')\n"
        "print(dev.name, dev.chain_id, dev.rpc_url, dev.source)\n"
        "print(len(contracts.load_artifact('ReadPermits')['abi']) > 0)\n"
    )
    result = subprocess.run(
        [str(installed / "bin" / "python"), "-c", code], cwd=tmp_path, env=outside_env(tmp_path),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    module, config_dir, names, dev, artifact = result.stdout.splitlines()
    assert Path(module).is_relative_to(installed) and Path(config_dir).is_relative_to(installed)
    assert not Path(config_dir).is_relative_to(REPO_ROOT)
    assert names.split(",") == ["besu-qbft", "dev", "test"]
    assert dev.startswith("dev 1337 http://127.0.0.1:8545 ") and dev.endswith("dev.toml")
    assert artifact == "True"


def test_installed_cli_initialises_a_node(installed: Path, tmp_path: Path) -> None:
    """`archive-ledger init --profile test` from the wheel: profile, migrations and contracts all found."""
    data = tmp_path / "data"
    result = subprocess.run(
        [str(installed / "bin" / "archive-ledger"), "init", "--data-dir", str(data), "--profile", "test"],
        cwd=tmp_path, env=outside_env(tmp_path), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "contract_address: 0x" in result.stdout
    assert 'chain_profile = "test"' in (data / "config.toml").read_text()
