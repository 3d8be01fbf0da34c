"""Ephemeral real ganache for tests: a free port, a temporary database, a clean kill at teardown.

Use the ready-made module-scoped fixture (one ganache per test module, startup ~2 s):

    from tests.helpers.ganache_fixture import ganache_url  # noqa: F401  (re-export the fixture)

    @pytest.mark.ganache
    def test_something(ganache_url): ...

or build one with another scope / chain id:

    ganache_session = make_ganache_fixture(scope="session", chain_id=4242)

or, outside pytest, ``with run_ganache(tmp_dir) as url: ...``.
The fixtures skip the test if ganache is not installed (`make setup` installs it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from anchor.devchain import GANACHE_BIN, ganache_command, wait_until_answers
from anchor.errors import ChainError

DEFAULT_CHAIN_ID = 1337

# The ganache process serving each URL started here, so a test can kill it mid-run (`kill_ganache`).
_PROCESSES: dict[str, subprocess.Popen] = {}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port_url() -> str:
    """A loopback URL nothing listens on (for 'node is down' tests)."""
    return f"http://127.0.0.1:{free_port()}"


@contextlib.contextmanager
def run_ganache(
    workdir: str | Path | None = None,
    *,
    chain_id: int = DEFAULT_CHAIN_ID,
    extra_args: tuple[str, ...] = (),
    timeout: float = 60.0,
) -> Iterator[str]:
    """Start ganache on a free loopback port with its database in ``workdir`` (a temp dir if None);
    yield its URL; terminate it (then kill) on exit."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="ganache-test-"))
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        last_error: Exception | None = None
        attempts = 3
        for _ in range(attempts):  # the free port may be taken between probing and binding
            port = free_port()
            db = workdir / f"db-{port}"
            log_path = workdir / f"ganache-{port}.log"
            cmd = ganache_command(chain_id=chain_id, db_path=db, port=port, extra_args=extra_args)
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            url = f"http://127.0.0.1:{port}"
            try:
                wait_until_answers(url, chain_id, timeout, proc=proc, log_path=log_path)
            except ChainError as e:
                last_error = e
                _kill(proc)
                continue
            _PROCESSES[url] = proc
            try:
                yield url
            finally:
                _PROCESSES.pop(url, None)
                _kill(proc)
            return
        raise RuntimeError(f"could not start ganache after {attempts} attempts: {last_error}")


def kill_ganache(url: str) -> None:
    """Stop the ganache at ``url`` (started by `run_ganache`) now: the chain goes down mid-test."""
    _kill(_PROCESSES[url])


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: only ganache (node) is in the group
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def make_ganache_fixture(
    scope: str = "module", *, chain_id: int = DEFAULT_CHAIN_ID, extra_args: tuple[str, ...] = ()
) -> Callable[..., Iterator[str]]:
    """A pytest fixture yielding the URL of a fresh ganache, shared within ``scope``."""

    @pytest.fixture(scope=scope)
    def _ganache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
        if not GANACHE_BIN.exists():
            pytest.skip(f"ganache not installed at {GANACHE_BIN} (run `make setup`)")
        with run_ganache(tmp_path_factory.mktemp("ganache"), chain_id=chain_id, extra_args=extra_args) as url:
            yield url

    return _ganache


ganache_url = make_ganache_fixture("module")

__all__ = [
    "DEFAULT_CHAIN_ID",
    "closed_port_url",
    "free_port",
    "ganache_url",
    "kill_ganache",
    "make_ganache_fixture",
    "run_ganache",
]
