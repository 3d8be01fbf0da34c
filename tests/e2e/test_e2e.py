"""End to end, as a user runs it: a real ganache, `archive-ledger init`, `archive-ledger serve` (uvicorn
in a subprocess), 1,000 files ingested over HTTP by the CLI, anchored, every proof fetched and verified
against the chain; then stored files, database records and bundles are tampered with and each
tampering must fail verification for its own reason."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.e2e_support import (
    CHAIN_ID,
    FONDS,
    NodeServer,
    all_items,
    clean_env,
    contract_address,
    describe,
    init_node,
    make_tree,
    root_on_chain,
    run_cli,
)
from tests.helpers.ganache_fixture import closed_port_url, ganache_url  # noqa: F401  (module-scoped fixture)
from verifier import merkle
from verifier.chain import JsonRpcChain
from verifier.records import canonical_bytes, log_id_for_fonds, record_leaf_hash
from verifier.trustroot import TrustRoot, load_trust_root_file
from verifier.verify import VerificationResult, verify_bundle

pytestmark = [pytest.mark.e2e, pytest.mark.ganache, pytest.mark.slow]

N_ITEMS = 1000


@dataclass
class Archive:
    server: NodeServer
    env: dict[str, str]
    tmp: Path
    rpc_url: str
    contract: str
    files: dict[str, bytes]  # source_path -> original bytes
    items: list[dict[str, Any]]
    ingest_runs: list[Any]  # CompletedProcess of: first run, journal re-run, fresh-journal re-run
    anchor_run: Any
    ingest_seconds: float
    trust_file: Path  # exported once (`archive-ledger trust export`), used by every verification
    trust: TrustRoot


    def by_source(self, source_path: str) -> dict[str, Any]:
        return next(i for i in self.items if i["source_path"] == source_path)

    def original(self, item: dict[str, Any]) -> bytes:
        return self.files[item["source_path"]]

    def proof(self, item_id: str) -> dict[str, Any]:
        answer = self.server.client().get(f"/items/{item_id}/proof")
        assert answer.status_code == 200, answer.text
        return answer.json()

    def verify(self, bundle: dict[str, Any], content: bytes, **kw: Any) -> VerificationResult:
        kw.setdefault("trust", self.trust)
        return verify_bundle(bundle, content=content, chains=(JsonRpcChain(self.rpc_url),), **kw)


@pytest.fixture(scope="module")
def archive(ganache_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:  # noqa: F811
    tmp = tmp_path_factory.mktemp("e2e")
    env = clean_env(tmp)
    data = tmp / "node"
    init_node(data, ganache_url, env)
    server = NodeServer(data, env, tmp / "server.log").start()
    try:
        files = make_tree(tmp / "tree" / "档案", N_ITEMS)
        tree = tmp / "tree" / "档案"
        common = ("--node", server.url, "--api-key-file", server.api_key_file, "--quiet")
        # The node reconciles with the chain once at boot; a manual run waits for that one, so after
        # it the batch below is anchored by exactly one checkpoint per log.
        idle = run_cli("anchor", "--node", server.url, "--api-key-file", server.api_key_file, env=env)
        assert idle.returncode == 0 and "nothing new to anchor" in idle.stdout, describe(idle)
        started = time.monotonic()
        first = run_cli("ingest", tree, *common, "--journal", tmp / "journal-1.jsonl", env=env)
        ingest_seconds = time.monotonic() - started
        again = run_cli("ingest", tree, *common, "--journal", tmp / "journal-1.jsonl", env=env)
        fresh = run_cli("ingest", tree, *common, "--journal", tmp / "journal-2.jsonl", env=env)
        anchored = run_cli("anchor", "--node", server.url, "--api-key-file", server.api_key_file, env=env)
        assert anchored.returncode == 0, describe(anchored)
        items = all_items(server.client())
        trust_file = tmp / "trust.json"
        exported = run_cli("trust", "export", "-o", trust_file, "--data-dir", data, env=env)
        assert exported.returncode == 0, describe(exported)
        trust = load_trust_root_file(trust_file)
        assert trust.chain_id == CHAIN_ID and trust.anchor_address == contract_address(data).lower()
        yield Archive(
            server=server, env=env, tmp=tmp, rpc_url=ganache_url, contract=contract_address(data),
            files=files, items=items, ingest_runs=[first, again, fresh], anchor_run=anchored,
            ingest_seconds=ingest_seconds, trust_file=trust_file, trust=trust,
        )  # fmt: skip
    finally:
        server.stop()
        print(f"--- server log tail ({server.log_path})\n{server.log_tail()}")


# -- the happy path -----------------------------------------------------------------------------


def test_batch_ingest_through_the_cli_is_idempotent(archive: Archive) -> None:
    first, again, fresh = archive.ingest_runs
    for run in (first, again, fresh):
        assert run.returncode == 0, describe(run)
    assert f"ingested {N_ITEMS}, skipped 0" in first.stdout, describe(first)
    # The journal lets a re-run skip every file without uploading it ...
    assert f"ingested 0, skipped {N_ITEMS}" in again.stdout, describe(again)
    assert "0.0 MB uploaded" in again.stdout
    # ... and without the journal, the node's dedupe (fonds + content hash + source path) does.
    assert f"ingested 0, skipped {N_ITEMS}" in fresh.stdout, describe(fresh)
    print(f"ingest of {N_ITEMS} files took {archive.ingest_seconds:.1f}s")

    items = archive.items
    assert len(items) == N_ITEMS
    assert len({i["id"] for i in items}) == N_ITEMS
    assert sorted(i["source_path"] for i in items) == sorted(archive.files)
    assert Counter(i["fonds"] for i in items) == {"Z001": 600, "Z002": 400}
    for fonds in FONDS:  # leaves 0..n-1 of each log, each used once
        indexes = sorted(i["leaf_index"] for i in items if i["fonds"] == fonds)
        assert indexes == list(range(len(indexes)))
    for item in items:
        data = archive.original(item)
        assert item["content_sha256"] == hashlib.sha256(data).hexdigest()
        assert item["size"] == len(data)
    # Metadata from the sidecars, Chinese text and retention aliases included.
    item = archive.by_source("档案/会计/凭证/会议纪要-00012.txt")
    assert (item["fonds"], item["title"], item["category"], item["year"], item["retention"]) == (
        "Z002", "第12号 会议纪要", "KJ", 2021, "30y",
    )  # fmt: skip
    assert item["filename"] == "会议纪要-00012.txt"


def test_every_proof_verifies_against_the_chain(archive: Archive) -> None:
    anchored = archive.anchor_run.stdout
    # the two fonds' logs and their audit logs ("<fonds>/audit": the ingest events), in one transaction
    assert "anchored 4 log(s) in tx 0x" in anchored, anchored
    tx_hash = anchored.split(" in tx ", 1)[1].split()[0]

    client = archive.server.client()
    bundles = {}
    for item in archive.items:
        answer = client.get(f"/items/{item['id']}/proof")
        assert answer.status_code == 200, answer.text
        bundles[item["id"]] = answer.json()

    def check(item: dict[str, Any]) -> tuple[str, VerificationResult]:
        return item["id"], archive.verify(bundles[item["id"]], archive.original(item))  # the trust root's contract

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(pool.map(check, archive.items))
    print(f"verified {len(results)} bundles against ganache in {time.monotonic() - started:.1f}s")
    failures = {k: r.to_dict() for k, r in results.items() if r.outcome != "authentic"}
    assert not failures, json.dumps(dict(list(failures.items())[:3]), indent=1, ensure_ascii=False)

    sizes = Counter(i["fonds"] for i in archive.items)
    for item in archive.items:
        bundle = bundles[item["id"]]
        assert bundle["record"]["item_id"] == item["id"]
        assert bundle["leaf_index"] == item["leaf_index"]
        assert bundle["tree_size"] == sizes[item["fonds"]]  # one checkpoint per log covers the batch
        assert bundle["log_id"] == log_id_for_fonds(item["fonds"]).hex()
        assert bundle["anchor"]["tx_hash"] == tx_hash  # both logs in one anchorMany transaction
        assert bundle["anchor"]["chain_id"] == CHAIN_ID
    for fonds in FONDS:
        roots = {b["root"] for b in bundles.values() if b["log_id"] == log_id_for_fonds(fonds).hex()}
        assert len(roots) == 1
        on_chain = root_on_chain(archive.rpc_url, archive.contract, log_id_for_fonds(fonds), sizes[fonds])
        assert on_chain.hex() == roots.pop()


def test_cli_verify_status_and_node_verify(archive: Archive) -> None:
    env, server, tmp = archive.env, archive.server, archive.tmp
    item = archive.by_source("档案/文书/2019/会议纪要-00000.txt")
    original = tmp / "tree" / "档案" / "文书" / "2019" / "会议纪要-00000.txt"
    proof_file = tmp / "proof-00000.json"
    fetched = run_cli("proof", item["id"], "--node", server.url, "--out", proof_file, env=env)
    assert fetched.returncode == 0, describe(fetched)

    trust = ("--trust", archive.trust_file)
    ok = run_cli("verify", original, "--proof", proof_file, *trust, "--rpc", archive.rpc_url, env=env)
    assert ok.returncode == 0, describe(ok)
    assert "AUTHENTIC" in ok.stdout
    as_json = run_cli("verify", original, "--proof", proof_file, "--rpc", archive.rpc_url, "--json",
                      env={**env, "ARCHIVE_LEDGER_TRUST": str(archive.trust_file)})  # fmt: skip
    assert as_json.returncode == 0, describe(as_json)
    assert json.loads(as_json.stdout)["outcome"] == "authentic"
    untrusted = run_cli("verify", original, "--proof", proof_file, "--rpc", archive.rpc_url, env=env)
    assert untrusted.returncode == 2 and "no_trust_root" in untrusted.stdout + untrusted.stderr, describe(untrusted)

    other = tmp / "tree" / "档案" / "文书" / "2019" / "doc-00005.pdf"  # another archived file
    wrong = run_cli("verify", other, "--proof", proof_file, *trust, "--rpc", archive.rpc_url, "--json", env=env)
    assert wrong.returncode == 1, describe(wrong)
    assert json.loads(wrong.stdout)["reason_code"] == "content_mismatch"

    status = run_cli("status", "--node", server.url, "--api-key-file", server.api_key_file, env=env)
    assert status.returncode == 0, describe(status)
    assert "fonds Z001: 600 records, 600 anchored, 0 pending" in status.stdout, status.stdout
    assert "fonds Z002: 400 records, 400 anchored, 0 pending" in status.stdout, status.stdout

    again = run_cli("anchor", "--node", server.url, "--api-key-file", server.api_key_file, env=env)
    assert again.returncode == 0, describe(again)
    assert "nothing new to anchor" in again.stdout

    # The node's own verifier agrees (by digest, no upload).
    body = {"bundle": json.loads(proof_file.read_text(encoding="utf-8")), "content_sha256": item["content_sha256"]}
    answer = server.client().post("/verify", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["outcome"] == "authentic"


# -- tampering ----------------------------------------------------------------------------------


def _failed(result: VerificationResult, step: str, reason: str) -> None:
    assert result.outcome == "not_authentic", result.to_dict()
    assert (result.failed_step, result.reason_code) == (step, reason), result.to_dict()


def test_tampered_stored_file_fails_content_check(archive: Archive) -> None:
    item = archive.by_source("档案/photos/doc-00008.pdf")
    blob = archive.server.data_dir / "blobs" / item["content_sha256"][:2] / item["content_sha256"][2:4]
    blob = blob / item["content_sha256"]
    assert blob.read_bytes() == archive.original(item)
    client = archive.server.client()
    bundle = archive.proof(item["id"])
    saved = blob.read_bytes()
    try:
        blob.write_bytes(saved.replace(b"e2e file", b"E2E FILE"))  # same size, other bytes
        downloaded = client.get(f"/items/{item['id']}/content")
        assert downloaded.status_code == 200
        assert downloaded.headers["x-content-sha256"] == item["content_sha256"]  # what the node claims
        assert downloaded.content != archive.original(item)
        _failed(archive.verify(bundle, downloaded.content), "content_hash", "content_mismatch")

        # The CLI says so too, with exit code 1.
        (archive.tmp / "download.pdf").write_bytes(downloaded.content)
        (archive.tmp / "bundle-00008.json").write_text(json.dumps(bundle), encoding="utf-8")
        cli = run_cli(
            "verify", archive.tmp / "download.pdf", "--proof", archive.tmp / "bundle-00008.json",
            "--trust", archive.trust_file, "--rpc", archive.rpc_url, "--json", env=archive.env,
        )  # fmt: skip
        assert cli.returncode == 1, describe(cli)
        assert json.loads(cli.stdout)["reason_code"] == "content_mismatch"
    finally:
        blob.write_bytes(saved)
    assert archive.verify(bundle, client.get(f"/items/{item['id']}/content").content).outcome == "authentic"


def test_tampered_database_record_fails(archive: Archive) -> None:
    item = archive.by_source("档案/文书/2020/doc-00001.pdf")
    db_path = archive.server.data_dir / "node.db"
    where = 'log_pk = (SELECT id FROM logs WHERE fonds_code = ?) AND "index" = ?'
    key = (item["fonds"], item["leaf_index"])
    with sqlite3.connect(db_path, timeout=30) as db:
        saved_record, saved_leaf = db.execute(
            f"SELECT record, leaf_hash FROM log_entries WHERE {where}", key
        ).fetchone()
    record = json.loads(saved_record)
    assert record["item_id"] == item["id"]
    forged = {**record, "size": record["size"] + 1}
    forged_text = canonical_bytes(forged).decode("utf-8")
    original = archive.original(item)

    def update(record_text: str, leaf: bytes) -> None:
        with sqlite3.connect(db_path, timeout=30) as db:
            changed = db.execute(
                f"UPDATE log_entries SET record = ?, leaf_hash = ? WHERE {where}", (record_text, leaf, *key)
            ).rowcount
            assert changed == 1

    try:
        # Only the stored record edited: the node serves it with the leaf hash it stored at append
        # time, and the record no longer hashes to that leaf.
        update(forged_text, saved_leaf)
        bundle = archive.proof(item["id"])
        assert bundle["record"]["size"] == record["size"] + 1
        assert bundle["leaf_hash"] == bytes(saved_leaf).hex()
        _failed(archive.verify(bundle, original), "record", "record_tampered")

        # Record and its leaf hash edited together: the record is self-consistent, but the path of
        # sibling hashes (from the untouched tree) no longer leads to the anchored root.
        update(forged_text, record_leaf_hash(forged))
        bundle = archive.proof(item["id"])
        assert bundle["leaf_hash"] == record_leaf_hash(forged).hex()
        _failed(archive.verify(bundle, original), "inclusion", "bad_inclusion_path")
    finally:
        update(saved_record, saved_leaf)
    assert archive.verify(archive.proof(item["id"]), original).outcome == "authentic"


def test_tampered_bundle_fails(archive: Archive) -> None:
    item = archive.by_source("档案/科技档案/图纸/doc-00004.pdf")
    original = archive.original(item)
    bundle = archive.proof(item["id"])
    assert archive.verify(bundle, original).outcome == "authentic"

    # One hash of the inclusion path flipped.
    path = list(bundle["inclusion_path"])
    assert path, "a 600-leaf tree has a non-empty path"
    path[-1] = bytes(b ^ 0x01 for b in bytes.fromhex(path[-1])).hex()
    bad_path = {**bundle, "inclusion_path": path}
    _failed(archive.verify(bad_path, original), "inclusion", "bad_inclusion_path")

    # The path edited and the root recomputed to match it: consistent offline, but not what the
    # contract holds for this log at this size.
    forged_root = merkle.root_from_inclusion_proof(
        bundle["leaf_index"], bundle["tree_size"], bytes.fromhex(bundle["leaf_hash"]),
        [bytes.fromhex(h) for h in path],
    )  # fmt: skip
    consistent = {**bad_path, "root": forged_root.hex()}
    assert verify_bundle(consistent, content=original, trust=archive.trust).step("inclusion").ok is True
    _failed(archive.verify(consistent, original), "chain", "root_not_on_chain")

    # A record field edited in the bundle (leaf hash left alone).
    forged_record = {**bundle["record"], "size": bundle["record"]["size"] + 1}
    _failed(archive.verify({**bundle, "record": forged_record}, original), "record", "record_tampered")

    # A record and its leaf hash edited together.
    both = {**bundle, "record": forged_record, "leaf_hash": record_leaf_hash(forged_record).hex()}
    _failed(archive.verify(both, original), "inclusion", "bad_inclusion_path")


def test_wrong_chain_and_unreachable_chain(archive: Archive) -> None:
    item = archive.by_source("档案/会计/凭证/doc-00002.pdf")
    original = archive.original(item)
    bundle = archive.proof(item["id"])

    # A trust root pinned for chain 4242 (or another genesis) against this node's chain: not the trusted chain.
    moved = {**bundle, "anchor": {**bundle["anchor"], "chain_id": 4242}}
    _failed(archive.verify(moved, original, trust=replace(archive.trust, chain_id=4242)), "chain", "wrong_chain")
    other_genesis = replace(archive.trust, genesis_hash="0x" + "00" * 32)
    _failed(archive.verify(bundle, original, trust=other_genesis), "chain", "wrong_chain")
    _failed(archive.verify(moved, original), "chain", "contract_untrusted")  # the bundle's chain is not trusted
    elsewhere = {**bundle, "anchor": {**bundle["anchor"], "contract": "0x" + "11" * 20}}
    _failed(archive.verify(elsewhere, original), "chain", "contract_untrusted")

    file = archive.tmp / "doc-00002.pdf"
    file.write_bytes(original)
    proof_file = archive.tmp / "bundle-00002.json"
    proof_file.write_text(json.dumps(moved), encoding="utf-8")
    wrong_id = run_cli(
        "verify", file, "--proof", proof_file, "--trust", archive.trust_file, "--rpc", archive.rpc_url, "--json",
        env=archive.env,
    )  # fmt: skip
    assert wrong_id.returncode == 1, describe(wrong_id)
    assert json.loads(wrong_id.stdout)["reason_code"] == "contract_untrusted"
    proof_file.write_text(json.dumps(bundle), encoding="utf-8")

    down = closed_port_url()
    result = verify_bundle(bundle, content=original, trust=archive.trust, chains=(JsonRpcChain(down, timeout=5),))
    assert result.outcome == "indeterminate" and result.reason_code == "chain_unreachable", result.to_dict()
    cli = run_cli("verify", file, "--proof", proof_file, "--trust", archive.trust_file, "--rpc", down, env=archive.env)
    assert cli.returncode == 2, describe(cli)
    assert "INDETERMINATE" in cli.stdout
