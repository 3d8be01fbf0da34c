"""The extraction job: the text of every item, extracted in the background and kept in `item_texts`.

Uploading never waits for it: ingest and filing only add items; the scheduled job (node/app.py,
`extraction_interval_s`) finds items with no `item_texts` row or one still `pending`, oldest first, in
small batches, and extracts each (node/search/extract.py). Per item:

1. the attempt is recorded first (a `pending` row, `attempts` + 1, committed), so an item whose
   extraction kills the process is not retried forever: after `extraction_max_attempts` attempts it
   is `failed` ("gave up after N attempts");
2. the extraction runs outside any transaction, in a scratch directory under <data>/tmp;
3. the result is written in one transaction: status (done / skip / failed), method, text and its
   SHA-256, pages, OCR pages, message and `extracted_at` (the search index follows `extracted_at`).

A bad or hostile file fails at once (the same bytes fail again); an error of the node itself (the
blob cannot be read) leaves the item `pending` with the error as its message, tried again in a later
pass until the attempts run out. A pass stops after `extraction_max_run_s`; a crash or restart simply
resumes with the items still pending. Items skipped because OCR was missing are queued again once
OCR is installed (the probe runs when the node starts).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from node.core.blobstore import BlobStore
from node.core.errors import ExtractionBusy
from node.core.models import Item, ItemText, TextStatus, utcnow
from node.search.extract import Bounds, Extracted, extract
from node.search.ocr import Ocr

logger = logging.getLogger(__name__)

GAVE_UP = "gave_up"  # reason code: the item's extraction was started max_attempts times and never finished
BLOB_MISSING = "blob_missing"


@dataclass
class PassReport:
    started_at: str
    finished_at: str | None = None
    items: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    retry: int = 0  # errors of the node itself: still pending, tried again later
    seconds: float = 0.0
    complete: bool = False  # nothing left pending when the pass ended
    errors: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Extractor:
    """Runs extraction passes over the node's items; one pass at a time per node."""

    def __init__(
        self, sessions: sessionmaker[Session], reader: sessionmaker[Session], blobs: BlobStore, settings: Any,
        *, ocr: Ocr | None = None, clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.sessions, self.reader, self.blobs, self.settings = sessions, reader, blobs, settings
        self.ocr = ocr if ocr is not None else Ocr(languages=settings.extraction_ocr_languages)
        self.bounds = Bounds.from_settings(settings)
        self.clock = clock
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.last_run: PassReport | None = None
        self._requeued_for_ocr = False

    # -- a pass ----------------------------------------------------------------------------------------
    def run(self, *, max_items: int | None = None, max_seconds: float | None = None) -> PassReport:
        """Extract pending items until none is left, `max_items` were done or `max_seconds` passed."""
        if not self._lock.acquire(blocking=False):
            raise ExtractionBusy("an extraction pass is running")
        try:
            return self._run(max_items, max_seconds)
        finally:
            self._lock.release()

    def _run(self, max_items: int | None, max_seconds: float | None) -> PassReport:
        settings = self.settings
        report = PassReport(started_at=_now_iso())
        start = self.clock()
        deadline = start + (max_seconds if max_seconds is not None else settings.extraction_max_run_s)
        if not self._requeued_for_ocr and self.ocr.available:
            self.requeue_ocr_skips()
        tried: set[str] = set()  # items left pending by an error in this pass: not again before the next
        while True:
            batch = self.pending(settings.extraction_batch, exclude=tried)
            if not batch:
                report.complete = True
                break
            stop = False
            for item_id, content_sha256 in batch:
                outcome = self.extract_item(item_id, content_sha256)
                report.items += 1
                if outcome.status == TextStatus.PENDING:
                    tried.add(item_id)
                    report.retry += 1
                else:
                    key = {TextStatus.DONE: "done", TextStatus.SKIPPED: "skipped"}.get(outcome.status, "failed")
                    setattr(report, key, getattr(report, key) + 1)
                if outcome.status in (TextStatus.FAILED, TextStatus.PENDING):
                    report.errors = [*report.errors[-9:], {"item_id": item_id, "message": outcome.message}]
                if (max_items is not None and report.items >= max_items) or self.clock() >= deadline:
                    stop = True
                    break
            if stop:
                break
        report.finished_at, report.seconds = _now_iso(), round(self.clock() - start, 3)
        self.last_run = report
        return report

    def pending(self, limit: int, *, exclude: set[str] | None = None) -> list[tuple[str, str]]:
        """(item id, content SHA-256) of the oldest items with no text row or a pending one."""
        with self.reader() as s:
            query = (
                select(Item.id, Item.content_sha256)
                .outerjoin(ItemText, ItemText.item_id == Item.id)
                .where(or_(ItemText.item_id.is_(None), ItemText.status == TextStatus.PENDING))
                .order_by(Item.created_at, Item.id)
                .limit(limit)
            )
            if exclude:
                query = query.where(Item.id.not_in(sorted(exclude)))
            return [(row[0], row[1]) for row in s.execute(query)]

    # -- one item --------------------------------------------------------------------------------------
    def extract_item(self, item_id: str, content_sha256: str) -> Extracted:
        """Extract one item and record the outcome (see the module docstring for the three steps)."""
        max_attempts = self.settings.extraction_max_attempts
        with self.sessions() as s, s.begin():
            row = s.get(ItemText, item_id)
            if row is None:
                row = ItemText(item_id=item_id, status=TextStatus.PENDING, text="", pages=0, ocr_pages=0,
                               attempts=0, message="", queued_at=utcnow())  # fmt: skip
                s.add(row)
            if row.attempts >= max_attempts:
                gave_up = Extracted(TextStatus.FAILED, None, message=f"{GAVE_UP}: extraction was started "
                                    f"{row.attempts} time(s) and never finished (the node stopped or crashed "
                                    f"during it; last error: {row.message or 'none'})")  # fmt: skip
                _record(row, gave_up)
                return gave_up
            row.attempts += 1
        path = self.blobs.path_for(content_sha256)
        work = Path(tempfile.mkdtemp(prefix="extract-", dir=self._scratch()))
        try:
            if not path.exists():
                outcome = Extracted(TextStatus.FAILED, None, message=f"{BLOB_MISSING}: the stored file is missing")
            else:
                outcome = extract(path, self.bounds, self.ocr, work, clock=self.clock)
        except Exception as exc:  # the node's own error (I/O): keep it pending, try again later
            outcome = Extracted(TextStatus.PENDING, None, message=f"{type(exc).__name__}: {exc}".replace(
                str(path), path.name)[:2000])  # fmt: skip
            logger.warning("extraction of item %s failed, will retry: %s", item_id, outcome.message)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        with self.sessions() as s, s.begin():
            row = s.get(ItemText, item_id)
            assert row is not None
            if outcome.status == TextStatus.PENDING:
                row.message = outcome.message
            else:
                _record(row, outcome)
        return outcome

    def _scratch(self) -> Path:
        base = self.settings.tmp_dir
        base.mkdir(parents=True, exist_ok=True)
        return base

    def requeue_ocr_skips(self) -> int:
        """Items skipped for want of OCR, queued again now that OCR is installed."""
        with self.sessions() as s, s.begin():
            n = s.execute(
                update(ItemText)
                .where(ItemText.status == TextStatus.SKIPPED, ItemText.method == "ocr")
                .values(status=TextStatus.PENDING, attempts=0, message="queued again: OCR is installed now")
            ).rowcount
        self._requeued_for_ocr = True
        return n or 0

    def job(self) -> None:
        """The scheduled job: one pass; a pass already running makes it skip."""
        try:
            self.run()
            self.last_error = None
        except ExtractionBusy:
            return
        except Exception as exc:  # keep the scheduler alive; say so in /status
            self.last_error = f"{type(exc).__name__}: {exc}"
            logger.exception("extraction pass failed")


def _record(row: ItemText, outcome: Extracted) -> None:
    """A terminal outcome on the row: everything the index reads, with `extracted_at` (its watermark)."""
    row.status = outcome.status
    row.method = outcome.method
    row.text = outcome.text
    row.text_sha256 = hashlib.sha256(outcome.text.encode("utf-8")).hexdigest()
    row.pages, row.ocr_pages, row.message = outcome.pages, outcome.ocr_pages, outcome.message
    row.extracted_at = utcnow()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


# -- GET /status and `search status` -------------------------------------------------------------------------
def status_section(
    s: Session, extractor: Extractor | None, settings: Any, *, ocr: Ocr | None = None,
    fonds: frozenset[str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The `extraction` part of GET /status: items per text status (a fonds-limited caller's: of its
    fonds), OCR availability with the install hint, the last failures and the last pass."""
    scope = (lambda q: q) if fonds is None else (lambda q: q.where(Item.fonds_code.in_(sorted(fonds))))
    total = s.scalar(scope(select(func.count()).select_from(Item))) or 0
    by_status = select(ItemText.status, func.count()).join(Item, Item.id == ItemText.item_id).group_by(ItemText.status)
    counts: dict[str, int] = {status: n for status, n in s.execute(scope(by_status)).all()}
    done, skipped, failed = (counts.get(k, 0) for k in (TextStatus.DONE, TextStatus.SKIPPED, TextStatus.FAILED))
    failures = s.execute(scope(
        select(ItemText.item_id, ItemText.message, ItemText.extracted_at, ItemText.status, ItemText.attempts)
        .join(Item, Item.id == ItemText.item_id)
        .where(or_(ItemText.status == TextStatus.FAILED,
                   (ItemText.status == TextStatus.PENDING) & (ItemText.message != "") & (ItemText.attempts > 0)))
        .order_by(ItemText.extracted_at.desc(), ItemText.item_id).limit(10)
    )).all()  # fmt: skip
    ocr = ocr or (extractor.ocr if extractor is not None else None)
    ocr_status = ocr.status if ocr is not None else None
    return {
        "enabled": settings.extraction_enabled, "interval_s": settings.extraction_interval_s,
        "total": total, "done": done, "pending": total - done - skipped - failed, "skipped": skipped,
        "failed": failed,
        "ocr": {"available": bool(ocr_status and ocr_status.available), "languages": settings.extraction_ocr_languages,
                "message": ocr_status.message if ocr_status else None},
        "last_errors": [{"item_id": r[0], "status": r[3], "attempts": r[4], "message": r[1],
                         "at": r[2].isoformat() if r[2] else None} for r in failures],
        "last_run": extractor.last_run.to_dict() if extractor and extractor.last_run else None,
        "last_error": extractor.last_error if extractor else None,
    }  # fmt: skip
