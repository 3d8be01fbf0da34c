"""Run every benchmark with small defaults and print a summary of the target lines (`make bench`).

    .venv/bin/python bench/run_all.py           # small sizes, a few minutes
    .venv/bin/python bench/run_all.py --quick   # smaller still (about a minute)
    .venv/bin/python bench/run_all.py --full    # the sizes of bench/RESULTS.md (1 GiB, 10^6 leaves, ...)

Each benchmark runs as its own process (so one's memory or threads do not disturb the next) and
prints its own table; the summary repeats each "target" line. Exit status 0 unless a script crashed:
a missed target is a figure, not an error.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

PLANS = {
    "quick": {
        "log": ["--max-leaves", "10000", "--sizes", "10000", "--proofs", "200", "--single", "500"],
        "anchoring": ["--batches", "1,1000", "--base", "1000"],
        "verify": ["--runs", "50"],
        "ingest": ["--total-mb", "64", "--small-count", "100"],
    },
    "default": {
        "log": ["--max-leaves", "100000", "--sizes", "10000,100000", "--proofs", "500"],
        "anchoring": ["--batches", "1,1000,10000"],
        "verify": ["--runs", "200"],
        "ingest": ["--total-mb", "256", "--small-count", "500"],
    },
    "full": {"log": [], "anchoring": [], "verify": [], "ingest": []},
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="minute-scale sizes")
    size.add_argument("--full", action="store_true", help="full sizes (tens of minutes)")
    ap.add_argument("--only", default="log,anchoring,verify,ingest", help="comma-separated subset")
    args = ap.parse_args(argv)
    plan = PLANS["quick" if args.quick else "full" if args.full else "default"]

    summary: list[str] = []
    crashed = []
    for name in args.only.split(","):
        cmd = [sys.executable, str(HERE / f"{name}.py"), *plan[name]]
        print(f"\n$ {' '.join([Path(sys.executable).name, f'bench/{name}.py', *plan[name]])}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            sys.stdout.write(proc.stderr)
            crashed.append(name)
            summary.append(f"{name}: CRASHED (exit {proc.returncode})")
            continue
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(("target", "overall"))]
        summary += [f"{name}: {ln}" for ln in lines]
        summary.append(f"{name}: ran in {time.perf_counter() - start:.0f} s")

    print("\n## Summary")
    for line in summary:
        print(line)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
