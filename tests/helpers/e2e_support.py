"""Helpers for the end-to-end tests: the node as a user runs it (the `archive-ledger` console
script in subprocesses), a real HTTP server, file trees with metadata sidecars, chain look-ups.

Everything binds to loopback only. Server output goes to a log file whose tail is printed at
teardown (pytest shows it only when a test failed).
"""

from __future__ import annotations

import csv
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.ganache_fixture import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "archive-ledger"
CHAIN_ID = 1337
FONDS = ("Z001", "Z002")


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI/server subprocess: no ARCHIVE_LEDGER_* leaking in from the caller,
    state (journals) under ``tmp``, the anchoring scheduler effectively off unless asked."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_LEDGER_")}
    env["XDG_STATE_HOME"] = str(tmp / "xdg-state")
    env["ARCHIVE_LEDGER_ANCHOR_INTERVAL_S"] = "3600"
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def run_cli(*args: str | Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `archive-ledger ARGS...`; the result has .returncode, .stdout, .stderr (text)."""
    return subprocess.run(
        [str(CLI), *map(str, args)],
        env=env,
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"


def init_node(data_dir: Path, rpc_url: str, env: dict[str, str]) -> dict[str, str]:
    """`archive-ledger init --profile dev --rpc-url URL`; returns the key: value lines it printed."""
    result = run_cli("init", "--data-dir", data_dir, "--profile", "dev", "--rpc-url", rpc_url, env=env, timeout=120)
    assert result.returncode == 0, describe(result)
    summary: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.strip().partition(": ")
        if sep:
            summary[key] = value
    return summary


def create_people(
    node_url: str, data: Path, env: dict[str, str], tmp: Path, roles: dict[str, str], password: str
) -> None:
    """Accounts made as an archive makes them, on the CLI: the system admin creates them (all with
    `password`), the security admin grants `roles` (username -> role); `users grant NAME approver` also
    grants the role on chain, signed with the security admin's own key. (Lending e2e and bench/approval.py.)"""
    officers = data / "secrets" / "officers"
    tokens = {}
    for officer in ("sysadmin", "secadmin"):
        tokens[officer] = tmp / f"{officer}.token"
        r = run_cli("login", officer, "--node", node_url, "--password-file", officers / f"{officer}.password",
                    "--token-file", tokens[officer], env=env)  # fmt: skip
        assert r.returncode == 0, describe(r)
    people_password = tmp / "people.password"
    people_password.write_text(password + "\n")
    people_password.chmod(0o600)
    for name, role in roles.items():
        r = run_cli("users", "create", name, "--password-file", people_password, "--node", node_url,
                    "--token-file", tokens["sysadmin"], "--no-must-change-password", env=env)  # fmt: skip
        assert r.returncode == 0, describe(r)
        r = run_cli("users", "grant", name, role, "--password-file", officers / "secadmin.password",
                    "--node", node_url, "--token-file", tokens["secadmin"], env=env)  # fmt: skip
        assert r.returncode == 0, describe(r)
        assert ("chain tx" in r.stdout) == (role == "approver"), describe(r)


@dataclass
class NodeServer:
    """`archive-ledger serve` in a subprocess on a free loopback port."""

    data_dir: Path
    env: dict[str, str]
    log_path: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _clients: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def api_key_file(self) -> Path:
        return self.data_dir / "secrets" / "api-key"

    @property
    def api_key(self) -> str:
        return self.api_key_file.read_text(encoding="utf-8").strip()

    def start(self, timeout: float = 60.0, *, wait: bool = True) -> NodeServer:
        """Start (again) on the same data dir; a new port each time, so a lingering socket of a
        killed predecessor never matters. Returns when GET /health answers 200 (at once if not wait)."""
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        for _attempt in range(3):  # the probed port may be taken before the server binds it
            self.port = free_port()
            self.starts += 1
            with open(self.log_path, "ab") as log:
                log.write(f"\n===== start #{self.starts} on port {self.port} =====\n".encode())
                log.flush()
                self.proc = subprocess.Popen(
                    [str(CLI), "serve", "--data-dir", str(self.data_dir), "--port", str(self.port)],
                    env=self.env,
                    cwd=REPO_ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            if not wait or self._wait_healthy(timeout):
                return self
        raise AssertionError(f"node did not start; log tail:\n{self.log_tail()}")

    def _wait_healthy(self, timeout: float) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"node did not answer /health within {timeout}s; log tail:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM killer would: no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Graceful stop (SIGTERM, uvicorn shuts down), SIGKILL if it hangs."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self) -> httpx.Client:
        """An authenticated httpx client on the current URL (one per start; closed by stop())."""
        if self._clients and str(self._clients[-1].base_url).rstrip("/") == self.url:
            return self._clients[-1]
        c = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=120)
        self._clients.append(c)
        return c

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])


# -- file trees ---------------------------------------------------------------------------------

TREE_DIRS = (
    ("文书/2019", "Z001", "WS", 2019, "permanent"),
    ("文书/2020", "Z001", "WS", 2020, "30y"),
    ("会计/凭证", "Z002", "KJ", 2021, "30年"),
    ("photos", "Z002", "ZP", 2018, "永久"),
    ("科技档案/图纸", "Z001", "KJDA", 2022, "10y"),
)


def file_bytes(rel_path: str, i: int) -> bytes:
    """Unique small content per file (so every blob has its own address), some sizes differing."""
    head = f"archive-ledger e2e file {i} at {rel_path}\n".encode()
    return head + hashlib.sha256(head).digest() * (i % 7)


def make_tree(root: Path, count: int, *, start: int = 0) -> dict[str, bytes]:
    """``count`` files spread over TREE_DIRS under ``root`` (some with Chinese names), one
    metadata.csv per directory (path,fonds,title,category,year,retention).

    Returns {source_path: bytes}, source_path as the ingest CLI computes it (relative to root's
    parent, POSIX separators)."""
    rows: dict[Path, list[dict[str, Any]]] = {}
    files: dict[str, bytes] = {}
    for n in range(start, start + count):
        rel_dir, fonds, category, year, retention = TREE_DIRS[n % len(TREE_DIRS)]
        directory = root / rel_dir
        directory.mkdir(parents=True, exist_ok=True)
        name = f"会议纪要-{n:05d}.txt" if n % 3 == 0 else f"doc-{n:05d}.pdf"
        source = (directory / name).relative_to(root.parent).as_posix()
        data = file_bytes(source, n)
        (directory / name).write_bytes(data)
        files[source] = data
        title = f"第{n}号 会议纪要" if n % 3 == 0 else f"Document {n}"
        rows.setdefault(directory, []).append(
            {"path": name, "fonds": fonds, "title": title, "category": category, "year": year,
             "retention": retention}
        )  # fmt: skip
    for directory, entries in rows.items():
        sidecar = directory / "metadata.csv"
        existing: list[dict[str, Any]] = []
        if sidecar.exists():
            with sidecar.open(encoding="utf-8", newline="") as fh:
                existing = list(csv.DictReader(fh))
        with sidecar.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["path", "fonds", "title", "category", "year", "retention"])
            writer.writeheader()
            writer.writerows([*existing, *entries])
    return files


# -- node and chain look-ups --------------------------------------------------------------------


def all_items(client: httpx.Client, page: int = 250) -> list[dict[str, Any]]:
    """Every item, paging through GET /items."""
    items: list[dict[str, Any]] = []
    total = None
    while total is None or len(items) < total:
        answer = client.get("/items", params={"limit": page, "offset": len(items)})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        total = body["total"]
        if not body["items"]:
            break
        items.extend(body["items"])
    assert len(items) == total
    return items


def db_rows(data_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data_dir / "node.db", timeout=30) as db:
        return db.execute(sql, params).fetchall()


def iter_blob_files(data_dir: Path) -> Iterator[Path]:
    """Committed blobs (content-addressed, aa/bb/<sha256>), not blobs/tmp."""
    blobs = data_dir / "blobs"
    for path in blobs.glob("??/??/*"):
        if path.is_file():
            yield path


def contract_address(data_dir: Path) -> str:
    for line in (data_dir / "config.toml").read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "contract_address":
            return value.strip().strip('"')
    raise AssertionError("no contract_address in config.toml")


def checkpoint_count(rpc_url: str, contract: str, log_id: bytes) -> int:
    """ArchiveAnchor.checkpointCount(logId) through plain JSON-RPC."""
    from eth_utils import keccak

    from verifier.chain import JsonRpcChain

    data = keccak(text="checkpointCount(bytes32)")[:4] + log_id
    return int.from_bytes(JsonRpcChain(rpc_url).call(contract, data), "big")


def root_on_chain(rpc_url: str, contract: str, log_id: bytes, tree_size: int) -> bytes:
    from verifier.chain import JsonRpcChain, root_at

    return root_at(JsonRpcChain(rpc_url), contract, log_id, tree_size)
