"""Verification of one proof bundle with the pinned trust root: offline (no chain) and against the dev
chain (ganache), the chain step being ONE JSON-RPC batch request per endpoint.

    .venv/bin/python bench/verify.py               # 200 runs each
    .venv/bin/python bench/verify.py --runs 50

Set-up (real, loopback only): a fresh ganache, `archive-ledger init` into a temporary data dir,
`archive-ledger serve` as a subprocess, one file ingested, POST /anchor (confirmed checkpoint),
GET /items/{id}/proof and GET /trust. Then verifier.verify.verify_bundle is timed in this process:
  offline    trust root given, chains=(), content_sha256 given: record, leaf hash, inclusion (no network);
  dev chain  chains=(JsonRpcChain(ganache url),): the same plus the chain step (one urllib batch request).
One bare eth_blockNumber round trip (a single JSON-RPC request) is timed in the same run: the chain
figure is read as a ratio to it (a verification costs about one round trip plus ganache's work).

Target (issue 7): verification on the dev chain < 5 ms median.
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

from node.core.client import NodeClient, read_api_key
from verifier.chain import JsonRpcChain
from verifier.trustroot import TrustRoot, load_trust_root
from verifier.verify import verify_bundle

TARGET_MS = 5.0


class CountingChain(JsonRpcChain):
    """JsonRpcChain that counts its HTTP requests (batches) and the JSON-RPC calls in them."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.requests = 0
        self.calls: Counter[str] = Counter()

    def batch(self, calls):  # type: ignore[no-untyped-def]
        self.requests += 1
        self.calls.update(method for method, _params in calls)
        self.last = list(calls)
        return super().batch(calls)


def prepared_bundle(node, size: int = 4096) -> tuple[dict, str, TrustRoot]:  # type: ignore[no-untyped-def]
    """Ingest one file of random bytes, anchor; return (proof bundle, its content sha256, the trust root)."""
    import httpx

    data = os.urandom(size)
    path = node.data_dir.parent / "sample.bin"
    path.write_bytes(data)
    meta = {"fonds": "Z001", "title": "sample", "category": "WS", "year": 2026, "retention": "permanent"}
    with NodeClient(node.url, read_api_key(node.api_key_file)) as client, path.open("rb") as fh:
        item = client.ingest(fh, path.name, meta)
        client.anchor()
        bundle = client.proof(item["id"])
    trust = load_trust_root(httpx.get(f"{node.url}/trust").json())  # pinned once, as an auditor would
    return bundle, hashlib.sha256(data).hexdigest(), trust


def single_round_trip(url: str, payload: object | None = None) -> None:
    """One HTTP POST: eth_blockNumber alone, or `payload` (e.g. the verifier's batch, posted raw)."""
    body = json.dumps(payload or {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args(argv)

    print(f"# verify benchmark ({machine()})")
    with workdir("verify") as tmp, ganache(tmp / "ganache") as rpc_url, dev_node(tmp, rpc_url) as node:
        bundle, sha, trust = prepared_bundle(node)

        offline = []
        for _ in range(args.runs):
            with Timer() as t:
                res = verify_bundle(bundle, content_sha256=sha, trust=trust, chains=())
            offline.append(t.seconds * 1e3)
        assert res.outcome == "indeterminate" and res.reason_code == "offline", res.to_dict()

        probe = CountingChain(rpc_url)
        res = verify_bundle(bundle, content_sha256=sha, trust=trust, chains=(probe,))
        assert res.outcome == "authentic", res.to_dict()
        requests, calls = probe.requests, dict(probe.calls)
        raw = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(probe.last)]

        online, rtt, batched = [], [], []
        for _ in range(args.runs):  # interleaved, so both see the same load on the shared machine
            chain = JsonRpcChain(rpc_url)  # a verifier process starts with a new client
            with Timer() as t:
                res = verify_bundle(bundle, content_sha256=sha, trust=trust, chains=(chain,))
            online.append(t.seconds * 1e3)
            assert res.outcome == "authentic"
            with Timer() as t:
                single_round_trip(rpc_url)
            rtt.append(t.seconds * 1e3)
            with Timer() as t:
                single_round_trip(rpc_url, raw)
            batched.append(t.seconds * 1e3)

    n_calls = sum(calls.values())
    print()
    print(
        table(
            ["case", "median ms", "p95 ms", "HTTP requests (JSON-RPC calls)"],
            [
                ("offline (trust root, chains=())", f"{median(offline):.3f}", f"{pct(offline, 95):.3f}", "0"),
                ("dev chain (ganache, JsonRpcChain batch)", f"{median(online):.2f}", f"{pct(online, 95):.2f}",
                 f"{requests} ({n_calls})"),
                ("  one eth_blockNumber round trip", f"{median(rtt):.2f}", f"{pct(rtt, 95):.2f}", "1 (1)"),
                ("  the verifier's batch posted raw (ganache's share)", f"{median(batched):.2f}",
                 f"{pct(batched, 95):.2f}", f"1 ({len(raw)})"),
            ],
        )
    )  # fmt: skip
    print()
    print(f"{args.runs} runs each; calls in the batch: " + ", ".join(f"{m} x{c}" for m, c in sorted(calls.items())))
    ratio = median(online) / median(rtt)
    print(f"verification / one round trip (medians): {ratio:.1f}")
    print(
        f"target: verification on the dev chain < {TARGET_MS} ms median: {median(online):.2f} ms = "
        f"{median(online) / TARGET_MS:.2f} of the limit -> {verdict(median(online) < TARGET_MS)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
