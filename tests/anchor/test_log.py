"""The SQL-stored Merkle log: appends, roots, proofs at every size, persistence across restarts."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from anchor.db import make_engine, make_session_factory, transaction
from anchor.log import LogNotFound, MerkleLog, TreeSizeError
from node.core.db import migrate
from verifier.merkle import EMPTY_ROOT, root_of, verify_consistency, verify_inclusion
from verifier.records import canonical_bytes, new_record, record_leaf_hash


def _record(i: int) -> dict:
    from datetime import UTC, datetime

    return new_record(
        type="item.ingested", fonds="Z001", item_id=f"{i:032x}", content_sha256=f"{i:064x}",
        size=i, metadata_sha256="ab" * 32, time=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip


@pytest.fixture
def sessions(tmp_path: Path):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'log.db'}"
    migrate(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def test_every_root_and_proof_matches_the_oracle(sessions) -> None:  # type: ignore[no-untyped-def]
    n = 70
    records = [_record(i) for i in range(n)]
    leaves = [record_leaf_hash(r) for r in records]
    with transaction(sessions) as s:
        for i, r in enumerate(records):
            appended = MerkleLog(s).append("Z001", r)
            assert appended.index == i and appended.leaf_hash == leaves[i]
    with sessions() as s:
        merkle = MerkleLog(s)
        log = merkle.by_fonds("Z001")
        assert log.size == n
        for size in range(1, n + 1):
            root = merkle.root(log, size)
            assert root == root_of(leaves[:size])
            for index in range(size):
                verify_inclusion(index, size, leaves[index], merkle.inclusion_proof(log, index, size), root)
            for size1 in range(1, size + 1):
                proof = merkle.consistency_proof(log, size1, size)
                verify_consistency(size1, size, root_of(leaves[:size1]), root, proof)
        assert merkle.record(log, 5) == records[5]


def test_log_survives_restart_and_keeps_growing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    migrate(url)
    leaves = []
    for round_ in range(3):
        engine = make_engine(url)
        factory = make_session_factory(engine)
        with transaction(factory) as s:
            for i in range(round_ * 10, round_ * 10 + 10):
                leaves.append(MerkleLog(s).append("Z001", _record(i)).leaf_hash)
        engine.dispose()
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        merkle = MerkleLog(s)
        log = merkle.by_fonds("Z001")
        assert log.size == 30 and merkle.root(log) == root_of(leaves)
    engine.dispose()


def test_rolled_back_append_leaves_no_trace(sessions) -> None:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        MerkleLog(s).append("Z001", _record(0))
    with pytest.raises(RuntimeError), transaction(sessions) as s:
        MerkleLog(s).append("Z001", _record(1))
        raise RuntimeError("crash in the middle of an ingest")
    with transaction(sessions) as s:
        merkle = MerkleLog(s)
        assert merkle.by_fonds("Z001").size == 1
        assert merkle.append("Z001", _record(2)).index == 1


def test_logs_are_independent_per_fonds(sessions) -> None:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        merkle = MerkleLog(s)
        for i in range(5):
            merkle.append("Z001", _record(i))
        merkle.append("Z002", _record(99))
        assert merkle.by_fonds("Z002").size == 1
        assert merkle.by_fonds("Z001").log_id != merkle.by_fonds("Z002").log_id


def test_out_of_range_requests_are_refused(sessions) -> None:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        merkle = MerkleLog(s)
        for i in range(4):
            merkle.append("Z001", _record(i))
        log = merkle.by_fonds("Z001")
        with pytest.raises(TreeSizeError, match=r"^log Z001 has 4 leaves, not 5$"):
            merkle.root(log, 5)
        with pytest.raises(TreeSizeError, match=r"^leaf 4 is not in a tree of size 4$"):
            merkle.inclusion_proof(log, 4, 4)
        with pytest.raises(TreeSizeError, match=r"^cannot prove size 3 consistent with size 2$"):
            merkle.consistency_proof(log, 3, 2)
        with pytest.raises(LogNotFound, match=r"^no log for fonds 'Z009'$"):
            merkle.by_fonds("Z009")
        with pytest.raises(TreeSizeError, match=r"^log Z001 has no leaf 4$"):
            merkle.entry(log, 4)
        assert merkle.record(log, 3)["item_id"] == f"{3:032x}"



def test_the_empty_tree_and_trivial_proofs_of_a_grown_log(sessions) -> None:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        merkle = MerkleLog(s)
        for i in range(3):
            merkle.append("Z001", _record(i))
        log = merkle.by_fonds("Z001")
        assert merkle.root(log, 0) == EMPTY_ROOT
        assert merkle.consistency_proof(log, 0, 3) == merkle.consistency_proof(log, 2, 2) == []


def test_each_leaf_row_carries_its_record_type_and_item(sessions) -> None:  # type: ignore[no-untyped-def]
    """The log_entries columns records are looked up by: the record's type, and its item id when it has a
    textual one (an audit record has none; a record without a type is stored with an empty one)."""
    records = [_record(7), {"type": "audit.event", "seq": 1}, {"item_id": 5, "note": "no type"}]
    with transaction(sessions) as s:
        merkle = MerkleLog(s)
        for record in records:
            merkle.append("Z001", record)
        log = merkle.by_fonds("Z001")
        rows = [merkle.entry(log, i) for i in range(3)]
        expected = [("item.ingested", f"{7:032x}"), ("audit.event", None), ("", None)]
        assert [(r.type, r.item_id) for r in rows] == expected
        assert [r.record for r in rows] == [canonical_bytes(record).decode() for record in records]



def test_two_logs_never_lend_each_other_subtree_hashes(sessions) -> None:  # type: ignore[no-untyped-def]
    """Both logs have subtrees at the same (level, index): each root is built from its own log's nodes."""
    a = [_record(i) for i in range(7)]
    b = [_record(100 + i) for i in range(7)]
    with transaction(sessions) as s:
        merkle = MerkleLog(s)
        for ra, rb in zip(a, b, strict=True):
            merkle.append("Z001", ra)
            merkle.append("Z002", rb)
        for fonds, records in (("Z001", a), ("Z002", b)):
            log = merkle.by_fonds(fonds)
            assert merkle.root(log) == root_of([record_leaf_hash(r) for r in records])


def test_missing_subtree_hashes_are_reported_as_damage(sessions) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import delete

    from anchor import proofs
    from anchor.models import MerkleNode

    with transaction(sessions) as s:
        merkle = MerkleLog(s)
        for i in range(15):
            merkle.append("Z001", _record(i))
        log = merkle.by_fonds("Z001")
        cover = proofs.cover(0, 15)  # the root of 15 leaves needs these 4 subtrees (8 + 4 + 2 + 1)
        assert len(cover) == 4
        for node in cover:
            s.execute(delete(MerkleNode).where(MerkleNode.log_pk == log.id, MerkleNode.level == node.level,
                                               MerkleNode.index == node.index))  # fmt: skip
        with pytest.raises(TreeSizeError) as info:
            merkle.root(log, 15)
        assert str(info.value) == f"log storage lacks subtree hashes {cover[:3]}: database damaged?"


def test_random_large_sizes(sessions) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    n = 1500
    leaves = []
    with transaction(sessions) as s:
        merkle = MerkleLog(s)
        for i in range(n):
            leaves.append(merkle.append("Z001", _record(i)).leaf_hash)
    with sessions() as s:
        merkle = MerkleLog(s)
        log = merkle.by_fonds("Z001")
        for _ in range(40):
            size = rng.randint(1, n)
            index = rng.randrange(size)
            root = root_of(leaves[:size])
            verify_inclusion(index, size, leaves[index], merkle.inclusion_proof(log, index, size), root)
            size1 = rng.randint(1, size)
            verify_consistency(
                size1, size, root_of(leaves[:size1]), root, merkle.consistency_proof(log, size1, size)
            )


def test_readers_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    """A proof or listing must not queue behind an open ingest transaction (SQLite WAL snapshot)."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    migrate(url)
    engine = make_engine(url)
    writer, reader = make_session_factory(engine), make_session_factory(engine, readonly=True)
    with transaction(writer) as s:
        MerkleLog(s).append("Z001", _record(0))
    with writer() as w, w.begin():
        MerkleLog(w).append("Z001", _record(1))  # holds the write lock, not committed yet
        with reader() as r:
            assert MerkleLog(r).by_fonds("Z001").size == 1  # the committed snapshot, at once
    with reader() as r:
        assert MerkleLog(r).by_fonds("Z001").size == 2
    engine.dispose()


def test_append_many_is_many_appends_and_logs_are_found_by_id(sessions) -> None:  # type: ignore[no-untyped-def]
    from anchor.log import LogNotFound
    from verifier.records import log_id_for_fonds

    records = [_record(i) for i in range(5)]
    with transaction(sessions) as s:
        merkle = MerkleLog(s)
        merkle.append("Z001", records[0])
        leaves = merkle.append_many("Z001", records[1:])
        assert [leaf.index for leaf in leaves] == [1, 2, 3, 4]
        assert [leaf.leaf_hash for leaf in leaves] == [record_leaf_hash(r) for r in records[1:]]
        assert {leaf.log_id for leaf in leaves} == {log_id_for_fonds("Z001")}
        assert merkle.append_many("Z002", []) == [] and merkle.by_fonds("Z002").size == 0
    with sessions() as s:
        merkle = MerkleLog(s)
        log = merkle.by_log_id(log_id_for_fonds("Z001"))
        assert log.fonds_code == "Z001" and log.size == 5
        assert merkle.root(log, 5) == root_of([record_leaf_hash(r) for r in records])
        assert merkle.by_log_id(log_id_for_fonds("Z002")).fonds_code == "Z002"
        missing = log_id_for_fonds("Z999")
        with pytest.raises(LogNotFound, match=f"^no log with id {missing.hex()}$"):
            merkle.by_log_id(missing)
