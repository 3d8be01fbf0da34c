"""Filing as a background job (issue 11, the archivist's web UI; docs/design.md "Web UI", filing).

Why: checking a transfer package (unpacking, hashing, ClamAV, the four-properties checks) takes as long
as the package is big; a browser must never wait on one long request for it. The upload request only
stores the package (streamed and bounded like POST /packages) under <data>/filing-jobs/<job>.zip, makes a
`filing_jobs` row and answers at once; one worker thread (one filing at a time, as Filer's lock makes
it anyway) runs the same `Filer.file` as the API and records its progress in the row (stage, items
checked of total), so a reload, another tab or another node page sees it.

Audit: one event per upload, as for POST /packages, with the action of the upload route. The request
hands its event to the job (`RequestAudit.part`, then `aggregated`: the middleware writes nothing), and
the worker writes it exactly where the API does: inside the filing transaction (FILED or REJECTED, the
job row marked DONE in the same transaction), or, when nothing is filed (a duplicate, an unreadable
package, a refused fonds, a failure), with the job's final state. A job a restart interrupted has no
worker any more: the next start marks it FAILED `job_interrupted` and writes its event then (failed), so
even then the upload is one event. All or none: a failed or rejected package files nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.audit import service as audit_service
from node.audit.request import RequestAudit, outcome_of
from node.core.errors import InvalidInput, NotFound, answer, redact_paths
from node.core.models import FilingJob
from node.core.principal import Principal, check_fonds
from node.filing.checks.package import PackageError

if TYPE_CHECKING:
    from node.core.context import NodeContext
    from node.filing.service import Filer

logger = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "QUEUED", "RUNNING", "DONE", "FAILED"
INTERRUPTED = "job_interrupted"  # reason code of a job a restart (or a crash) stopped
UPLOAD_ACTION = "items:ingest"  # the upload route's action (require("items:ingest"), as POST /packages)
UPLOAD_ROUTE = "/filing"
PROGRESS_EVERY_S = 0.25  # progress rows written at most this often (and at every stage change)


def job_view(row: FilingJob) -> dict[str, Any]:
    return {
        "id": row.id, "status": row.status, "stage": row.stage, "name": row.name, "size": row.size,
        "items_total": row.items_total, "items_checked": row.items_checked, "package_id": row.package_id,
        "duplicate": row.duplicate, "reason": row.reason, "message": row.message,
        "submitted_by": f"{row.principal_kind}:{row.principal_name}", "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at), "finished_at": _iso(row.finished_at),
        "finished": row.status in (DONE, FAILED),
    }  # fmt: skip


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _now() -> datetime:
    return datetime.now(UTC)


class FilingJobs:
    """The node's filing jobs: submit an upload, read a job, recover after a restart (one per context)."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.dir = ctx.settings.data_dir / "filing-jobs"
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="filing-job")
        self.active: set[str] = set()  # jobs this process queued or runs (never "interrupted")
        self._lock = threading.Lock()

    # -- submitting ------------------------------------------------------------------------------------
    def submit(
        self, upload: Path, *, name: str, principal: Principal, source_ip: str | None, filer: Filer,
        audit: RequestAudit,
    ) -> str:  # fmt: skip
        """Keep the received package (moved, not copied) and queue it; the job's id at once."""
        job_id = uuid.uuid4().hex
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        stored = self.dir / f"{job_id}.zip"
        size = upload.stat().st_size
        shutil.move(str(upload), stored)
        with self.ctx.sessions() as s, s.begin():
            s.add(FilingJob(
                id=job_id, status=QUEUED, stage="queued", name=name[:500], size=size, items_total=0, items_checked=0,
                duplicate=False, principal_kind=principal.kind, principal_id=principal.id,
                principal_name=principal.name[:200], source_ip=source_ip,
            ))  # fmt: skip
        with self._lock:
            self.active.add(job_id)
        try:
            self.pool.submit(self._run, job_id, stored, principal, filer, audit)
        except RuntimeError:  # the pool is shut down: the node is stopping, the job cannot run
            logger.warning("filing job %s refused: the node is stopping", job_id)
            with self.ctx.sessions() as s, s.begin():
                self._finish(s, job_id, FAILED, reason=INTERRUPTED, message="the node is stopping: upload it again")
                audit.refused(INTERRUPTED)
                audit.record(s, details={"status": 503, "reason": INTERRUPTED, "job_id": job_id}, outcome="failed")
            stored.unlink(missing_ok=True)
            with self._lock:
                self.active.discard(job_id)
        return job_id

    # -- reading ---------------------------------------------------------------------------------------
    def get(self, job_id: str, principal: Principal) -> dict[str, Any]:
        """A job, for whoever may file; a fonds-limited caller (an API key) sees only its own jobs."""
        with self.ctx.reader() as s:
            row = s.get(FilingJob, job_id)
            if row is None or (principal.fonds is not None and row.principal_id != principal.id):
                raise NotFound(f"no filing job {job_id}", reason="job_not_found")
            return job_view(row)

    def recent(self, principal: Principal, limit: int = 20) -> list[dict[str, Any]]:
        query = select(FilingJob).order_by(FilingJob.created_at.desc(), FilingJob.id).limit(limit)
        if principal.fonds is not None:
            query = query.where(FilingJob.principal_id == principal.id)
        with self.ctx.reader() as s:
            return [job_view(r) for r in s.scalars(query)]

    # -- the worker ------------------------------------------------------------------------------------
    def _run(self, job_id: str, stored: Path, principal: Principal, filer: Filer, audit: RequestAudit) -> None:
        try:
            self._work(job_id, stored, principal, filer, audit)
        except Exception:  # the job's row could not be finished (the database went away): the log says why
            logger.exception("filing job %s failed", job_id)
        finally:
            stored.unlink(missing_ok=True)
            with self._lock:
                self.active.discard(job_id)

    def _work(self, job_id: str, stored: Path, principal: Principal, filer: Filer, audit: RequestAudit) -> None:
        with self.ctx.sessions() as s, s.begin():
            row = s.get(FilingJob, job_id)
            assert row is not None
            row.status, row.stage, row.updated_at = RUNNING, "opening", _now()
            name = row.name
        fonds_seen: list[str] = []

        def allowed(fonds: str) -> None:
            check_fonds(principal, fonds)
            fonds_seen.append(fonds)

        def transaction(package_id: str, details: dict[str, Any]) -> Any:
            @contextmanager
            def tx() -> Iterator[Session]:
                with self.ctx.sessions() as s, s.begin():
                    yield s
                    self._finish(s, job_id, DONE, package_id=package_id)
                    audit.record(s, target=f"/packages/{package_id}", details={**details, "job_id": job_id},
                                 fonds=next(iter(fonds_seen), None))  # fmt: skip

            return tx()

        error: BaseException | None = None
        try:
            outcome = filer.file(
                stored, who=f"{principal.kind}:{principal.name}", where=audit.source_ip, name=name,
                transaction=transaction, fonds_allowed=allowed, progress=_Meter(self.ctx, job_id),
            )  # fmt: skip
        except PackageError as exc:
            error = InvalidInput(f"the package cannot be opened: {exc}", reason="package_unreadable")
        except Exception as exc:
            if answer(exc).status >= 500:
                logger.exception("filing job %s failed", job_id)
            error = exc
        if error is None and not audit.written:  # a duplicate: the original answers, nothing was filed now
            with self.ctx.sessions() as s, s.begin():
                self._finish(s, job_id, DONE, package_id=outcome.package_id, duplicate=True)
                details = {"package_id": outcome.package_id, "duplicate": True, "job_id": job_id}
                audit.record(s, target=f"/packages/{outcome.package_id}", fonds=next(iter(fonds_seen), None),
                             details=details)  # fmt: skip
            return
        if error is not None:
            refusal = answer(error)
            with self.ctx.sessions() as s, s.begin():
                detail = redact_paths(refusal.detail, self.ctx.settings.data_dir)  # as the API's error answer
                self._finish(s, job_id, FAILED, reason=refusal.reason, message=detail)
                audit.refused(refusal.reason)
                audit.record(s, details={"status": refusal.status, "reason": refusal.reason, "job_id": job_id},
                             outcome=outcome_of(refusal.status))  # fmt: skip

    @staticmethod
    def _finish(s: Session, job_id: str, status: str, **values: Any) -> None:
        row = s.get(FilingJob, job_id)
        assert row is not None
        row.status, row.stage, row.updated_at, row.finished_at = status, "done", _now(), _now()
        if status == DONE:
            row.items_checked = row.items_total
        for key, value in values.items():
            setattr(row, key, value[:2000] if isinstance(value, str) else value)

    # -- restarts --------------------------------------------------------------------------------------
    def recover(self) -> int:
        """At start: jobs no worker of this process runs are FAILED `job_interrupted` (their upload's one
        event is written now, failed) and their uploads removed. How many were marked."""
        with self._lock:
            active = set(self.active)
        marked = 0
        with self.ctx.sessions() as s, s.begin():
            for row in s.scalars(select(FilingJob).where(FilingJob.status.in_((QUEUED, RUNNING)))):
                if row.id in active:
                    continue
                self._finish(s, row.id, FAILED, reason=INTERRUPTED,
                             message="the node stopped while this package was being checked: nothing was filed; "
                                     "upload it again")  # fmt: skip
                who = Principal(kind=row.principal_kind, id=row.principal_id, name=row.principal_name)
                audit_service.record_event(
                    s, who, UPLOAD_ACTION, f"/filing/jobs/{row.id}", "failed", row.source_ip,
                    {"method": "POST", "route": UPLOAD_ROUTE, "status": 500, "reason": INTERRUPTED, "job_id": row.id},
                    default_fonds=self.ctx.settings.default_fonds,
                )  # fmt: skip
                marked += 1
        if self.dir.is_dir():
            for leftover in self.dir.glob("*.zip"):
                if leftover.stem not in active:
                    leftover.unlink(missing_ok=True)
        return marked

    def close(self) -> None:
        """Stop taking jobs; a running one finishes (its transaction is atomic either way), queued ones are
        dropped and marked interrupted at the next start."""
        self.pool.shutdown(wait=True, cancel_futures=True)


class _Meter:
    """Filer's progress callback: writes the job's stage and counts, at most every PROGRESS_EVERY_S."""

    def __init__(self, ctx: NodeContext, job_id: str) -> None:
        self.ctx, self.job_id = ctx, job_id
        self.stage = ""
        self.last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == self.stage and done < total and now - self.last < PROGRESS_EVERY_S:
            return
        self.stage, self.last = stage, now
        with self.ctx.sessions() as s, s.begin():
            row = s.get(FilingJob, self.job_id)
            if row is not None:
                row.stage, row.items_checked, row.items_total, row.updated_at = stage, done, total, _now()


def upload_name(given: str | None) -> str:
    """The package's name as shown: the browser's file name without any directory part."""
    name = os.path.basename((given or "").replace("\\", "/")).strip()
    return name or "package.zip"
