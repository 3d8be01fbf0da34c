"""Shared helpers of the benchmarks: path set-up, statistics, tables, a real dev node on ganache.

Every benchmark prints its figures as a small Markdown table and a ratio/target line. The machine
is shared and small (2 cores), so figures are noisy: each limit is measured in the same run.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the repository only: tests/ is a package (tests.helpers), never a path root
    sys.path.insert(0, str(ROOT))

warnings.filterwarnings("ignore", category=DeprecationWarning)

VENV_BIN = Path(sys.executable).parent
CLI = [str(VENV_BIN / "python"), str(ROOT / "cli.py")]


def machine() -> str:
    py = platform.python_version()
    return f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {os.cpu_count()} cores, Python {py}"


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], align: str | None = None) -> str:
    """A Markdown table; `align` is one char per column, 'l' or 'r' (default: first l, rest r)."""
    align = align or "l" + "r" * (len(headers) - 1)
    cells = [[str(c) for c in row] for row in rows]
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("| " + " | ".join("---" if a == "l" else "---:" for a in align) + " |")
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


# -- a real node on a real ganache (loopback only) ----------------------------------------------------


@dataclass(frozen=True)
class DevNode:
    url: str  # the node's HTTP API
    rpc_url: str  # ganache
    data_dir: Path
    api_key_file: Path
    log_path: Path


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_LEDGER_")}
    env.update(extra or {})
    return env


@contextlib.contextmanager
def ganache(workdir: Path) -> Iterator[str]:
    """A fresh ganache on a free loopback port (tests/helpers/ganache_fixture.run_ganache)."""
    from tests.helpers.ganache_fixture import run_ganache

    with run_ganache(workdir) as url:
        yield url


@contextlib.contextmanager
def dev_node(workdir: Path, rpc_url: str, *, anchor_enabled: bool = False) -> Iterator[DevNode]:
    """`archive-ledger init` (dev profile, on the given ganache) then `archive-ledger serve` as a
    subprocess on a free loopback port; terminated on exit. Scheduled anchoring is off by default
    (ARCHIVE_LEDGER_ANCHOR_ENABLED=false) so it cannot disturb a timing; POST /anchor still works."""
    data = workdir / "data"
    subprocess.run(
        [*CLI, "init", "--data-dir", str(data), "--profile", "dev", "--rpc-url", rpc_url],
        check=True, env=_env(), stdout=subprocess.DEVNULL,
    )  # fmt: skip
    anchoring = {"ARCHIVE_LEDGER_ANCHOR_ENABLED": "true" if anchor_enabled else "false"}
    with serve(data, workdir / "serve.log", anchoring) as url:
        yield DevNode(url, rpc_url, data, data / "secrets" / "api-key", workdir / "serve.log")


@contextlib.contextmanager
def serve(data: Path, log_path: Path, settings: dict[str, str] | None = None) -> Iterator[str]:
    """`archive-ledger serve` of an initialised data dir as a subprocess on a free loopback port, with
    `settings` as ARCHIVE_LEDGER_* variables; yields its URL once /health answers, terminated on exit."""
    from tests.helpers.ganache_fixture import free_port

    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*CLI, "serve", "--data-dir", str(data), "--host", "127.0.0.1", "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=_env(settings), start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_health(url, proc, log_path)
        yield url
    finally:
        stop(proc)


def _wait_health(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited with {proc.returncode}; see {log_path}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"serve did not answer at {url} within {timeout} s; see {log_path}")


def stop(proc: subprocess.Popen) -> None:
    """Terminate a subprocess we started (its own session), then kill it if it lingers."""
    import signal

    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextlib.contextmanager
def workdir(prefix: str, keep: bool = False) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"archive-ledger-bench-{prefix}-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def update_results_section(section: str, body: str, command: str, *, deterministic: bool = False) -> Path:
    """(Re)write one `## ...` section of bench/RESULTS.md, leaving the others as they are."""
    results = ROOT / "bench" / "RESULTS.md"
    note = " (deterministic: same figures on every run)" if deterministic else ""
    new = f"{section}\n\nProduced by `{command}`{note}.\n\n{body}\n"
    text = results.read_text(encoding="utf-8") if results.exists() else "# Benchmark results\n"
    start = text.find(section)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + new
    else:
        nxt = text.find("\n## ", start + len(section))
        rest = text[nxt + 1 :] if nxt != -1 else ""
        text = text[:start] + new + ("\n" + rest if rest else "")
    tmp = results.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, results)
    return results
