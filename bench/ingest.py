"""Ingest throughput: `archive-ledger ingest` (CLI -> HTTP -> node) vs hashlib.sha256 over the same bytes.

    .venv/bin/python bench/ingest.py                                   # 1 GiB in 8 MiB files + small files
    .venv/bin/python bench/ingest.py --total-mb 256 --variants large   # quicker
    .venv/bin/python bench/ingest.py --file-mb 64 --small-kb 16 --small-count 2000

Set-up (real, loopback only): a fresh ganache, `archive-ledger init` into a temporary data dir,
`archive-ledger serve` as a subprocess (scheduled anchoring off, so that it cannot run during a
timing). Per variant, files of random bytes are written to a temporary directory and then:

  hashlib        read every file (1 MiB reads, page cache) and hashlib.sha256 it: the limit;
  ingest         wall time of the CLI subprocess `archive-ledger ingest DIR ... -q` (includes the
                 interpreter start, measured separately as `archive-ledger --help`);
and, to show where the time goes, the same files uploaded by httpx from this process to a trivial
uvicorn endpoint that only drains the body (same server stack, no multipart parse, hash, write, fsync
or database): as a raw body, and as the same multipart form the CLI sends.

Target: ingest MB/s >= 0.8 x hashlib MB/s in the same run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from common import CLI, Timer, dev_node, ganache, machine, stop, table, verdict, workdir

TARGET = 0.8
MB = 1_000_000

DRAIN_APP = textwrap.dedent(
    """
    import hashlib, sys
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def drain(request):
        n = 0
        async for chunk in request.stream():
            n += len(chunk)
        return JSONResponse({"n": n})

    app = Starlette(routes=[Route("/drain", drain, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    """
)


def make_files(directory: Path, count: int, size: int) -> None:
    directory.mkdir(parents=True)
    width = len(str(count))
    for i in range(count):
        (directory / f"f{i:0{width}d}.bin").write_bytes(os.urandom(size))


def hashlib_pass(files: list[Path]) -> float:
    with Timer() as t:
        for f in files:
            h = hashlib.sha256()
            with f.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
            h.hexdigest()
    return t.seconds


def cli_ingest(node, src: Path, journal: Path) -> float:  # type: ignore[no-untyped-def]
    cmd = [
        *CLI, "ingest", str(src), "--node", node.url, "--api-key-file", str(node.api_key_file),
        "--fonds", "Z001", "--category", "WS", "--year", "2026", "--retention", "permanent",
        "--journal", str(journal), "-q",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_LEDGER_")}
    with Timer() as t:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    if "failed 0" not in out.stdout:
        raise RuntimeError(f"ingest reported failures: {out.stdout} {out.stderr}")
    return t.seconds


def drain_uploads(url: str, files: list[Path], multipart: bool) -> float:
    meta = json.dumps({"fonds": "Z001", "title": "x", "category": "WS", "year": 2026, "retention": "permanent"})
    with httpx.Client(timeout=300) as client, Timer() as t:
        for f in files:
            with f.open("rb") as fh:
                if multipart:
                    files_ = {"metadata": (None, meta.encode(), "application/json"), "file": (f.name, fh)}
                    r = client.post(f"{url}/drain", files=files_)
                else:
                    r = client.post(f"{url}/drain", content=fh, headers={"Content-Length": str(f.stat().st_size)})
            r.raise_for_status()
    return t.seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--total-mb", type=int, default=1024, help="MiB in the large-file variant (default 1024)")
    ap.add_argument("--file-mb", type=int, default=8, help="MiB per file in the large-file variant")
    ap.add_argument("--small-kb", type=int, default=64, help="KiB per file in the small-file variant")
    ap.add_argument("--small-count", type=int, default=1000, help="files in the small-file variant")
    ap.add_argument("--variants", default="large,small", help="large, small or both")
    args = ap.parse_args(argv)

    variants = []
    for v in args.variants.split(","):
        if v == "large":
            count = max(1, args.total_mb // args.file_mb)
            variants.append((f"{count} x {args.file_mb} MiB", count, args.file_mb << 20))
        elif v == "small":
            variants.append((f"{args.small_count} x {args.small_kb} KiB", args.small_count, args.small_kb << 10))
        else:
            ap.error(f"unknown variant {v!r}")

    print(f"# ingest benchmark ({machine()})")
    results = []
    with workdir("ingest") as tmp, ganache(tmp / "ganache") as rpc_url, dev_node(tmp, rpc_url) as node:
        from tests.helpers.ganache_fixture import free_port

        drain_port = free_port()
        drain_script = tmp / "drain_app.py"
        drain_script.write_text(DRAIN_APP)
        drain = subprocess.Popen(
            [sys.executable, str(drain_script), str(drain_port)], stdin=subprocess.DEVNULL, start_new_session=True
        )
        drain_url = f"http://127.0.0.1:{drain_port}"
        try:
            _wait_drain(drain_url, drain)
            with Timer() as t_start:
                subprocess.run([*CLI, "--help"], check=True, capture_output=True)
            startup = t_start.seconds
            for i, (label, count, size) in enumerate(variants):
                src = tmp / f"src{i}"
                make_files(src, count, size)
                files = sorted(src.iterdir())
                total = count * size
                t_hash = hashlib_pass(files)
                t_raw = drain_uploads(drain_url, files, multipart=False)
                t_form = drain_uploads(drain_url, files, multipart=True)
                t_ingest = cli_ingest(node, src, tmp / f"journal{i}.jsonl")
                results.append((label, total, t_hash, t_raw, t_form, t_ingest))
                print(f"  {label}: hashlib {total / MB / t_hash:,.0f} MB/s, ingest {total / MB / t_ingest:,.0f} MB/s",
                      flush=True)  # fmt: skip
                for f in files:
                    f.unlink()
        finally:
            stop(drain)

    print()
    count_of = {label: count for label, count, _size in variants}
    rows = []
    for label, total, t_hash, t_raw, t_form, t_ingest in results:

        def rate(seconds: float, total: int = total) -> str:
            return f"{total / MB / seconds:,.0f}"

        rows.append(
            (label, f"{total / MB:,.0f}", rate(t_hash), rate(t_raw), rate(t_form), rate(t_ingest),
             rate(max(t_ingest - startup, 1e-9)), f"{count_of[label] / t_ingest:,.0f}", f"{t_hash / t_ingest:.2f}")
        )  # fmt: skip
    print(
        table(
            ["files", "MB", "hashlib MB/s", "raw HTTP drain MB/s", "multipart drain MB/s", "ingest MB/s",
             "ingest MB/s w/o CLI start", "ingest files/s", "ingest / hashlib"],
            rows,
        )
    )  # fmt: skip
    print()
    print(f"MB = 10^6 bytes; CLI interpreter start ({' '.join(Path(c).name for c in CLI)} --help): {startup:.2f} s")
    ok_all = True
    for label, _total, t_hash, _r, _f, t_ingest in results:
        ratio = t_hash / t_ingest
        ok_all &= ratio >= TARGET
        print(f"target ({label}): ingest / hashlib = {ratio:.2f} (>= {TARGET}) -> {verdict(ratio >= TARGET)}")
    return 0


def _wait_drain(url: str, proc: subprocess.Popen) -> None:
    import time

    for _ in range(150):
        if proc.poll() is not None:
            raise RuntimeError("drain server exited")
        try:
            httpx.post(f"{url}/drain", content=b"x", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("drain server did not start")


if __name__ == "__main__":
    sys.exit(main())
