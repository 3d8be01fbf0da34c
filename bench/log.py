"""Merkle log over SQLite: appends/s, and inclusion / consistency proof time at 10^4, 10^5, 10^6 leaves.

    .venv/bin/python bench/log.py                       # 10^4, 10^5, 10^6 leaves (a few minutes)
    .venv/bin/python bench/log.py --max-leaves 100000   # stop at 10^5

One log (anchor/log.py) in a fresh SQLite file migrated with node.db.migrate, grown in place: appended
with MerkleLog.append_many in transactions of --batch records, and at each size `--proofs` random
inclusion proofs (leaf in [0, n), tree size n) and consistency proofs (size1 in [1, n), size2 n) are
timed, each through MerkleLog (one SQL query per proof, in a read session). The single-record
`append` (what one ingest does) is timed too, on --single records. Every proof is checked with the
verifier, and at the first size the root is checked against the naive oracle.

Target: a proof (median and p99) < 5 ms at 10^6 leaves.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Timer, machine, median, pct, table, verdict, workdir
from sqlalchemy import select

from anchor.db import make_engine, make_session_factory, transaction
from anchor.log import MerkleLog
from anchor.models import LogEntry
from node.core.db import migrate
from verifier.merkle import root_of, verify_consistency, verify_inclusion
from verifier.records import new_record

FONDS = "Z001"
TARGET_MS = 5.0


def records(start: int, count: int) -> list[dict]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        new_record(
            type="item.ingested",
            fonds=FONDS,
            item_id=f"{i:032x}",
            content_sha256=f"{i:064x}",
            size=i,
            metadata_sha256="ab" * 32,
            time=now,
        )
        for i in range(start, start + count)
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-leaves", type=int, default=1_000_000, help="largest size (default 10^6)")
    ap.add_argument("--sizes", type=str, default="10000,100000,1000000", help="sizes to measure at")
    ap.add_argument("--batch", type=int, default=10_000, help="records per append transaction")
    ap.add_argument("--proofs", type=int, default=1000, help="proofs of each kind per size")
    ap.add_argument("--single", type=int, default=2000, help="records appended one by one (append)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    sizes = sorted(s for s in (int(x) for x in args.sizes.split(",")) if s <= args.max_leaves)
    if not sizes:
        sizes = [args.max_leaves]
    rng = random.Random(args.seed)

    print(f"# log benchmark ({machine()})")
    rows = []
    with workdir("log") as tmp:
        url = f"sqlite:///{tmp / 'log.db'}"
        migrate(url)
        engine = make_engine(url)
        sessions = make_session_factory(engine)

        # the single-record path, as one ingest uses it (one transaction per record in the node; here
        # one transaction for all so that only the append itself is timed)
        single = records(0, args.single)
        with Timer() as t_single, transaction(sessions) as s:
            merkle = MerkleLog(s)
            for r in single:
                merkle.append(FONDS, r)
        single_rate = args.single / t_single.seconds
        size = args.single
        oracle_checked = False
        append_seconds = 0.0
        appended = 0
        for target in sizes:
            while size < target:
                n = min(args.batch, target - size)
                batch = records(size, n)  # records are built outside the timed part
                with Timer() as t, transaction(sessions) as s:
                    MerkleLog(s).append_many(FONDS, batch)
                append_seconds += t.seconds
                appended += n
                size += n
            inc_ms, con_ms, inc_len, con_len = [], [], [], []
            with sessions() as s:
                merkle = MerkleLog(s)
                log = merkle.by_fonds(FONDS)
                root = merkle.root(log, size)
                if not oracle_checked:
                    query = select(LogEntry.leaf_hash).where(LogEntry.log_pk == log.id).order_by(LogEntry.index)
                    leaves = [bytes(h) for h in s.scalars(query)]
                    assert root == root_of(leaves), "root differs from the naive oracle"
                    oracle_checked = True
                roots: dict[int, bytes] = {}
                for _ in range(args.proofs):
                    index = rng.randrange(size)
                    with Timer() as t:
                        path = merkle.inclusion_proof(log, index, size)
                    inc_ms.append(t.seconds * 1e3)
                    inc_len.append(len(path))
                    leaf = merkle.entry(log, index).leaf_hash
                    verify_inclusion(index, size, leaf, path, root)
                for _ in range(args.proofs):
                    size1 = rng.randrange(1, size)
                    with Timer() as t:
                        proof = merkle.consistency_proof(log, size1, size)
                    con_ms.append(t.seconds * 1e3)
                    con_len.append(len(proof))
                    if len(roots) < 50:  # root(size1) costs a query: check a sample
                        roots[size1] = merkle.root(log, size1)
                    if size1 in roots:
                        verify_consistency(size1, size, roots[size1], root, proof)
            rate = appended / append_seconds if append_seconds else float("nan")
            rows.append((size, rate, inc_ms, con_ms, max(inc_len), max(con_len)))
            print(f"  size {size:,}: appends {rate:,.0f}/s, inclusion median {median(inc_ms):.2f} ms, "
                  f"consistency median {median(con_ms):.2f} ms", flush=True)  # fmt: skip
            append_seconds, appended = 0.0, 0
        db_bytes = sum(p.stat().st_size for p in tmp.glob("log.db*"))
        engine.dispose()

    print()
    print(
        table(
            [
                "leaves",
                "append_many/s (to this size)",
                "inclusion median ms",
                "inclusion p99 ms",
                "consistency median ms",
                "consistency p99 ms",
                "max proof len (inc / cons)",
            ],
            [
                (
                    f"{size:,}",
                    f"{rate:,.0f}",
                    f"{median(i):.2f}",
                    f"{pct(i, 99):.2f}",
                    f"{median(c):.2f}",
                    f"{pct(c, 99):.2f}",
                    f"{li} / {lc}",
                )
                for size, rate, i, c, li, lc in rows
            ],
        )
    )
    print()
    print(f"single-record append (MerkleLog.append, {args.single:,} in one transaction): {single_rate:,.0f}/s")
    print(f"batch: {args.batch:,} records per transaction; {args.proofs:,} proofs of each kind per size; "
          f"database {db_bytes / 1e6:,.0f} MB at {rows[-1][0]:,} leaves")  # fmt: skip
    size, _rate, inc, con, _li, _lc = rows[-1]
    worst = max(pct(inc, 99), pct(con, 99))
    print(
        f"target: proof < {TARGET_MS} ms at {size:,} leaves: worst p99 {worst:.2f} ms = "
        f"{worst / TARGET_MS:.2f} of the limit -> {verdict(worst < TARGET_MS)}"
        + ("" if size >= 1_000_000 else " (measured below 10^6 leaves: run without --max-leaves for the target)")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
