"""Filing throughput: one transfer package of N small PDFs filed end to end (node/filing/service.py).

    .venv/bin/python bench/filing.py [--items 10000] [--zip]

Builds a package (directory + manifest.csv, no reference codes: the node assigns them, in four
numbering scopes, one per organisation, as 4-digit item numbers stop at 9999), then files it
with `Filer.file` on a fresh SQLite database and blob directory: load + package digest, reference
codes, the four-properties checks (one clamscan run), blobs (hashed while copied, fsync each),
and the one transaction (items, ledger records with checks_sha256, reports, counters). Prints the
stages, items/s and MB/s, and hashlib's SHA-256 over the same bytes in the same run as the limit.
`--zip` files the package as a ZIP (unpacked by the loader), as POST /packages does.
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anchor.db import make_engine, make_session_factory
from node.core.blobstore import BlobStore
from node.core.db import migrate
from node.filing.service import Filer
from tests.helpers.checks_builders import pdf_bytes, write_package, ws_metadata


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--zip", action="store_true", help="file a ZIP of the package instead of the directory")
    args = ap.parse_args()
    n = args.items
    with tempfile.TemporaryDirectory(prefix="bench-filing-") as tmp:
        items = [
            (f"doc-{i:05d}.pdf", pdf_bytes(1 + i % 2, text=f"doc {i}"),
             ws_metadata(i, pages=1 + i % 2, archival_code=None, item_number=None, organisation=f"BGS{i % 4}"))
            for i in range(1, n + 1)
        ]  # fmt: skip
        root = write_package(Path(tmp) / "pkg", items)
        total = sum(len(d) for _, d, _ in items)
        target: Path = root
        if args.zip:
            target = Path(tmp) / "pkg.zip"
            with zipfile.ZipFile(target, "w") as zf:
                for p in sorted(root.rglob("*")):
                    zf.write(p, p.relative_to(root).as_posix())
        t0 = time.perf_counter()
        for _, data, _ in items:
            hashlib.sha256(data).hexdigest()
        hash_s = time.perf_counter() - t0

        url = f"sqlite:///{Path(tmp) / 'node.db'}"
        migrate(url)
        engine = make_engine(url)
        stamps: dict[str, float] = {}

        def hook(stage: str) -> None:
            if stage in ("blobs", "transaction", "commit"):
                stamps[stage] = time.perf_counter()

        filer = Filer(make_session_factory(engine), BlobStore(Path(tmp) / "blobs"),
                      reader=make_session_factory(engine, readonly=True), hook=hook)  # fmt: skip
        t0 = time.perf_counter()
        outcome = filer.file(target, who="bench", where="127.0.0.1")
        t1 = time.perf_counter()
        assert outcome.status == "FILED", outcome.report.get("blocking")
        assert len(outcome.item_ids) == n
        scanner = filer.config.get_scanner().describe()
        engine.dispose()

    run = t1 - t0
    mb = total / 1e6
    print(f"# filing bench: {n} PDFs ({total / n / 1024:.1f} KiB avg, {mb:.1f} MB), "
          f"{'ZIP' if args.zip else 'directory'}, {platform.machine()}, Python {platform.python_version()}, "
          f"{scanner}")  # fmt: skip
    print()
    print("| stage | s | ms per item |")
    print("| --- | ---: | ---: |")
    stages = [
        ("load, package digest, codes, checks, policy", stamps["blobs"] - t0),
        ("blobs (hash while copying, fsync each)", stamps["transaction"] - stamps["blobs"]),
        ("transaction: rows, records, reports, counters", stamps["commit"] - stamps["transaction"]),
        ("commit", t1 - stamps["commit"]),
    ]
    for name, s in stages:
        print(f"| {name} | {s:.2f} | {1000 * s / n:.3f} |")
    print(f"| **total** | **{run:.2f}** | **{1000 * run / n:.3f}** |")
    print()
    print(f"filing: {n / run:.0f} items/s, {mb / run:.1f} MB/s; "
          f"hashlib SHA-256 over the same bytes: {mb / hash_s:.0f} MB/s ({1000 * hash_s / n:.4f} ms/item)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
