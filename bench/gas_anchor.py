"""Gas used by ArchiveAnchor.anchor / anchorMany on the in-process chain (py-evm via eth-tester).

    .venv/bin/python bench/gas_anchor.py                    # print the table
    .venv/bin/python bench/gas_anchor.py --update-results   # also (re)write its section in bench/RESULTS.md

The extension case uses a consistency proof of exactly 20 hashes, as for a log of about a million
records. Building such a tree in Python is slow and pointless: the contract only checks that the proof
folds to the two roots (RFC 9162 section 2.1.4.2), so the proof hashes are random 32-byte values and
both roots are derived from them with the same fold. `_self_check` shows, on a small real tree, that
this derivation gives the true roots.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from pathlib import Path

from web3 import EthereumTesterProvider, Web3

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common import update_results_section  # noqa: E402

from contracts import load_artifact  # noqa: E402

SECTION = "## Gas: ArchiveAnchor"
GAS_LIMIT = 25_000_000


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def proof_length(m: int, n: int, complete: bool = True) -> int:
    """Length of the RFC 9162 SUBPROOF(m, D[n], complete), without hashing anything."""
    if m == n:
        return 0 if complete else 1
    k = _split(n)
    if m <= k:
        return proof_length(m, k, complete) + 1
    return proof_length(m - k, n - k, False) + 1


def roots_from_proof(size1: int, size2: int, proof: list[bytes], first: bytes | None) -> tuple[bytes, bytes]:
    """(root1, root2) that `proof` proves consistent (the verifier's fold, run forwards).

    `first` is root1 when size1 is a power of two (the proof then omits it), else ignored.
    """
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        assert first is not None
        path.insert(0, first)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        assert sn != 0
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0
    return fr, sr


def synthetic_extension(size1: int, size2: int, rng: random.Random) -> tuple[bytes, bytes, list[bytes]]:
    proof = [rng.randbytes(32) for _ in range(proof_length(size1, size2))]
    root1, root2 = roots_from_proof(size1, size2, proof, rng.randbytes(32))
    return root1, root2, proof


def _self_check() -> None:
    """On a real 40-leaf tree, the derived roots equal the true MTH roots."""
    leaves = [hashlib.sha256(b"\x00" + bytes([i])).digest() for i in range(40)]

    def mth(lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return leaves[lo]
        k = _split(hi - lo)
        return _node(mth(lo, lo + k), mth(lo + k, hi))

    def subproof(m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        if m == hi - lo:
            return [] if complete else [mth(lo, hi)]
        k = _split(hi - lo)
        if m <= k:
            return [*subproof(m, lo, lo + k, complete), mth(lo + k, hi)]
        return [*subproof(m - k, lo + k, hi, False), mth(lo, lo + k)]

    for m in range(1, 40):
        for n in range(m + 1, 41):
            p = subproof(m, 0, n, True)
            assert len(p) == proof_length(m, n)
            assert roots_from_proof(m, n, p, mth(0, m)) == (mth(0, m), mth(0, n))


def pick_sizes(length: int = 20) -> tuple[int, int]:
    """A ~1M-record log extended by a batch of ~1000, with a consistency proof of `length` hashes."""
    for size1 in range(1_000_000, 1_100_000, 7):
        size2 = size1 + 1000
        if proof_length(size1, size2) == length:
            return size1, size2
    raise RuntimeError("no sizes found")


class Bench:
    def __init__(self) -> None:
        art, roles_art = load_artifact("ArchiveAnchor"), load_artifact("ArchiveRoles")
        self.w3 = Web3(EthereumTesterProvider())
        self.admin, self.anchorer, security_admin, auditor = self.w3.eth.accounts[:4]
        roles_factory = self.w3.eth.contract(abi=roles_art["abi"], bytecode=roles_art["bytecode"])
        receipt = self._wait(
            roles_factory.constructor(self.admin, security_admin, auditor).transact({"from": self.admin})
        )
        self.roles_deploy_gas = receipt.gasUsed
        roles = self.w3.eth.contract(address=receipt.contractAddress, abi=roles_art["abi"])
        factory = self.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        receipt = self._wait(factory.constructor(roles.address).transact({"from": self.admin}))
        self.deploy_gas = receipt.gasUsed
        self.c = self.w3.eth.contract(address=receipt.contractAddress, abi=art["abi"])
        self._wait(roles.functions.grantAnchorer(b"\x00" * 32, self.anchorer).transact({"from": self.admin}))
        self.rng = random.Random(2026)
        self.n = 0

    def _wait(self, tx):
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        assert receipt.status == 1
        return receipt

    def gas(self, call) -> int:
        return self._wait(call.transact({"from": self.anchorer, "gas": GAS_LIMIT})).gasUsed

    def new_log(self) -> bytes:
        self.n += 1
        return hashlib.sha256(b"archive-ledger/log/v1/" + f"BENCH{self.n}".encode()).digest()


def run() -> tuple[list[tuple[str, int, int, str]], dict]:
    _self_check()
    size1, size2 = pick_sizes(20)
    b = Bench()
    fn = b.c.functions
    rows: list[tuple[str, int, int, str]] = []  # (case, logs, total gas, note)

    log = b.new_log()
    root1, root2, proof = synthetic_extension(size1, size2, b.rng)
    rows.append(("anchor: first checkpoint", 1, b.gas(fn.anchor(log, size1, root1, [])), f"size {size1}"))
    rows.append(
        (
            "anchor: extension, 20-hash proof",
            1,
            b.gas(fn.anchor(log, size2, root2, proof)),
            f"{size1} -> {size2}",
        )
    )
    rows.append(("anchor: identical re-submission (no-op)", 1, b.gas(fn.anchor(log, size2, root2, [])), ""))
    # A short extension for comparison: a 1-record batch.
    root2b, root3, proof3 = synthetic_extension(size2, size2 + 1, b.rng)
    log_b = b.new_log()
    b.gas(fn.anchor(log_b, size2, root2b, []))
    rows.append(
        (
            f"anchor: extension, {len(proof3)}-hash proof",
            1,
            b.gas(fn.anchor(log_b, size2 + 1, root3, proof3)),
            f"{size2} -> {size2 + 1}",
        )
    )

    for count in (1, 10, 70):
        logs = [b.new_log() for _ in range(count)]
        exts = [synthetic_extension(size1, size2, b.rng) for _ in range(count)]
        first = [(lg, size1, e[0], []) for lg, e in zip(logs, exts, strict=True)]
        rows.append((f"anchorMany: {count} first checkpoints", count, b.gas(fn.anchorMany(first)), f"size {size1}"))
        second = [(lg, size2, e[1], e[2]) for lg, e in zip(logs, exts, strict=True)]
        rows.append(
            (
                f"anchorMany: {count} extensions, 20-hash proofs",
                count,
                b.gas(fn.anchorMany(second)),
                f"{size1} -> {size2}",
            )
        )

    vm = b.w3.provider.ethereum_tester.backend.chain.get_vm()
    info = {"deploy_gas": b.deploy_gas, "roles_deploy_gas": b.roles_deploy_gas, "vm": type(vm).__name__}
    return rows, info


def render(rows: list[tuple[str, int, int, str]], info: dict) -> str:
    lines = [
        "| case | logs | gas (tx total) | gas per log | sizes |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for case, logs, gas, note in rows:
        lines.append(f"| {case} | {logs} | {gas:,} | {gas // logs:,} | {note} |")
    lines.append("")
    lines.append(
        f"Deployment: {info['deploy_gas']:,} gas (ArchiveRoles, deployed once for all contracts: "
        f"{info['roles_deploy_gas']:,}). The anchorer check is a call to ArchiveRoles.isAnchorer. "
        f"Chain: eth-tester py-evm ({info['vm']}); totals include the 21,000 base cost and calldata of each "
        "transaction."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Gas used by ArchiveAnchor")
    parser.add_argument("--update-results", action="store_true", help=f"(re)write '{SECTION}' in RESULTS.md")
    args = parser.parse_args(argv)
    rows, info = run()
    table = render(rows, info)
    print(table)
    if args.update_results:
        command = ".venv/bin/python bench/gas_anchor.py --update-results"
        path = update_results_section(SECTION, table, command, deterministic=True)
        print(f"\nupdated {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
