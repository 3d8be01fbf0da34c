"""Virus scan through ClamAV: a clamd socket when one is configured, else `clamscan`.

`clamscan` is run with `-d` on the project's test signature database (node/filing/checks/data: EICAR by MD5
and by body pattern, so the tests work offline without freshclam) plus the system database directory
when it holds signatures (freshclam's main/daily/bytecode). With clamd we stream the bytes with the
INSTREAM command (clamd need not be able to read our files); clamd uses its own databases, so add
node/filing/checks/data to its DatabaseDirectory or copy the two files there to catch the test signature.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

TEST_DB_DIR = Path(__file__).parent / "data"
SYSTEM_DB_DIRS = (Path("/var/lib/clamav"),)
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
_DB_SUFFIXES = (".cvd", ".cld", ".cud", ".hdb", ".hsb", ".ndb", ".ldb", ".mdb", ".msb", ".cdb", ".yara", ".yar")


@dataclass(frozen=True)
class ScanResult:
    status: str  # clean | infected | error | unavailable
    message: str
    signature: str | None = None


class VirusScanner:
    def __init__(
        self,
        clamd_socket: str | None = None,
        db_dirs: Iterable[Path] | None = None,
        include_system_db: bool = True,
        clamscan: str = "clamscan",
        timeout_s: float = 600.0,
    ) -> None:
        self.clamd_socket = clamd_socket or None  # the node: Settings.clamd_socket; the CLI: --clamd-socket
        dirs = list(db_dirs) if db_dirs is not None else [TEST_DB_DIR]
        if include_system_db:
            dirs += [d for d in SYSTEM_DB_DIRS if _has_signatures(d)]
        self.db_dirs = dirs
        self.clamscan = shutil.which(clamscan)
        self.timeout_s = timeout_s

    # -- what we are --------------------------------------------------------------------------
    def available(self) -> bool:
        return bool(self.clamd_socket) or self.clamscan is not None

    def describe(self) -> str:
        if self.clamd_socket:
            return f"clamd at {self.clamd_socket}"
        if self.clamscan is None:
            return "ClamAV not installed (no clamscan on PATH, no clamd socket configured)"
        return f"{_clamscan_version(self.clamscan)}, databases: {', '.join(str(d) for d in self.db_dirs)}"

    # -- scanning ------------------------------------------------------------------------------
    def scan(self, path: str | Path) -> ScanResult:
        return self.scan_many([path])[str(path)]

    def scan_many(self, paths: Iterable[str | Path]) -> dict[str, ScanResult]:
        """One result per path (keyed by str(path)). One clamscan run for all paths."""
        keys = [str(p) for p in paths]
        if not keys:
            return {}
        if self.clamd_socket:
            return {k: self._clamd_instream(Path(k)) for k in keys}
        if self.clamscan is None:
            return {k: ScanResult("unavailable", self.describe()) for k in keys}
        return self._clamscan(keys)

    def _clamscan(self, keys: list[str]) -> dict[str, ScanResult]:
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", errors="surrogateescape", suffix=".lst") as lst:
            lst.write("\n".join(os.path.abspath(k) for k in keys) + "\n")
            lst.flush()
            cmd = [self.clamscan, "--no-summary", "--stdout"]
            for d in self.db_dirs:
                cmd += ["-d", str(d)]
            cmd += ["-f", lst.name]
            try:
                proc = subprocess.run(cmd, capture_output=True, timeout=self.timeout_s, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return {k: ScanResult("error", f"clamscan failed: {exc}") for k in keys}
        by_abs: dict[str, ScanResult] = {}
        for raw in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
            name, sep, verdict = raw.rpartition(": ")
            if not sep:
                continue
            if verdict == "OK":
                by_abs[name] = ScanResult("clean", "no virus found (clamscan)")
            elif verdict.endswith(" FOUND"):
                sig = verdict.removesuffix(" FOUND")
                by_abs[name] = ScanResult("infected", f"virus found: {sig}", sig)
            elif verdict.endswith("ERROR") or "Empty file" in verdict:
                if "Empty file" in verdict:
                    by_abs[name] = ScanResult("clean", "empty file (nothing to scan)")
                else:
                    by_abs[name] = ScanResult("error", f"clamscan: {verdict}")
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        out: dict[str, ScanResult] = {}
        for k in keys:
            res = by_abs.get(os.path.abspath(k))
            if res is None:
                detail = err[-1] if err else f"exit status {proc.returncode}"
                res = ScanResult("error", f"clamscan gave no verdict for the file ({detail})")
            out[k] = res
        return out

    def _clamd_instream(self, path: Path) -> ScanResult:
        try:
            with _connect(self.clamd_socket or "", self.timeout_s) as sock, path.open("rb") as f:
                sock.sendall(b"zINSTREAM\0")
                while chunk := f.read(1 << 16):
                    sock.sendall(struct.pack(">I", len(chunk)) + chunk)
                sock.sendall(struct.pack(">I", 0))
                reply = b""
                while not reply.endswith(b"\0"):
                    part = sock.recv(4096)
                    if not part:
                        break
                    reply += part
        except OSError as exc:
            return ScanResult("error", f"clamd at {self.clamd_socket} unreachable: {exc}")
        text = reply.rstrip(b"\0").decode("utf-8", "replace").strip()
        verdict = text.split(": ", 1)[-1]
        if verdict == "OK":
            return ScanResult("clean", "no virus found (clamd)")
        if verdict.endswith(" FOUND"):
            sig = verdict.removesuffix(" FOUND")
            return ScanResult("infected", f"virus found: {sig}", sig)
        return ScanResult("error", f"clamd: {text or 'no reply'}")


def _connect(address: str, timeout: float) -> socket.socket:
    if address.startswith("tcp://"):
        host, _, port = address.removeprefix("tcp://").rpartition(":")
        return socket.create_connection((host, int(port)), timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(address.removeprefix("unix://"))
    return sock


def _has_signatures(d: Path) -> bool:
    try:
        return any(p.suffix in _DB_SUFFIXES for p in d.iterdir())
    except OSError:
        return False


@cache
def _clamscan_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False)
        return out.stdout.strip() or "clamscan"
    except (OSError, subprocess.TimeoutExpired):
        return "clamscan"
