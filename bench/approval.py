"""Approval-to-first-byte on the dev chain, and the permit check on fetch.

A real node (`archive-ledger serve`) on a real ganache. Per round: the borrower requests one item
(POST /loans), the approver approves with their password (key unlocked in memory, EIP-712 permit
signed, relayed by the node's key, confirmed, certificate issued: POST /loans/{id}/approve), the
borrower fetches the content until the first byte arrives. Median over N rounds; target < 1 s.

Permit check: `PermitCache.check` against the same ganache over JSON-RPC, the answer cached per
(permitId, block): one eth_blockNumber per check while the head does not move; target < 5 ms.
Also shown: the same check without a cache hit (a new block before each check).

    .venv/bin/python bench/approval.py [--rounds 10] [--checks 500]
"""

from __future__ import annotations

import argparse
import json
import time

import httpx
from common import dev_node, ganache, machine, median, pct, table, verdict, workdir

PASSWORD = "a long enough password 2027"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--checks", type=int, default=500)
    args = parser.parse_args(argv)

    from node.core.settings import load_settings
    from tests.helpers.e2e_support import clean_env, create_people

    with workdir("approval") as tmp, ganache(tmp) as rpc_url, dev_node(tmp, rpc_url) as node:
        people = {"alice": "borrower", "carol": "approver"}
        create_people(node.url, node.data_dir, clean_env(tmp), tmp, people, PASSWORD)
        permits_address = load_settings(node.data_dir).permits_address
        api = httpx.Client(base_url=node.url, timeout=120,
                           headers={"Authorization": f"Bearer {node.api_key_file.read_text().strip()}"})  # fmt: skip
        items = []
        for i in range(args.rounds):
            meta = {"fonds": "Z001", "title": f"bench record {i}", "category": "WS", "year": 2020, "retention": "30y"}
            r = api.post(
                "/items",
                files={
                    "metadata": (None, json.dumps(meta).encode(), "application/json"),
                    "file": (f"r{i}.pdf", f"record {i} ".encode() * 2000, "application/pdf"),
                },
            )
            r.raise_for_status()
            items.append(r.json()["id"])
        api.post("/anchor").raise_for_status()
        tokens = {}
        for who in ("alice", "carol"):
            r = httpx.post(f"{node.url}/auth/login", json={"username": who, "password": PASSWORD}, timeout=60)
            r.raise_for_status()
            tokens[who] = {"Authorization": f"Bearer {r.json()['token']}"}
        rows, totals, permit_ids = [], [], []
        with httpx.Client(base_url=node.url, timeout=120) as http:
            for item in items:
                t0 = time.perf_counter()
                r = http.post("/loans", headers=tokens["alice"],
                              json={"items": [item], "purpose": "benchmark", "days": 1})  # fmt: skip
                r.raise_for_status()
                t1 = time.perf_counter()
                r = http.post(f"/loans/{r.json()['id']}/approve", headers=tokens["carol"], json={"password": PASSWORD})
                r.raise_for_status()
                permit_ids.append(r.json()["items"][0]["permit_id"])
                t2 = time.perf_counter()
                with http.stream("GET", f"/items/{item}/content", headers=tokens["alice"]) as resp:
                    resp.raise_for_status()
                    chunks = resp.iter_raw(1024)
                    next(chunks)
                    t3 = time.perf_counter()
                    for _ in chunks:
                        pass
                totals.append(t3 - t0)
                rows.append((t1 - t0, t2 - t1, t3 - t2))

        # the permit check on fetch, in process, against the same ganache
        from anchor.chain import ChainClient
        from anchor.profiles import load_profile
        from node.lending.permits import ChainPermits, PermitCache

        client = ChainClient(load_profile("dev").replace(rpc_url=rpc_url))
        ledger = ChainPermits(client, None, permits_address)
        cache = PermitCache(ledger)
        pid = bytes.fromhex(permit_ids[0])
        far = int(time.time()) + 86400
        cache.check(pid, 0, far)
        hits = []
        for _ in range(args.checks):
            t = time.perf_counter()
            assert cache.check(pid, 0, far).allowed
            hits.append(time.perf_counter() - t)
        misses = []
        for _ in range(min(args.checks, 50)):
            httpx.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []})
            t = time.perf_counter()
            assert cache.check(pid, 0, far).allowed
            misses.append(time.perf_counter() - t)

    ms = 1000.0
    print(f"## Approval-to-first-byte (bench/approval.py)\n\n{machine()}; ganache 7 (instamine), "
          f"{args.rounds} rounds, one item per loan\n")  # fmt: skip

    def cols(values: list[float]) -> tuple[str, str]:
        return f"{median(values) * ms:.0f}", f"{pct(values, 90) * ms:.0f}"

    print(table(["step", "median ms", "p90 ms"], [
        ("request (POST /loans)", *cols([r[0] for r in rows])),
        ("approve: unlock key, sign, relay, confirm, certify", *cols([r[1] for r in rows])),
        ("fetch to first byte (permit check on chain)", *cols([r[2] for r in rows])),
        ("total: approval-to-first-byte", *cols(totals)),
    ]))  # fmt: skip
    print(f"\napproval-to-first-byte median {median(totals) * ms:.0f} ms; target < 1000 ms: "
          f"{verdict(median(totals) < 1.0)}\n")  # fmt: skip
    print(table(["permit check", "n", "median ms", "p99 ms"], [
        ("cached (same block: 1 eth_blockNumber)", len(hits), f"{median(hits) * ms:.2f}", f"{pct(hits, 99) * ms:.2f}"),
        ("new block (eth_blockNumber + isValid)", len(misses), f"{median(misses) * ms:.2f}",
         f"{pct(misses, 99) * ms:.2f}"),
    ]))  # fmt: skip
    print(f"\npermit check with the cache median {median(hits) * ms:.2f} ms; target < 5 ms: "
          f"{verdict(median(hits) < 0.005)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
