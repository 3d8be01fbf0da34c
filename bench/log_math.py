"""Bench the log math at 10**6 leaves: store build, root, inclusion and consistency proofs.

Run: .venv/bin/python bench/log_math.py [n]. In-memory dict store; the SQL store adds its query time.
"""

from __future__ import annotations

import random
import sys
import time

from anchor import proofs
from anchor.proofs import NodeId
from verifier import merkle


def main(n: int = 10**6) -> None:
    t0 = time.perf_counter()
    store: dict[NodeId, bytes] = {}
    for size in range(1, n + 1):
        for node in proofs.completed_nodes(size):
            if node.level == 0:
                store[node] = merkle.leaf_hash(node.index.to_bytes(8, "big"))
            else:
                store[node] = merkle.node_hash(
                    store[NodeId(node.level - 1, 2 * node.index)], store[NodeId(node.level - 1, 2 * node.index + 1)]
                )
    t1 = time.perf_counter()
    print(f"store: {n} leaves, {len(store)} nodes in {t1 - t0:.2f}s")

    calls: list[int] = []

    def fetch(ids):
        ids = list(ids)
        calls.append(len(ids))
        return {i: store[i] for i in ids}

    root = proofs.root(n, fetch)
    rng = random.Random(1)
    reps = 1000
    t0 = time.perf_counter()
    for _ in range(reps):
        i = rng.randrange(n)
        p = proofs.inclusion_proof(i, n, fetch)
        merkle.verify_inclusion(i, n, store[NodeId(0, i)], p, root)
    t1 = time.perf_counter()
    print(f"inclusion: generate+verify {(t1 - t0) / reps * 1e6:.0f} us/proof, max ids per fetch {max(calls)}")
    calls.clear()
    t0 = time.perf_counter()
    for _ in range(reps):
        m = rng.randrange(1, n)
        p = proofs.consistency_proof(m, n, fetch)
        merkle.verify_consistency(m, n, proofs.root(m, fetch), root, p)
    t1 = time.perf_counter()
    print(f"consistency: generate+verify (+root of size1) {(t1 - t0) / reps * 1e6:.0f} us/proof, max ids {max(calls)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10**6)
