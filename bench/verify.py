"""Verification of one proof bundle: offline (no chain) and against the dev chain (ganache) over JSON-RPC.

    .venv/bin/python bench/verify.py               # 200 runs each
    .venv/bin/python bench/verify.py --runs 50

Set-up (real, loopback only): a fresh ganache, `archive-ledger init` into a temporary data dir,
`archive-ledger serve` as a subprocess, one file ingested, POST /anchor (confirmed checkpoint),
GET /items/{id}/proof. Then verifier.verify.verify_bundle is timed in this process:
  offline    chain=None, content_sha256 given: record, leaf hash, inclusion path (no network);
  dev chain  chain=JsonRpcChain(ganache url): the same plus the chain step (urllib JSON-RPC).
The JSON-RPC calls one verification makes are counted, and one bare eth_blockNumber round trip is
timed in the same run, so the chain figure can be read as (calls x round trip) + local work.

Target: < 20 ms per verification on the dev chain (median and p95).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Timer, dev_node, ganache, machine, median, pct, table, verdict, workdir

from node.client import NodeClient, read_api_key
from verifier.chain import JsonRpcChain
from verifier.verify import verify_bundle

TARGET_MS = 20.0


class CountingChain(JsonRpcChain):
    """JsonRpcChain that counts its JSON-RPC requests by method and times them."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.calls: Counter[str] = Counter()
        self.ms: dict[str, list[float]] = {}

    def _rpc(self, method, params):  # type: ignore[no-untyped-def]
        self.calls[method] += 1
        with Timer() as t:
            answer = super()._rpc(method, params)
        self.ms.setdefault(method, []).append(t.seconds * 1e3)
        return answer


def prepared_bundle(node, size: int = 4096) -> tuple[dict, str]:  # type: ignore[no-untyped-def]
    """Ingest one file of random bytes, anchor, return (proof bundle, its content sha256)."""
    data = os.urandom(size)
    path = node.data_dir.parent / "sample.bin"
    path.write_bytes(data)
    meta = {"fonds": "Z001", "title": "sample", "category": "WS", "year": 2026, "retention": "permanent"}
    with NodeClient(node.url, read_api_key(node.api_key_file)) as client, path.open("rb") as fh:
        item = client.ingest(fh, path.name, meta)
        client.anchor()
        bundle = client.proof(item["id"])
    return bundle, hashlib.sha256(data).hexdigest()


def batch_round_trip(url: str, calls: list[dict]) -> None:
    body = json.dumps(calls).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args(argv)

    print(f"# verify benchmark ({machine()})")
    with workdir("verify") as tmp, ganache(tmp / "ganache") as rpc_url, dev_node(tmp, rpc_url) as node:
        bundle, sha = prepared_bundle(node)
        contract, chain_id = bundle["anchor"]["contract"], bundle["anchor"]["chain_id"]

        offline = []
        for _ in range(args.runs):
            with Timer() as t:
                res = verify_bundle(bundle, content_sha256=sha, chain=None)
            offline.append(t.seconds * 1e3)
        assert res.outcome == "indeterminate" and res.reason_code == "offline", res.to_dict()

        probe = CountingChain(rpc_url)
        res = verify_bundle(
            bundle, content_sha256=sha, chain=probe, expected_chain_id=chain_id, expected_contract=contract
        )
        assert res.outcome == "authentic", res.to_dict()
        calls = dict(probe.calls)

        online = []
        for _ in range(args.runs):
            chain = JsonRpcChain(rpc_url)  # a verifier process starts with a new client
            with Timer() as t:
                res = verify_bundle(
                    bundle, content_sha256=sha, chain=chain, expected_chain_id=chain_id, expected_contract=contract
                )
            online.append(t.seconds * 1e3)
        assert res.outcome == "authentic"

        per_method = CountingChain(rpc_url)  # where the time goes, in separate runs
        for _ in range(args.runs):
            verify_bundle(
                bundle, content_sha256=sha, chain=per_method, expected_chain_id=chain_id, expected_contract=contract
            )

        single = JsonRpcChain(rpc_url)
        rtt = []
        for _ in range(args.runs):
            with Timer() as t:
                single.block_number()
            rtt.append(t.seconds * 1e3)

        batch = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
            for i, (m, p) in enumerate(
                [("eth_chainId", []), ("eth_getCode", [contract, "latest"]), ("eth_blockNumber", [])]
                + [("eth_call", [{"to": contract, "data": "0x10ce7c2a"}, "latest"])] * 3
            )
        ]
        batched = []
        for _ in range(args.runs):
            with Timer() as t:
                batch_round_trip(rpc_url, batch)
            batched.append(t.seconds * 1e3)

    n_calls = sum(calls.values())
    print()
    print(
        table(
            ["case", "median ms", "p95 ms", "JSON-RPC calls"],
            [
                ("offline (chain=None)", f"{median(offline):.3f}", f"{pct(offline, 95):.3f}", 0),
                ("dev chain (ganache, JsonRpcChain)", f"{median(online):.2f}", f"{pct(online, 95):.2f}", n_calls),
                ("  one eth_blockNumber round trip", f"{median(rtt):.2f}", f"{pct(rtt, 95):.2f}", 1),
                (f"  {len(batch)} calls as one JSON-RPC batch (reference)", f"{median(batched):.2f}",
                 f"{pct(batched, 95):.2f}", f"1 request ({len(batch)} calls)"),
            ],
        )
    )  # fmt: skip
    print()
    print(f"{args.runs} runs each; calls per verification: " + ", ".join(f"{m} x{c}" for m, c in sorted(calls.items())))
    means = {m: sum(v) / len(v) for m, v in per_method.ms.items()}
    rpc_mean = sum(means[m] * calls[m] for m in means)
    print(
        "per JSON-RPC call, mean ms: "
        + ", ".join(f"{m} {v:.2f}" for m, v in sorted(means.items()))
        + f"; calls x mean = {rpc_mean:.2f} ms of the {sum(online) / len(online):.2f} ms mean verification"
    )
    worst = pct(online, 95)
    print(
        f"target: verification on the dev chain < {TARGET_MS} ms: p95 {worst:.2f} ms = "
        f"{worst / TARGET_MS:.2f} of the limit -> {verdict(worst < TARGET_MS)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
