"""Cost of the four-properties checks per item, by check family, on a package of small PDFs.

    .venv/bin/python bench/checks.py [--items 1000] [--pages 2]

Builds a transfer package (directory + manifest.csv) of one-to-N-page PDFs made with pypdf, loads it,
runs `check_package` with per-family timers and prints a Markdown table: items/s for the whole run and
ms per item for authenticity (hash, attributes, metadata, codes, duplicates), integrity (attachments,
count, bytes, numbering), usability (format identification + full parse) and security (one clamscan
run over all files, executable/macro flags). Loading the package (reading the manifest) is shown apart.
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.filing.checks.engine import CheckConfig, check_package, default_process
from node.filing.checks.package import load_package
from node.filing.checks.policy import apply, load_policy
from tests.helpers.checks_builders import pdf_bytes, write_package, ws_metadata


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--pages", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-checks-") as tmp:

        def code(i: int) -> str | None:
            return f"Z001-WS·2024-Y-BGS-{i:04d}" if i < 10000 else None

        items = [
            (f"doc-{i:05d}.pdf", pdf_bytes(1 + i % args.pages, text=f"doc {i}"),
             ws_metadata(i, pages=1 + i % args.pages, archival_code=code(i)))
            for i in range(1, args.items + 1)
        ]  # fmt: skip
        root = write_package(Path(tmp) / "pkg", items)
        total_bytes = sum(len(d) for _, d, _ in items)
        t0 = time.perf_counter()
        hashlib.sha256(b"".join(d for _, d, _ in items)).hexdigest()
        hash_s = time.perf_counter() - t0
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        with load_package(root) as pkg:
            t1 = time.perf_counter()
            config = CheckConfig()
            report = check_package(pkg.items, package=pkg.name, manifest=pkg.facts, package_files=pkg.files,
                                   config=config, process=default_process(), timings=timings)  # fmt: skip
        t2 = time.perf_counter()
        blocked = apply(report, load_policy("Z001"))
    n = args.items
    run_s = t2 - t1
    print(f"# checks bench: {n} PDFs (1-{args.pages} pages, {total_bytes / n / 1024:.1f} KiB avg), "
          f"{platform.machine()}, Python {platform.python_version()}, {config.get_scanner().describe()}")  # fmt: skip
    print()
    print("| family | total s | ms per item | share |")
    print("| --- | ---: | ---: | ---: |")
    accounted = sum(timings.values())
    for fam in ("authenticity", "integrity", "usability", "security"):
        s = timings.get(fam, 0.0)
        print(f"| {fam} | {s:.3f} | {1000 * s / n:.3f} | {100 * s / run_s:.0f}% |")
    print(f"| (engine overhead) | {run_s - accounted:.3f} | {1000 * (run_s - accounted) / n:.3f} | |")
    print(f"| load package (manifest) | {t1 - t0:.3f} | {1000 * (t1 - t0) / n:.3f} | |")
    print()
    print(f"checks: {n / run_s:.1f} items/s ({1000 * run_s / n:.2f} ms per item); "
          f"hashlib alone over the same bytes: {1000 * hash_s / n:.4f} ms per item")  # fmt: skip
    print(f"outcome: {report.outcome}, blocking results: {len(blocked)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
