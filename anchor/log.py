"""The append-only Merkle log of one node, stored through SQLAlchemy.

Every perfect aligned subtree hash is stored when it completes, so appends cost O(1) amortised
rows and any root or proof is folded from O(log n) stored hashes fetched in one query.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, insert, or_, select
from sqlalchemy.orm import Session

from anchor import proofs
from anchor.errors import LogNotFound, TreeSizeError
from anchor.models import Log, LogEntry, MerkleNode
from anchor.proofs import NodeId
from verifier.merkle import EMPTY_ROOT, leaf_hash, node_hash
from verifier.records import canonical_bytes, log_id_for_fonds


@dataclass(frozen=True)
class AppendedLeaf:
    log_id: bytes
    index: int
    leaf_hash: bytes


class MerkleLog:
    """Log operations within the caller's session: appends commit with the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- logs -------------------------------------------------------------------------------
    def get_or_create(self, fonds_code: str) -> Log:
        log = self.session.scalar(select(Log).where(Log.fonds_code == fonds_code).with_for_update())
        if log is None:
            log = Log(fonds_code=fonds_code, log_id=log_id_for_fonds(fonds_code))  # size: the model's 0
            self.session.add(log)
            self.session.flush()
        return log

    def by_log_id(self, log_id: bytes) -> Log:
        log = self.session.scalar(select(Log).where(Log.log_id == log_id))
        if log is None:
            raise LogNotFound(f"no log with id {log_id.hex()}")
        return log

    def by_fonds(self, fonds_code: str) -> Log:
        log = self.session.scalar(select(Log).where(Log.fonds_code == fonds_code))
        if log is None:
            raise LogNotFound(f"no log for fonds {fonds_code!r}")
        return log

    def all_logs(self) -> list[Log]:
        return list(self.session.scalars(select(Log).order_by(Log.id)))

    # -- append -----------------------------------------------------------------------------
    def append(self, fonds_code: str, record: Mapping[str, object]) -> AppendedLeaf:
        """Append one record; its leaf and every subtree it completes are written in this session."""
        leaf = self.append_to(self.get_or_create(fonds_code), [record])[0]
        self.session.flush()
        return leaf

    def append_many(self, fonds_code: str, records: Iterable[Mapping[str, object]]) -> list[AppendedLeaf]:
        """Append records in order, as many `append` calls would, writing the same rows."""
        leaves = self.append_to(self.get_or_create(fonds_code), records)
        self.session.flush()
        return leaves

    def append_to(self, log: Log, records: Iterable[Mapping[str, object]]) -> list[AppendedLeaf]:
        """Append records to a log row already fetched with `get_or_create` (locked) in this session.

        The subtree hashes a batch needs from storage are the perfect cover of the current tree,
        fetched in one query; the rest are computed in memory and all rows go in two bulk INSERTs
        (Core, on the session's connection: no ORM unit of work on the hot ingest path). The new
        `log.size` is left to the caller's next flush (or the commit), so one flush covers it and the
        caller's own rows.
        """
        start = log.size
        known: dict[NodeId, bytes] = self._fetch(log.id, proofs.cover(0, start))  # nothing for an empty log
        entries: list[dict[str, object]] = []
        nodes: list[dict[str, object]] = []
        out: list[AppendedLeaf] = []
        for index, record in enumerate(records, start):
            data = canonical_bytes(record)
            leaf = leaf_hash(data)
            item_id = record.get("item_id")
            entries.append(
                {
                    "log_pk": log.id, "index": index, "record": data.decode("utf-8"), "leaf_hash": leaf,
                    "type": str(record.get("type", "")), "item_id": item_id if isinstance(item_id, str) else None,
                }
            )  # fmt: skip
            current = leaf
            known[NodeId(0, index)] = current
            nodes.append({"log_pk": log.id, "level": 0, "index": index, "hash": current})
            for lvl in range(_trailing_ones(index)):
                current = node_hash(known[NodeId(lvl, (index >> lvl) - 1)], current)
                parent = NodeId(lvl + 1, index >> (lvl + 1))
                known[parent] = current
                nodes.append({"log_pk": log.id, "level": parent.level, "index": parent.index, "hash": current})
            out.append(AppendedLeaf(log.log_id, index, leaf))
        if not out:
            return out
        conn = self.session.connection()
        conn.execute(_INSERT_ENTRY, entries)
        conn.execute(_INSERT_NODE, nodes)
        log.size = start + len(out)
        return out

    # -- reading ----------------------------------------------------------------------------
    def entry(self, log: Log, index: int) -> LogEntry:
        entry = self.session.get(LogEntry, (log.id, index))
        if entry is None:
            raise TreeSizeError(f"log {log.fonds_code} has no leaf {index}")
        return entry

    def record(self, log: Log, index: int) -> dict[str, object]:
        return json.loads(self.entry(log, index).record)

    def root(self, log: Log, size: int | None = None) -> bytes:
        size = log.size if size is None else size
        self._check_size(log, size)
        if size == 0:
            return EMPTY_ROOT
        return proofs.root(size, self._fetcher(log.id))

    def inclusion_proof(self, log: Log, index: int, size: int) -> list[bytes]:
        self._check_size(log, size)
        if not 0 <= index < size:
            raise TreeSizeError(f"leaf {index} is not in a tree of size {size}")
        return proofs.inclusion_proof(index, size, self._fetcher(log.id))

    def consistency_proof(self, log: Log, size1: int, size2: int) -> list[bytes]:
        self._check_size(log, size2)
        if not 0 <= size1 <= size2:
            raise TreeSizeError(f"cannot prove size {size1} consistent with size {size2}")
        return proofs.consistency_proof(size1, size2, self._fetcher(log.id))

    def _check_size(self, log: Log, size: int) -> None:
        if not 0 <= size <= log.size:
            raise TreeSizeError(f"log {log.fonds_code} has {log.size} leaves, not {size}")

    def _fetcher(self, log_pk: int):  # type: ignore[no-untyped-def]
        def fetch(ids: Iterable[NodeId]) -> Mapping[NodeId, bytes]:
            return self._fetch(log_pk, ids)

        return fetch

    def _fetch(self, log_pk: int, ids: Iterable[NodeId]) -> dict[NodeId, bytes]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        found: dict[NodeId, bytes] = {}
        for chunk_start in range(0, len(wanted), 400):
            by_level: dict[int, list[int]] = {}
            for n in wanted[chunk_start : chunk_start + 400]:
                by_level.setdefault(n.level, []).append(n.index)
            # One primary-key lookup per id: each OR branch names the whole key (log_pk, level, index).
            # A row-value `(level, index) IN (...)` or a shared `log_pk = ?` outside the OR makes
            # SQLite scan every node of the log instead, so a proof took O(n).
            # The statement depends only on how many levels are asked for: built once per count, with
            # bound parameters, so a fetch does not rebuild and re-key the SQL expression every time.
            params: dict[str, object] = {"log_pk": log_pk}
            for k, (level, indexes) in enumerate(by_level.items()):
                params[f"l{k}"], params[f"i{k}"] = level, indexes
            rows = self.session.execute(_fetch_statement(len(by_level)), params)
            found.update({NodeId(level, index): h for level, index, h in rows})
        missing = [n for n in wanted if n not in found]
        if missing:
            raise TreeSizeError(f"log storage lacks subtree hashes {missing[:3]}: database damaged?")
        return found


_INSERT_ENTRY = insert(LogEntry.__table__)
_INSERT_NODE = insert(MerkleNode.__table__)


@functools.cache
def _fetch_statement(levels: int):  # type: ignore[no-untyped-def]
    return select(MerkleNode.level, MerkleNode.index, MerkleNode.hash).where(
        or_(
            *(
                and_(
                    MerkleNode.log_pk == bindparam("log_pk"),
                    MerkleNode.level == bindparam(f"l{k}"),
                    MerkleNode.index.in_(bindparam(f"i{k}", expanding=True)),
                )
                for k in range(levels)
            )
        )
    )


def _trailing_ones(n: int) -> int:
    count = 0
    while n & 1:
        count += 1
        n >>= 1
    return count
