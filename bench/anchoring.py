"""Gas per checkpoint and amortised gas per record at batch sizes 1, 1,000 and 100,000.

    .venv/bin/python bench/anchoring.py                      # batches 1, 1000, 100000
    .venv/bin/python bench/anchoring.py --batches 1,100      # quicker

In-process py-evm chain (ChainClient(load_profile("test"))), a fresh SQLite node database, the
ArchiveAnchor contract deployed with anchor.deploy and the real Anchorer (as in tests/anchor/test_anchorer.py):
for each batch size B, records are appended with MerkleLog.append_many and one Anchorer.run() sends
one anchorMany transaction; the gas is the receipt's gasUsed, read back from Submission.gas_used.

Two cases per B, each on its own log (fonds) so that one transaction carries one checkpoint:
  first      a new log of B records: first checkpoint, empty consistency proof;
  extension  a log already anchored at --base records grows by B: the contract checks the RFC 9162
             consistency proof from the base size to base + B on chain (sha256 precompile).

Target: gas per checkpoint does not grow with the batch size; it changes only with the length of the
consistency proof (at most about 2 log2(tree size) hashes, ~1k gas each).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Timer, machine, table, verdict, workdir
from eth_account import Account

from anchor.anchorer import Anchorer
from anchor.chain import ChainClient
from anchor.chain.dev import fund_from_dev_account
from anchor.db import make_engine, make_session_factory, transaction
from anchor.deploy import deploy_for_tests
from anchor.log import MerkleLog
from anchor.models import Submission
from anchor.profiles import load_profile
from node.core.db import migrate
from verifier.records import new_record

LIMIT_RATIO = 1.25  # gas(largest batch) / gas(batch 1) for the same case


def append(sessions, fonds: str, count: int) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    for start in range(0, count, 20_000):
        n = min(20_000, count - start)
        with transaction(sessions) as s:
            merkle = MerkleLog(s)
            size = merkle.get_or_create(fonds).size
            merkle.append_many(
                fonds,
                [
                    new_record(
                        type="item.ingested", fonds=fonds, item_id=f"{i:032x}", content_sha256=f"{i:064x}",
                        size=i, metadata_sha256="ab" * 32, time=now,
                    )
                    for i in range(size, size + n)
                ],
            )  # fmt: skip


def anchor(anchorer: Anchorer, sessions) -> tuple[int, int, float, int]:  # type: ignore[no-untyped-def]
    """Run once; (gas used, consistency proof length, seconds, logs in the tx)."""
    with Timer() as t:
        report = anchorer.run()
    assert report.submitted is not None and report.confirmed, report.to_dict()
    with sessions() as s:
        from sqlalchemy import select

        sub = s.scalar(select(Submission).where(Submission.tx_hash == report.submitted["tx_hash"]))
        assert sub is not None and sub.gas_used
        gas = sub.gas_used
    return gas, anchorer.last_proof_len, t.seconds, report.submitted["logs"]


class MeasuringAnchorer(Anchorer):
    """The real Anchorer; remembers the consistency proof length of the checkpoint it builds."""

    last_proof_len = 0

    def _new_checkpoints(self, s):  # type: ignore[no-untyped-def]
        inputs, pending = super()._new_checkpoints(s)
        self.last_proof_len = max((len(proof) for *_x, proof in inputs), default=0)
        return inputs, pending


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", default="1,1000,100000", help="batch sizes (records per checkpoint)")
    ap.add_argument("--base", type=int, default=12_345, help="log size before an extension checkpoint")
    args = ap.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]

    print(f"# anchoring benchmark ({machine()})")
    rows = []
    with workdir("anchoring") as tmp:
        url = f"sqlite:///{tmp / 'node.db'}"
        migrate(url)
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        client = ChainClient(load_profile("test"))
        account = Account.create()
        fund_from_dev_account(client, account.address, 10**21)
        deployment, _officers = deploy_for_tests(client, account)
        anchorer = MeasuringAnchorer(
            sessions, client, account, deployment.anchor, confirmations=1, wait_timeout_s=60
        )
        for b in batches:
            fonds = f"F{b}"
            append(sessions, fonds, b)
            gas, plen, secs, logs = anchor(anchorer, sessions)
            assert logs == 1
            rows.append(("first", b, 0, b, plen, gas, secs))
            print(f"  first checkpoint, batch {b:,}: {gas:,} gas", flush=True)
        for b in batches:
            fonds = f"E{b}"
            append(sessions, fonds, args.base)
            anchor(anchorer, sessions)
            append(sessions, fonds, b)
            gas, plen, secs, logs = anchor(anchorer, sessions)
            assert logs == 1
            rows.append(("extension", b, args.base, args.base + b, plen, gas, secs))
            print(f"  extension, batch {b:,}: {gas:,} gas, proof {plen} hashes", flush=True)
        engine.dispose()

    print()
    print(
        table(
            ["case", "batch (records)", "tree size", "consistency proof (hashes)", "gas per checkpoint",
             "gas per record", "Anchorer.run s"],
            [
                (case, f"{b:,}", f"{base:,} -> {size:,}" if base else f"{size:,}", plen, f"{gas:,}",
                 f"{gas / b:,.2f}", f"{secs:.2f}")
                for case, b, base, size, plen, gas, secs in rows
            ],
        )
    )  # fmt: skip
    print()
    print("gas = receipt gasUsed of the anchorMany transaction (incl. 21,000 base and calldata), one log per tx")
    ok_all = True
    for case in ("first", "extension"):
        sel = [r for r in rows if r[0] == case]
        small, large = sel[0], sel[-1]
        ratio = large[5] / small[5]
        ok = ratio <= LIMIT_RATIO
        ok_all &= ok
        extra = ""
        if large[4] != small[4]:
            per_hash = (large[5] - small[5]) / (large[4] - small[4])
            extra = f"; difference {large[5] - small[5]:+,} gas = {per_hash:,.0f} gas per extra proof hash"
        print(
            f"target ({case}): gas(batch {large[1]:,}) / gas(batch {small[1]:,}) = {ratio:.3f} "
            f"(limit {LIMIT_RATIO}) -> {verdict(ok)}; proof {small[4]} -> {large[4]} hashes{extra}"
        )
    print(f"overall: gas per checkpoint independent of batch size -> {verdict(ok_all)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
