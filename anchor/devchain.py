"""The persistent development chain: a detached ganache whose database lives under the data dir.

`start` is idempotent (a ganache already answering with the profile's chain id is reused), writes
``<data_dir>/ganache.pid`` and ``<data_dir>/ganache.log``, and waits until the chain answers.
The chain (accounts, balances, contracts, their storage) survives `stop` + `start`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from anchor.errors import ChainError, ChainUnavailable, ProfileError
from anchor.profiles import ChainProfile, load_profile

REPO_ROOT = Path(__file__).resolve().parents[1]
GANACHE_BIN = REPO_ROOT / "ganache" / "node_modules" / ".bin" / "ganache"
PID_FILE = "ganache.pid"
LOG_FILE = "ganache.log"
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class DevChainStatus:
    running: bool  # the chain answers at url with the expected chain id
    url: str
    pid: int | None  # our ganache's pid (from the pid file) if that process is alive
    chain_id: int | None
    block_number: int | None
    db_path: Path
    log_path: Path

    def describe(self) -> str:
        if self.running:
            who = f"pid {self.pid}" if self.pid else "not started by this data dir"
            return f"dev chain running at {self.url} ({who}), chain id {self.chain_id}, block {self.block_number}"
        if self.pid:
            return f"dev chain process {self.pid} is alive but does not answer at {self.url}; see {self.log_path}"
        return f"dev chain not running (start it with `archive-ledger dev-chain start`); db {self.db_path}"


def ganache_binary() -> Path:
    if not GANACHE_BIN.exists():
        raise ChainError(f"ganache is not installed at {GANACHE_BIN}; run `make setup` (npm ci in ganache/)")
    return GANACHE_BIN


def ganache_command(
    *,
    chain_id: int,
    db_path: str | Path,
    host: str = "127.0.0.1",
    port: int = 8545,
    extra_args: tuple[str, ...] = (),
) -> list[str]:
    """The ganache command line of a persistent, deterministic, instamining chain."""
    return [
        str(ganache_binary()),
        "--chain.chainId", str(chain_id),
        "--chain.networkId", str(chain_id),  # default is the start time: keep net_version stable
        "--database.dbPath", str(db_path),
        "--server.host", host,
        "--server.port", str(port),
        "--wallet.deterministic",  # same accounts[0] every time (it funds node keys)
        "--miner.instamine", "eager",  # a transaction is in a block when its hash is returned
        "--logging.quiet",
        *extra_args,
    ]  # fmt: skip


def rpc(url: str, method: str, params: list | None = None, timeout: float = 2.0) -> object:
    """One JSON-RPC request with urllib; ChainUnavailable if nothing answers."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            answer = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise ChainUnavailable(f"no JSON-RPC answer from {url}: {e}") from e
    if "error" in answer:
        raise ChainError(f"{url} answered {method} with an error: {answer['error']}")
    return answer.get("result")


def chain_id_at(url: str, timeout: float = 2.0) -> int | None:
    """The chain id served at url, or None if nothing answers."""
    try:
        return int(str(rpc(url, "eth_chainId", timeout=timeout)), 16)
    except (ChainUnavailable, ChainError, ValueError):
        return None


def wait_until_answers(
    url: str,
    chain_id: int,
    timeout: float,
    proc: subprocess.Popen | None = None,
    log_path: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if chain_id_at(url, timeout=1.0) == chain_id:
            return
        if proc is not None and proc.poll() is not None:
            raise ChainError(f"ganache exited with code {proc.returncode} while starting; {_log_tail(log_path)}")
        time.sleep(0.1)
    raise ChainError(f"ganache did not answer at {url} within {timeout:g} s; {_log_tail(log_path)}")


def _log_tail(log_path: Path | None, lines: int = 15) -> str:
    if log_path is None:
        return "no log"
    try:
        tail = log_path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"no log at {log_path}"
    return f"last lines of {log_path}:\n" + "\n".join(tail) if tail else f"{log_path} is empty"


def _profile(profile: ChainProfile | str | None) -> ChainProfile:
    p = load_profile(profile or "dev") if not isinstance(profile, ChainProfile) else profile
    if p.ganache is None:
        raise ProfileError(f"chain profile '{p.name}' has no [ganache] section: it is not a dev chain profile")
    return p


def _url(p: ChainProfile) -> str:
    assert p.ganache is not None
    return f"http://{p.ganache.host}:{p.ganache.port}"


def _read_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _is_our_ganache(pid: int, db_path: Path) -> bool:
    """Alive, and really the ganache of this data dir (a pid may be reused by another process)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True  # no /proc (macOS): trust the pid file
    args = [a.decode(errors="replace") for a in cmdline]
    return any("ganache" in a for a in args) and str(db_path) in args


def start(data_dir: str | Path, profile: ChainProfile | str | None = None, *, timeout: float = START_TIMEOUT_S) -> str:
    """Start the dev chain of ``data_dir`` (if needed) and return its JSON-RPC URL."""
    p = _profile(profile)
    assert p.ganache is not None
    data_dir = Path(data_dir).resolve()
    url = _url(p)
    db_path = p.ganache.db_dir(data_dir).resolve()
    log_path = data_dir / LOG_FILE
    found = chain_id_at(url)
    if found == p.chain_id:
        return url
    if found is not None:
        raise ChainError(
            f"{url} already serves chain id {found}, not {p.chain_id}: another chain uses port "
            f"{p.ganache.port}; stop it or change [ganache] port in {p.source or 'the profile'}"
        )
    pid = _read_pid(data_dir)
    if pid is not None and _is_our_ganache(pid, db_path):
        # started earlier and still booting, or hung: give it the start timeout, then report
        wait_until_answers(url, p.chain_id, timeout, log_path=log_path)
        return url
    (data_dir / PID_FILE).unlink(missing_ok=True)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # the node's data dir: owner only
    db_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    cmd = ganache_command(
        chain_id=p.chain_id, db_path=db_path, host=p.ganache.host, port=p.ganache.port,
        extra_args=p.ganache.extra_args,
    )  # fmt: skip
    with open_log(log_path) as log:
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # detached: survives the CLI that started it
            close_fds=True,
            cwd=str(data_dir),
        )
    (data_dir / PID_FILE).write_text(f"{proc.pid}\n")
    try:
        wait_until_answers(url, p.chain_id, timeout, proc=proc, log_path=log_path)
    except ChainError:
        _terminate(proc.pid)
        (data_dir / PID_FILE).unlink(missing_ok=True)
        raise
    return url


def open_log(log_path: Path) -> BinaryIO:
    """The chain's log (it shows accounts and transactions) for appending: owner only (0600), also
    when an older one was readable by others."""
    log = os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    os.chmod(log_path, 0o600)
    return log


def _terminate(pid: int, timeout: float = 15.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while _alive(pid) and time.monotonic() < deadline + 5:
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    # reap it if it is our child (tests start and stop in one process)
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie that is not our child is as good as dead
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def stop(data_dir: str | Path, profile: ChainProfile | str | None = None) -> bool:
    """Stop the dev chain started for ``data_dir``. Returns False if it was not running."""
    p = _profile(profile)
    assert p.ganache is not None
    data_dir = Path(data_dir).resolve()
    db_path = p.ganache.db_dir(data_dir).resolve()
    pid = _read_pid(data_dir)
    if pid is None:
        return False
    try:
        if not _is_our_ganache(pid, db_path):
            return False
        _terminate(pid)
        return True
    finally:
        (data_dir / PID_FILE).unlink(missing_ok=True)


def status(data_dir: str | Path, profile: ChainProfile | str | None = None) -> DevChainStatus:
    p = _profile(profile)
    assert p.ganache is not None
    data_dir = Path(data_dir).resolve()
    db_path = p.ganache.db_dir(data_dir).resolve()
    url = _url(p)
    pid = _read_pid(data_dir)
    if pid is not None and not _is_our_ganache(pid, db_path):
        pid = None
    cid = chain_id_at(url)
    block = None
    if cid is not None:
        with contextlib.suppress(ChainUnavailable, ChainError, ValueError):
            block = int(str(rpc(url, "eth_blockNumber")), 16)
    return DevChainStatus(
        running=cid == p.chain_id,
        url=url,
        pid=pid,
        chain_id=cid,
        block_number=block,
        db_path=db_path,
        log_path=data_dir / LOG_FILE,
    )


__all__ = [
    "GANACHE_BIN",
    "DevChainStatus",
    "chain_id_at",
    "ganache_binary",
    "ganache_command",
    "rpc",
    "start",
    "status",
    "stop",
    "wait_until_answers",
]
