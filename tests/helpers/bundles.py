"""Proof bundles over an in-memory chain: a log of seven records anchored on `FakeChain`, the chain
endpoint the verifier tests (and the verifier CLI's) read instead of a node."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from verifier import chain as vchain
from verifier import merkle
from verifier.chain import ANCHOR_VERSION
from verifier.errors import ChainUnavailable, RpcCallError
from verifier.records import log_id_for_fonds, new_record, record_leaf_hash
from verifier.verify import hash_content

CONTRACT = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20
CHAIN_ID = 1337
GENESIS = "0x" + "11" * 32
T = datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)


def abi_string(s: str) -> bytes:
    raw = s.encode()
    padded = raw + b"\0" * (-len(raw) % 32)
    return (32).to_bytes(32, "big") + len(raw).to_bytes(32, "big") + padded


class FakeChain:
    """One endpoint of an in-memory chain with ArchiveAnchor at CONTRACT: block n holds the checkpoints
    anchored in blocks <= n. `mirror` gives another endpoint of the same chain (shared blocks) whose
    answers can be made to lie."""

    def __init__(self, chain_id: int = CHAIN_ID, version: str = ANCHOR_VERSION, endpoint: str = "fake://a") -> None:
        self.endpoint = endpoint
        self.id = chain_id
        self.genesis = GENESIS
        self.version = version
        self.code = {CONTRACT: b"\x60\x80"}
        self.blocks: list[dict[tuple[bytes, int], tuple[bytes, int]]] = [{}]
        self.unreachable = False
        self.revert_version = False
        self.lie_root: bytes | None = None
        self.lie_block: int | None = None
        self.batches: list[list[tuple[str, list]]] = []

    def mirror(self, endpoint: str) -> FakeChain:
        other = copy.copy(self)
        other.endpoint, other.batches = endpoint, []
        return other

    def anchor(self, log_id: bytes, size: int, root: bytes) -> int:
        state = dict(self.blocks[-1])
        state[(log_id, size)] = (root, len(self.blocks))
        self.blocks.append(state)
        return len(self.blocks) - 1

    def mine(self, n: int = 1) -> None:
        for _ in range(n):
            self.blocks.append(dict(self.blocks[-1]))

    def batch(self, calls) -> list[Any]:  # type: ignore[no-untyped-def]
        if self.unreachable:
            raise ChainUnavailable(f"cannot reach {self.endpoint}: connection refused")
        self.batches.append(list(calls))
        return [self._one(method, params) for method, params in calls]

    def _one(self, method: str, params: list) -> Any:
        if method == "eth_chainId":
            return hex(self.id)
        if method == "eth_blockNumber":
            return hex(len(self.blocks) - 1)
        if method == "eth_getBlockByNumber":
            assert params == ["0x0", False]
            return {"hash": self.genesis, "number": "0x0"}
        assert method == "eth_call" and params[1] == "latest", (method, params)
        to, data = params[0]["to"], bytes.fromhex(params[0]["data"][2:])
        if to.lower() not in self.code:
            return "0x"
        selector, args = data[:4], data[4:]
        if selector == vchain.SELECTOR_ANCHOR_VERSION:
            if self.revert_version:
                return RpcCallError(method, 3, "execution reverted")
            return "0x" + abi_string(self.version).hex()
        key = (args[:32], int.from_bytes(args[32:64], "big"))
        root, at = self.blocks[-1].get(key, (bytes(32), 0))
        if selector == vchain.SELECTOR_ROOT_AT:
            return "0x" + (self.lie_root if self.lie_root is not None else root).hex()
        if selector == vchain.SELECTOR_ANCHORED_AT_BLOCK:
            return "0x" + (self.lie_block if self.lie_block is not None else at).to_bytes(32, "big").hex()
        return RpcCallError(method, 3, "execution reverted")


def mth_path(m: int, hashes: list[bytes]) -> list[bytes]:
    """RFC 9162 PATH over leaf hashes (the oracle of test_merkle, kept local)."""
    if len(hashes) == 1:
        return []
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    if m < k:
        return [*mth_path(m, hashes[:k]), merkle.root_of(hashes[k:])]
    return [*mth_path(m - k, hashes[k:]), merkle.root_of(hashes[:k])]


CONTENTS = [f"document {i}".encode() * (i + 1) for i in range(7)]


def records(fonds: str = "Z001") -> list[dict]:
    return [
        new_record("item.ingested", fonds, f"{i:032x}", hash_content(c), len(c), "00" * 32, T, nonce=bytes([i]) * 16)
        for i, c in enumerate(CONTENTS)
    ]


def make_bundle(recs: list[dict], index: int, anchor: dict | None) -> dict:
    hashes = [record_leaf_hash(r) for r in recs]
    bundle = {
        "v": 1,
        "record": recs[index],
        "leaf_hash": hashes[index].hex(),
        "leaf_index": index,
        "tree_size": len(recs),
        "inclusion_path": [h.hex() for h in mth_path(index, hashes)],
        "root": merkle.root_of(hashes).hex(),
        "log_id": log_id_for_fonds(recs[0]["fonds"]).hex(),
        "anchor": anchor,
    }
    return json.loads(json.dumps(bundle))


def build(index: int = 3, fonds: str = "Z001") -> tuple[dict, FakeChain]:
    """A log of 7 records anchored at size 7, and the bundle of record `index`."""
    recs = records(fonds)
    root = merkle.root_of([record_leaf_hash(r) for r in recs])
    fake = FakeChain()
    fake.mine(3)
    block = fake.anchor(log_id_for_fonds(fonds), len(recs), root)
    anchor = {"chain_id": CHAIN_ID, "contract": CONTRACT, "tx_hash": "0x" + "11" * 32, "block_number": block}
    return make_bundle(recs, index, anchor), fake
