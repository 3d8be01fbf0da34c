"""Search over the archive (issue 10): keeping the index in step with the database, answering a query
with what the caller may see, and the audit trail of searches (docs/design.md, "Search").

The index is derived data in `<data>/search/<generation>/` (CURRENT names the generation in use). Its
`state.json` records what it covers: per Merkle log the next leaf index not yet applied, and the
`extracted_at` watermark of item_texts. `catch_up` applies what is newer (ingest and filing records,
metadata edits, arrangement moves; an item no longer in the items table is deleted, e.g. after
destruction) in bounded batches, committing the index before moving the watermark, so a crash at any
point only redoes work (re-adding a document replaces it). `rebuild` (`archive-ledger search reindex`)
builds a new generation from the tables, then switches CURRENT atomically.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from anchor.models import Log, LogEntry
from node.core.errors import InvalidInput
from node.core.models import Box, Item, ItemPlacement, ItemText, Loan, LoanItem, TextStatus, Volume
from node.core.principal import Principal
from node.core.roles import Action
from node.search.index import SCHEMA_VERSION, Doc, Filters, Hits, TantivyIndex, Visibility, remove_index_dir
from node.search.query import Node, highlight, needles_for, parse, positive_terms, snippet

logger = logging.getLogger(__name__)

AUDIT_LOG_SUFFIX = "/audit"
BATCH = 2000
TEXT_OVERLAP = timedelta(seconds=5)  # texts committed a little after a later one are not missed
MAX_LIMIT = 100
MAX_OFFSET = 10_000
SORTS = ("relevance", "date", "reference_code")
SEARCH_ACTION = "items:search"  # the audit action of a search (the route requires items:read)
META_FIELDS_SHOWN = ("title", "author", "doc_number", "keywords", "reference_code", "remarks")


# -- documents from the tables ---------------------------------------------------------------------------
def _first(md: dict[str, Any], *keys: str) -> str:
    extra = md.get("extra") if isinstance(md.get("extra"), dict) else {}
    for source in (md, extra):
        for key in keys:
            value = source.get(key)
            if isinstance(value, list):
                value = " ".join(str(v) for v in value)
            if value not in (None, "") and not isinstance(value, dict):
                return str(value)
    return ""


def _date(value: str, year: int) -> int:
    digits = re.sub(r"\D", "", value or "")
    if len(digits) >= 8:
        return int(digits[:8])
    if len(digits) == 6:
        return int(digits) * 100
    return year * 10000


_OPEN = {"open": "open", "开放": "open", "true": "open", "closed": "closed", "控制": "closed", "不开放": "closed",
         "false": "closed"}  # fmt: skip


def item_doc(item: Item, placement: ItemPlacement | None, volume: Volume | None, box: Box | None,
             text: str) -> Doc:  # fmt: skip
    """The index document of an item. Field names follow the filing schemes (responsible 责任者,
    document_number 文号, keywords 主题词, classification 密级, date) and POST /items' `extra`."""
    try:
        md = json.loads(item.metadata_json or "{}")
    except ValueError:
        md = {}
    md = md if isinstance(md, dict) else {}
    return Doc(
        id=item.id, fonds=item.fonds_code, category=item.category, year=item.year, retention=item.retention,
        title=item.title or "", author=_first(md, "responsible", "author", "责任者"),
        doc_number=_first(md, "document_number", "doc_number", "文号"), keywords=_first(md, "keywords", "主题词"),
        reference_code=item.archival_code or _first(md, "archival_code", "档号"),
        remarks=_first(md, "remarks", "备注"), date=_date(_first(md, "date", "日期", "成文日期"), item.year),
        classification=_first(md, "classification", "密级"),
        open=_OPEN.get(_first(md, "open_status", "开放状态", "open").strip().lower(), ""),
        box=[v for v in (box.id, box.code) if v] if box else [],
        volume=[v for v in (volume.id, volume.archival_code) if v] if volume else [],
        text=text,
    )  # fmt: skip


def load_docs(s: Session, ids: Iterable[str]) -> tuple[list[Doc], list[str]]:
    """(documents of the items that exist, ids that do not: to delete from the index)."""
    wanted = sorted(set(ids))
    docs: list[Doc] = []
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        items = s.scalars(select(Item).where(Item.id.in_(chunk))).all()
        placements = {p.item_id: p for p in s.scalars(select(ItemPlacement).where(ItemPlacement.item_id.in_(chunk)))}
        # by primary key only: a condition on status lets SQLite pick ix_item_texts_status and scan every text
        texts = {item_id: text for item_id, status, text in s.execute(
            select(ItemText.item_id, ItemText.status, ItemText.text).where(ItemText.item_id.in_(chunk)))
            if status == TextStatus.DONE}  # fmt: skip
        for item in items:
            p = placements.get(item.id)
            volume = s.get(Volume, p.volume_id) if p and p.volume_id else None
            box = s.get(Box, p.box_id) if p and p.box_id else None
            docs.append(item_doc(item, p, volume, box, texts.get(item.id) or ""))
            found.add(item.id)
    return docs, [i for i in wanted if i not in found]


# -- the index's state -------------------------------------------------------------------------------------
@dataclass
class IndexState:
    logs: dict[str, int] = field(default_factory=dict)  # log pk -> next leaf index to apply
    text_at: str | None = None  # item_texts.extracted_at watermark (as the database returns it)
    schema: int = SCHEMA_VERSION
    built_at: str | None = None

    @classmethod
    def load(cls, path: Path) -> IndexState:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls()
        return cls(logs={str(k): int(v) for k, v in data.get("logs", {}).items()}, text_at=data.get("text_at"),
                   schema=int(data.get("schema", 0)), built_at=data.get("built_at"))  # fmt: skip

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__, sort_keys=True))
        os.replace(tmp, path)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _as_db_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class SearchService:
    """The node's search: its index (one generation at a time), catch-up, rebuild and queries."""

    def __init__(self, root: Path, sessions: sessionmaker[Session], reader: sessionmaker[Session], *,
                 heap_bytes: int = 128_000_000, threads: int = 1) -> None:  # fmt: skip
        self.root, self.sessions, self.reader = root, sessions, reader
        self.heap_bytes, self.threads = heap_bytes, threads
        self._lock = threading.RLock()  # one writer (catch-up, rebuild) at a time in this process
        self._open_lock = threading.RLock()  # short: searches never wait for a catch-up
        self._index: TantivyIndex | None = None
        self._generation: str | None = None
        self._current_mtime: float | None = None
        self.audit = SearchAudit()

    # -- generations ----------------------------------------------------------------------------------------
    @property
    def current_file(self) -> Path:
        return self.root / "CURRENT"

    def _open(self) -> TantivyIndex:
        """The index of the current generation (reopened when another process switched it)."""
        with self._open_lock:
            self.root.mkdir(parents=True, exist_ok=True)
            try:
                mtime = self.current_file.stat().st_mtime
                generation = self.current_file.read_text().strip()
            except FileNotFoundError:
                generation, mtime = "g0", None
                (self.root / generation).mkdir(exist_ok=True)
                _write_atomic(self.current_file, generation)
                mtime = self.current_file.stat().st_mtime
            if self._index is None or generation != self._generation or mtime != self._current_mtime:
                self._index = TantivyIndex(self.root / generation / "index", heap_bytes=self.heap_bytes,
                                           threads=self.threads)  # fmt: skip
                self._generation, self._current_mtime = generation, mtime
            return self._index

    def _state_path(self) -> Path:
        self._open()
        assert self._generation is not None
        return self.root / self._generation / "state.json"

    def state(self) -> IndexState:
        return IndexState.load(self._state_path())

    # -- keeping up ------------------------------------------------------------------------------------------
    def catch_up(self, *, batch: int = BATCH) -> int:
        """Apply what the tables hold beyond the recorded position; returns how many documents changed.
        An index of an older schema is rebuilt."""
        with self._lock:
            index = self._open()
            state_path = self._state_path()
            state = IndexState.load(state_path)
            if state.schema != SCHEMA_VERSION:
                return self.rebuild()
            changed = 0
            with self.reader() as s:
                logs = s.execute(select(Log.id, Log.fonds_code, Log.size)).all()
            for log_pk, fonds, size in logs:
                key = str(log_pk)
                start = state.logs.get(key, 0)
                if fonds.endswith(AUDIT_LOG_SUFFIX):  # the audit trail's logs hold no items
                    state.logs[key] = size
                    continue
                while start < size:
                    with self.reader() as s:
                        rows = s.execute(
                            select(LogEntry.index, LogEntry.item_id)
                            .where(LogEntry.log_pk == log_pk, LogEntry.index >= start)
                            .order_by(LogEntry.index).limit(batch)
                        ).all()  # fmt: skip
                        if not rows:
                            break
                        ids = {r.item_id for r in rows if r.item_id}
                        # a volume.arranged record names the volume: its items are what the index holds
                        ids |= set(s.scalars(select(ItemPlacement.item_id).where(ItemPlacement.volume_id.in_(ids))))
                        changed += self._apply(index, s, ids)
                    start = rows[-1].index + 1
                    index.commit()
                    state.logs[key] = start
                    state.save(state_path)
            changed += self._catch_up_texts(index, state, state_path, batch)
            state.save(state_path)
            return changed

    def _catch_up_texts(self, index: TantivyIndex, state: IndexState, state_path: Path, batch: int) -> int:
        changed = 0
        since = _as_db_time(state.text_at)
        cursor: tuple[datetime, str] | None = (since - TEXT_OVERLAP, "") if since else None
        while True:
            with self.reader() as s:
                query = select(ItemText.item_id, ItemText.extracted_at).where(ItemText.extracted_at.is_not(None))
                if cursor is not None:
                    query = query.where(tuple_(ItemText.extracted_at, ItemText.item_id) > tuple_(*cursor))
                rows = s.execute(query.order_by(ItemText.extracted_at, ItemText.item_id).limit(batch)).all()
                if not rows:
                    return changed
                changed += self._apply(index, s, {r.item_id for r in rows})
            index.commit()
            cursor = (rows[-1].extracted_at, rows[-1].item_id)
            if since is None or cursor[0] > since:
                since = cursor[0]
                state.text_at = since.isoformat()
                state.save(state_path)

    @staticmethod
    def _apply(index: TantivyIndex, s: Session, ids: set[str]) -> int:
        if not ids:
            return 0
        docs, gone = load_docs(s, ids)
        index.delete(gone)
        return index.add(docs) + len(gone)

    def rebuild(self, *, batch: int = BATCH, progress: Callable[[int], None] | None = None,
                threads: int | None = None) -> int:  # fmt: skip
        """A new generation from the tables (items, placements, texts), switched to atomically; returns
        the number of documents. The position is read *before* the scan: what changes during it is
        applied again by the next catch-up."""
        with self._lock:
            generation = f"g{time.time_ns()}"
            target = self.root / generation
            target.mkdir(parents=True)
            index = TantivyIndex(target / "index", heap_bytes=self.heap_bytes, threads=threads or self.threads)
            state = IndexState(built_at=datetime.now(UTC).isoformat())
            with self.reader() as s:
                state.logs = {str(pk): size for pk, size in s.execute(select(Log.id, Log.size)).all()}
                latest = s.scalar(select(ItemText.extracted_at).where(ItemText.extracted_at.is_not(None))
                                  .order_by(ItemText.extracted_at.desc()).limit(1))  # fmt: skip
                state.text_at = latest.isoformat() if latest else None
            total, last = 0, ""
            while True:
                with self.reader() as s:
                    ids = list(s.scalars(select(Item.id).where(Item.id > last).order_by(Item.id).limit(batch)))
                    if not ids:
                        break
                    docs, _ = load_docs(s, ids)
                total += index.add(docs, fresh=True)
                last = ids[-1]
                if progress is not None:
                    progress(total)
            index.commit()
            state.save(target / "state.json")
            with self._open_lock:
                old = self._generation
                _write_atomic(self.current_file, generation)
                self._index = None
                self._open()
            for child in self.root.iterdir():
                if child.is_dir() and child.name != generation and (child.name == old or child.name.startswith("g")):
                    remove_index_dir(child)
            return total

    def job(self) -> None:
        """The scheduled catch-up (the first run also loads the segmenter's dictionary, ~0.7 s, so that the
        first search does not pay for it)."""
        try:
            parse("档案")
            self.catch_up()
        except Exception:
            logger.exception("search index catch-up failed (it is retried on the next run)")

    # -- querying ---------------------------------------------------------------------------------------------
    def search(
        self, visibility: Visibility, *, q: str = "", fonds: str | None = None, category: str | None = None,
        year_from: int | None = None, year_to: int | None = None, retention: str | None = None,
        classification: str | None = None, open: str | None = None, box: str | None = None,
        volume: str | None = None, sort: str = "relevance", limit: int = 20, offset: int = 0,
    ) -> dict[str, Any]:  # fmt: skip
        """The answer of GET /search: `{total, items: [...], facets}`; permissions are in `visibility`."""
        if sort not in SORTS:
            raise InvalidInput(f"sort must be one of {', '.join(SORTS)}", reason="invalid_sort")
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", reason="invalid_limit")
        if not 0 <= offset <= MAX_OFFSET:
            raise InvalidInput(f"offset must be between 0 and {MAX_OFFSET}", reason="invalid_offset")
        if year_from is not None and year_to is not None and year_from > year_to:
            raise InvalidInput("year_from is after year_to", reason="invalid_year_range")
        filters = Filters(
            fonds=_values(fonds), category=_values(category), year_from=year_from, year_to=year_to,
            retention=_retentions(retention), classification=_values(classification),
            open=_open_value(open), box=box or None, volume=volume or None,
        )  # fmt: skip
        tree = parse(q)
        index = self._open()
        hits = index.search(tree, filters, visibility, sort=sort, limit=limit, offset=offset)
        with self.reader() as s:
            docs = {d.id: d for d in load_docs(s, [item_id for item_id, _ in hits.hits])[0]}
        return present(hits, docs, tree, visibility)


def present(hits: Hits, docs: dict[str, Doc], tree: Node | None, visibility: Visibility) -> dict[str, Any]:
    """The answer for a page of hits: current catalogue values, highlights of the metadata, and a text
    snippet only for items whose content the caller may read."""
    terms = positive_terms(tree)
    items = []
    for item_id, score in hits.hits:
        doc = docs.get(item_id)
        if doc is None:
            continue  # gone since the index last caught up
        marks: dict[str, str] = {}
        for name in META_FIELDS_SHOWN:
            marked = highlight(getattr(doc, name), needles_for(terms, name))
            if marked is not None:
                marks[name] = marked
        if doc.text and visibility.may_read(doc.id, doc.fonds):  # text only to who may read the content
            text = snippet(doc.text, needles_for(terms, "text"))
            if text is not None:
                marks["text"] = text
        items.append({
            "id": doc.id, "reference_code": doc.reference_code or None, "title": doc.title, "fonds": doc.fonds,
            "year": doc.year, "category": doc.category, "retention": doc.retention,
            "score": round(score, 4) if score is not None else None, "highlights": marks,
        })  # fmt: skip
    return {"total": hits.total, "items": items, "facets": hits.facets}


def _values(value: str | None) -> frozenset[str] | None:
    """A filter of one value or several, comma-separated (None: no filter)."""
    if value is None or not value.strip():
        return None
    return frozenset(v.strip() for v in value.split(",") if v.strip())


def _retentions(value: str | None) -> frozenset[str] | None:
    from node.ingest.service import RETENTION_ALIASES

    values = _values(value)
    if values is None:
        return None
    return frozenset(RETENTION_ALIASES.get(v.lower(), v) for v in values)


def _open_value(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    found = _OPEN.get(value.strip().lower())
    if found is None:
        raise InvalidInput("open must be open (开放) or closed (控制)", reason="invalid_open")
    return found


# -- who sees what ---------------------------------------------------------------------------------------
def visibility_for(principal: Principal, permitted_items: Callable[[], frozenset[str]]) -> Visibility:
    """What `principal` may see: the catalogue of its fonds; the text of items it may read (holders of
    items:content: every visible item; a borrower: the items of valid permits now). Anyone else,
    and an officer (the system admin), gets no text at all."""
    if principal.may(Action.ITEMS_CONTENT):
        return Visibility(fonds=principal.fonds, content_all=True)
    if principal.kind == "user" and principal.may(Action.LOANS_REQUEST):
        return Visibility(fonds=principal.fonds, content_items=permitted_items())
    return Visibility(fonds=principal.fonds)


def borrower_items(ctx: Any, principal: Principal) -> frozenset[str]:
    """The items a borrower may read now: each candidate of an approved loan of theirs is checked by the
    same rule as GET /items/{id}/content (node/lending/access.py: loan effective, permit valid on chain)."""
    from node.lending.views import effective_status

    now = datetime.now(UTC)
    with ctx.reader() as s:
        rows = s.execute(
            select(Loan, LoanItem.item_id).join(LoanItem, LoanItem.loan_id == Loan.id)
            .where(Loan.borrower_id == principal.id, LoanItem.medium != "physical")
        ).all()  # fmt: skip
    candidates = {item_id for loan, item_id in rows if effective_status(loan, now).value == "APPROVED"}
    lending = ctx.lending()
    return frozenset(i for i in sorted(candidates) if lending.content_access(principal, i).allowed)


# -- the audit trail of searches ---------------------------------------------------------------------------
MAX_QUERIES_LISTED = 50
Event = tuple[Principal | None, str | None, dict[str, Any]]  # (who, from where, details)


@dataclass
class _Window:
    started: float
    first_at: str
    last_at: str = ""
    count: int = 0
    queries: dict[str, int] = field(default_factory=dict)
    principal: Principal | None = None
    ip: str | None = None


class SearchAudit:
    """Searches in the audit trail, aggregated per caller and window (`window_s`, one minute by default):
    the first search of a window is an event at once, with its query, filters and total; the others of the
    window become one event (`aggregated: true`, count, first and last time, the distinct queries with
    their counts) when the window is over (written at the caller's next search, by the scheduled search job
    and at shutdown). So a user paging through results is at most two events a minute, while who searched
    what stays in the trail (every event is a record of the audit log, so one per request would bloat it)."""

    def __init__(self, window_s: float = 60.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s, self.clock = window_s, clock
        self._windows: dict[tuple[str, str], _Window] = {}
        self._lock = threading.Lock()

    def add(self, principal: Principal, ip: str | None, details: dict[str, Any]) -> list[Event]:
        """Count one search; returns the events to write now."""
        now, stamp = self.clock(), datetime.now(UTC).isoformat()
        key = (principal.kind, principal.id)
        with self._lock:
            out = self._take(lambda w: now - w.started >= self.window_s)
            window = self._windows.get(key)
            if window is None:
                self._windows[key] = _Window(started=now, first_at=stamp, principal=principal, ip=ip)
                out.append((principal, ip, {**details, "aggregated": False}))
                return out
            window.count += 1
            window.last_at = stamp
            q = json.dumps({k: v for k, v in details.items() if k not in ("total",)}, ensure_ascii=False,
                           sort_keys=True)  # fmt: skip
            if q in window.queries or len(window.queries) < MAX_QUERIES_LISTED:
                window.queries[q] = window.queries.get(q, 0) + 1
            return out

    def _take(self, due: Callable[[_Window], bool]) -> list[Event]:
        out = []
        for key in [k for k, w in self._windows.items() if due(w)]:
            window = self._windows.pop(key)
            if window.count:
                queries = [{**json.loads(q), "count": n} for q, n in window.queries.items()]
                out.append((window.principal, window.ip, {
                    "method": "GET", "route": "/search", "aggregated": True, "count": window.count,
                    "first_at": window.first_at, "last_at": window.last_at, "queries": queries,
                    "queries_not_listed": window.count - sum(window.queries.values()),
                }))  # fmt: skip
        return out

    def due(self, *, everything: bool = False) -> list[Event]:
        now = self.clock()
        with self._lock:
            return self._take(lambda w: everything or now - w.started >= self.window_s)


def write_search_events(ctx: Any, events: list[Event]) -> None:
    from node.audit import service as audit

    for principal, ip, details in events:
        with ctx.sessions() as s, s.begin():
            audit.record_event(s, principal, SEARCH_ACTION, "/search", "ok", ip, details, None,
                               default_fonds=ctx.settings.default_fonds)  # fmt: skip


def build_search(ctx: Any) -> SearchService:
    service = SearchService(ctx.settings.data_dir / "search", ctx.sessions, ctx.reader)
    service.audit = SearchAudit(ctx.settings.search_audit_window_s)
    return service


def scheduled(ctx: Any) -> None:
    """The scheduled search job: catch the index up, write the search audit aggregates that are due."""
    service = ctx.search()
    service.job()
    try:
        write_search_events(ctx, service.audit.due())
    except Exception:
        logger.exception("could not write the aggregated search events")


def flush_audit(ctx: Any) -> None:
    """At shutdown: every pending search aggregate."""
    service = ctx.search_if_built()
    if service is not None:
        try:
            write_search_events(ctx, service.audit.due(everything=True))
        except Exception:
            logger.exception("could not write the aggregated search events")
