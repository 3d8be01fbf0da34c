"""Long-term preservation checks (DA/T 70-2018, long-term stage): re-hash stored blobs at a bounded
rate, re-check usability, compare with the anchored ingest record; alert on any difference.

A pass walks the items in id order from a stored cursor (the last item id checked), so a pass cut
short (by `preservation_max_run_s`, a crash, or a restart) resumes where it stopped; reaching the end
completes a cycle and the next pass starts over. Reading is throttled to `preservation_rate_mb_s`
(`throttle_delay`, a pure function). Per item:

- record: the ingest record at the item's leaf is intact (its leaf hash equals the stored leaf and
  the Merkle leaf node) and the item row's content_sha256 equals the record's (`record_mismatch`,
  `item_row_mismatch`); the record is `anchored` when a confirmed checkpoint covers its leaf. Per log
  and pass, the log's root at its newest confirmed checkpoint is recomputed (`log_root_mismatch`);
- content: the blob exists (`blob_missing`) and its SHA-256 and size equal the record's (`content_mismatch`);
- usability (only for authentic content): the format identified by content and its parser
  (node/filing/checks); an item that parsed before and no longer does, or whose format changed, is
  `usability_lost` / `format_changed`; an item found unusable the first time is `unusable`.

An alert is a row (open until a later pass finds the item fine again), an audit event
(`preservation:alert`, outcome failed) and shows in `GET /status` and `GET /preservation/alerts`; an
open alert is not raised twice. Each pass that checked something ends with a `preservation.run`
record in the log of every fonds it covered: item_id = the run id, content_sha256 = SHA-256 of the
RFC 8785 bytes of the run report (kept in `preservation_runs`), size = bytes checked in that fonds,
metadata_sha256 = digest of that fonds' summary in the report.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from anchor.log import MerkleLog
from anchor.models import Checkpoint, CheckpointStatus, LogEntry, MerkleNode, iso_utc, utcnow
from node.audit import service as audit
from node.core.blobstore import BlobStore
from node.core.errors import PreservationBusy
from node.core.models import Item, PreservationAlert, PreservationItem, PreservationRun, PreservationState
from node.filing.checks.engine import hash_file
from node.filing.checks.ziplimits import ZipLimits
from verifier.records import canonical_bytes, metadata_digest, new_record, record_leaf_hash

if TYPE_CHECKING:
    from node.audit.request import RequestAudit

logger = logging.getLogger(__name__)

RUN_RECORD_TYPE = "preservation.run"
ALERT_ACTION = "preservation:alert"
RUN_ACTION = "preservation:run"
CURSOR = "cursor"
BATCH = 100
TIME = "%Y-%m-%dT%H:%M:%SZ"


def throttle_delay(bytes_done: int, elapsed_s: float, rate_bytes_s: float) -> float:
    """Seconds to wait so that `bytes_done` read in `elapsed_s` stays at or under `rate_bytes_s`. Pure."""
    if rate_bytes_s <= 0 or bytes_done <= 0:
        return 0.0
    return max(0.0, bytes_done / rate_bytes_s - elapsed_s)


@dataclass
class Throttle:
    """Bounded reading rate over a whole pass: call `spent(n)` after reading n bytes."""

    rate_bytes_s: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    done: int = 0
    start: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.start = self.clock()

    def spent(self, n: int) -> None:
        self.done += n
        wait = throttle_delay(self.done, self.clock() - self.start, self.rate_bytes_s)
        if wait > 0:
            self.sleep(wait)


@dataclass
class ItemResult:
    item_id: str
    fonds: str
    size: int
    ok: bool = True
    anchored: bool = False
    format: str | None = None
    usable: bool | None = None
    message: str = ""
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def alert(self, kind: str, message: str, expected: Any = None, actual: Any = None) -> None:
        self.ok = False
        self.alerts.append({"kind": kind, "message": message, "expected": None if expected is None else str(expected),
                            "actual": None if actual is None else str(actual)})  # fmt: skip

    def summary(self) -> dict[str, Any]:
        return {"id": self.item_id, "fonds": self.fonds, "ok": self.ok, "anchored": self.anchored,
                "format": self.format, "usable": self.usable, "alerts": [a["kind"] for a in self.alerts]}  # fmt: skip


def usability(path: Path, limits: Any = None) -> tuple[str | None, bool | None, str]:
    """(format by content, usable? (None: no parser for it), message), with node/filing/checks' identification
    and parsers, within the same decompression bounds as at filing (a bomb is unusable, never inflated)."""
    from node.filing.checks import formats, parsers

    info = formats.identify(path, limits)
    if info.bomb:
        return info.format, False, f"decompression bomb refused: {info.bomb}"
    if info.executable or info.macros:
        return info.format, False, f"executable or macro content ({info.executable or info.macros})"
    if info.encrypted:
        return info.format, False, f"encrypted: {info.encrypted}"
    if info.format is None or info.format not in parsers.PARSERS:
        return info.format, None, f"no parser for {info.label}"
    parsed = parsers.parse(path, info.format, info.encoding, limits)
    if parsed.bomb:
        return info.format, False, parsed.message
    if parsed.encrypted:
        return info.format, False, f"encrypted: {parsed.encrypted}"
    return info.format, parsed.ok, parsed.message


class Preserver:
    """Runs passes; one at a time per node."""

    def __init__(
        self, sessions: sessionmaker[Session], reader: sessionmaker[Session], blobs: BlobStore, settings: Any,
        *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
    ) -> None:  # fmt: skip
        self.sessions, self.reader, self.blobs, self.settings = sessions, reader, blobs, settings
        self.clock, self.sleep = clock, sleep
        self._lock = threading.Lock()
        self.last_error: str | None = None

    # -- one item ------------------------------------------------------------------------------------
    def check_item(
        self, s: Session, item: Item, anchored_size: dict[int, int], baseline: PreservationItem | None,
        throttle: Throttle | None,
    ) -> ItemResult:  # fmt: skip
        result = ItemResult(item.id, item.fonds_code, item.size)
        entry = s.get(LogEntry, (item.log_pk, item.leaf_index))
        node = s.get(MerkleNode, (item.log_pk, 0, item.leaf_index))
        record: dict[str, Any] = json.loads(entry.record) if entry else {}
        expected = record.get("content_sha256")
        if entry is None or node is None:
            result.alert("record_mismatch", f"the log has no record at leaf {item.leaf_index}")
        elif (
            record_leaf_hash(record) != entry.leaf_hash
            or entry.leaf_hash != node.hash
            or record.get("item_id") != item.id
        ):
            result.alert("record_mismatch", f"the record at leaf {item.leaf_index} does not match its leaf hash",
                         node.hash.hex(), record_leaf_hash(record).hex())  # fmt: skip
        result.anchored = item.leaf_index < anchored_size.get(item.log_pk, 0)
        if expected and item.content_sha256 != expected:
            result.alert("item_row_mismatch", "the item row's content_sha256 differs from its anchored record",
                         expected, item.content_sha256)  # fmt: skip
        expected = expected or item.content_sha256
        path = self.blobs.path_for(item.content_sha256)
        if not path.exists():
            result.alert("blob_missing", f"the stored file is missing ({path.name})", expected, None)
            return result
        digest, size = hash_file(path, throttle.spent if throttle is not None else None)
        if digest != expected or size != record.get("size", item.size):
            result.alert("content_mismatch", f"the stored bytes differ from the anchored record ({size} bytes)",
                         expected, digest)  # fmt: skip
            return result
        try:
            result.format, result.usable, result.message = usability(path, ZipLimits.for_checks(self.settings))
        except Exception as exc:  # a file that breaks a parser must not stop the pass (or wedge the cursor)
            result.format, result.usable = None, False
            result.message = f"the format check failed: {type(exc).__name__}: {str(exc).replace(str(path), path.name)}"
        if result.usable is not None and throttle is not None:
            throttle.spent(size)  # the parser read it once more
        if baseline is not None and baseline.format and result.format != baseline.format:
            result.alert("format_changed", "the format identified by content changed", baseline.format, result.format)
        elif baseline is not None and baseline.usable and result.usable is False:
            result.alert("usability_lost", f"the file no longer parses: {result.message}", "usable", "unusable")
        elif (baseline is None or not baseline.usable) and result.usable is False:  # stays open while unusable
            result.alert("unusable", f"the file does not open or parse: {result.message}", "usable", "unusable")
        return result

    # -- a pass --------------------------------------------------------------------------------------
    def run(
        self, *, trigger: str = "manual", principal: Any = None, source_ip: str | None = None,
        from_start: bool = False, max_items: int | None = None, max_seconds: float | None = None,
        fonds: frozenset[str] | None = None, event: RequestAudit | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """One pass. `fonds` (a fonds-limited caller's): only those fonds' items and logs are checked and
        only their logs get records; such a pass keeps a cursor of its own, the node's is left alone.
        `event`: the audit event of the request that asked for the pass (its outcome-ok event is the
        pass's); without it (the schedule) the pass is a system event. Alerts are events of their own."""
        if not self._lock.acquire(blocking=False):
            raise PreservationBusy("a preservation pass is running")
        try:
            return self._run(trigger, principal, source_ip, from_start, max_items, max_seconds, fonds, event)
        finally:
            self._lock.release()

    def _run(
        self, trigger: str, principal: Any, source_ip: str | None, from_start: bool, max_items: int | None,
        max_seconds: float | None, fonds: frozenset[str] | None = None, event: RequestAudit | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        settings = self.settings
        cursor_name = cursor_for(fonds)
        run_id = uuid.uuid4().hex
        started = datetime.now(UTC)
        deadline = self.clock() + (max_seconds if max_seconds is not None else settings.preservation_max_run_s)
        throttle = Throttle(settings.preservation_rate_mb_s * 1e6, self.clock, self.sleep)
        with self.sessions() as s, s.begin():
            s.add(PreservationRun(id=run_id, trigger=trigger, started_at=started))
            state = s.get(PreservationState, cursor_name)
            cursor_from = None if from_start or state is None else state.value
        with self.reader() as s:
            anchored = dict(
                s.execute(
                    select(Checkpoint.log_pk, func.max(Checkpoint.tree_size))
                    .where(Checkpoint.status == CheckpointStatus.CONFIRMED)
                    .group_by(Checkpoint.log_pk)
                ).all()
            )
            log_alerts = [a for a in self._check_roots(s) if fonds is None or a["fonds"] in fonds]
        cursor = cursor_from
        results: list[ItemResult] = []
        new_alerts: list[dict[str, Any]] = []
        complete = False
        stopped = False
        while not stopped:
            with self.reader() as s:
                query = select(Item).order_by(Item.id).limit(BATCH)
                if cursor is not None:
                    query = query.where(Item.id > cursor)
                if fonds is not None:
                    query = query.where(Item.fonds_code.in_(sorted(fonds)))
                batch = list(s.scalars(query))
                if not batch:
                    complete = True
                    break
                baselines = {b.item_id: b for b in s.scalars(
                    select(PreservationItem).where(PreservationItem.item_id.in_([i.id for i in batch])))}  # fmt: skip
                done: list[ItemResult] = []
                for item in batch:
                    done.append(self.check_item(s, item, anchored, baselines.get(item.id), throttle))
                    cursor = item.id
                    if (max_items is not None and len(results) + len(done) >= max_items) or self.clock() >= deadline:
                        stopped = True
                        break
            new_alerts += self._save_batch(run_id, done, cursor, principal, source_ip, cursor_name)
            results += done
        if complete:  # the end of the items: the next pass starts a new cycle
            cursor = None
            with self.sessions() as s, s.begin():
                state = s.get(PreservationState, cursor_name)
                if state is not None:
                    state.value = None
        new_alerts += self._save_log_alerts(run_id, log_alerts, principal, source_ip)
        return self._finish(run_id, trigger, started, cursor_from, cursor, complete, results, new_alerts,
                            log_alerts, principal, source_ip, event)  # fmt: skip

    def _check_roots(self, s: Session) -> list[dict[str, Any]]:
        """Each log's root at its newest confirmed checkpoint, recomputed from the stored tree."""
        out = []
        for log in MerkleLog(s).all_logs():
            if audit.is_audit_log(log.fonds_code):
                continue  # `audit verify` checks the audit logs
            cp = s.scalar(select(Checkpoint).where(Checkpoint.log_pk == log.id,
                          Checkpoint.status == CheckpointStatus.CONFIRMED).order_by(Checkpoint.tree_size.desc())
                          .limit(1))  # fmt: skip
            if cp is None:
                continue
            try:
                root = MerkleLog(s).root(log, cp.tree_size)
            except Exception as exc:
                root, note = b"", str(exc)
            else:
                note = ""
            if root != cp.root:
                out.append({"fonds": log.fonds_code, "kind": "log_root_mismatch", "expected": cp.root.hex(),
                            "actual": root.hex() or None, "message": f"log {log.fonds_code} no longer produces the "
                            f"root anchored at size {cp.tree_size}{': ' + note if note else ''}"})  # fmt: skip
        return out

    def _raise(
        self, s: Session, run_id: str, fonds: str, item_id: str | None, alert: dict[str, Any], principal: Any,
        source_ip: str | None,
    ) -> dict[str, Any] | None:  # fmt: skip
        """A new alert (row + audit event), or None when the same one is open already."""
        open_ = s.scalar(select(PreservationAlert).where(
            PreservationAlert.item_id.is_(None) if item_id is None else PreservationAlert.item_id == item_id,
            PreservationAlert.fonds_code == fonds, PreservationAlert.kind == alert["kind"],
            PreservationAlert.resolved_at.is_(None)))  # fmt: skip
        if open_ is not None:
            open_.last_seen_at = utcnow()
            return None
        row = PreservationAlert(id=uuid.uuid4().hex, run_id=run_id, item_id=item_id, fonds_code=fonds,
                                kind=alert["kind"], message=alert["message"], expected=alert.get("expected"),
                                actual=alert.get("actual"))  # fmt: skip
        s.add(row)
        s.flush()
        target = f"/items/{item_id}" if item_id else f"/logs/{fonds}"
        audit.record_event(s, principal, ALERT_ACTION, target, "failed", source_ip,
                           {"alert_id": row.id, "run_id": run_id, **alert}, fonds,
                           default_fonds=self.settings.default_fonds)  # fmt: skip
        logger.error("preservation alert %s on %s: %s", alert["kind"], target, alert["message"])
        return alert_view(row)

    def _save_batch(
        self, run_id: str, done: list[ItemResult], cursor: str | None, principal: Any, source_ip: str | None,
        cursor_name: str = CURSOR,
    ) -> list[dict[str, Any]]:
        raised: list[dict[str, Any]] = []
        with self.sessions() as s, s.begin():
            for r in done:
                for alert in r.alerts:
                    view = self._raise(s, run_id, r.fonds, r.item_id, alert, principal, source_ip)
                    if view:
                        raised.append(view)
                kinds = {a["kind"] for a in r.alerts}
                for open_ in s.scalars(select(PreservationAlert).where(
                        PreservationAlert.item_id == r.item_id, PreservationAlert.resolved_at.is_(None))):  # fmt: skip
                    if open_.kind not in kinds:
                        open_.resolved_at = utcnow()
                base = s.get(PreservationItem, r.item_id)
                content_ok = not kinds & {"blob_missing", "content_mismatch"}
                if base is None:
                    base = PreservationItem(item_id=r.item_id)
                    s.add(base)
                base.checked_at, base.content_ok, base.message = utcnow(), content_ok, r.message[:2000]
                if content_ok:
                    base.format, base.usable = r.format, r.usable
            state = s.get(PreservationState, cursor_name)
            if state is None:
                s.add(PreservationState(name=cursor_name, value=cursor))
            else:
                state.value = cursor
        return raised

    def _save_log_alerts(
        self, run_id: str, log_alerts: list[dict[str, Any]], principal: Any, source_ip: str | None
    ) -> list[dict[str, Any]]:
        raised = []
        with self.sessions() as s, s.begin():
            for alert in log_alerts:
                fonds = alert.pop("fonds")
                view = self._raise(s, run_id, fonds, None, alert, principal, source_ip)
                alert["fonds"] = fonds
                if view:
                    raised.append(view)
        return raised

    def _finish(
        self, run_id: str, trigger: str, started: datetime, cursor_from: str | None, cursor_to: str | None,
        complete: bool, results: list[ItemResult], new_alerts: list[dict[str, Any]],
        log_alerts: list[dict[str, Any]], principal: Any, source_ip: str | None, event: RequestAudit | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        finished = datetime.now(UTC)
        per_fonds: dict[str, dict[str, Any]] = {}
        for r in results:
            f = per_fonds.setdefault(r.fonds, {"fonds": r.fonds, "items_checked": 0, "bytes_checked": 0,
                                               "items_with_differences": 0})  # fmt: skip
            f["items_checked"] += 1
            f["bytes_checked"] += r.size
            f["items_with_differences"] += 0 if r.ok else 1
        report = {
            "v": 1, "run_id": run_id, "trigger": trigger,
            "started_at": started.strftime(TIME), "finished_at": finished.strftime(TIME),
            "cursor_from": cursor_from, "cursor_to": cursor_to, "cycle_complete": complete,
            "rate_mb_s": self.settings.preservation_rate_mb_s,
            "items_checked": len(results), "bytes_checked": sum(r.size for r in results),
            "items_with_differences": sum(0 if r.ok else 1 for r in results),
            "new_alerts": [{k: a[k] for k in ("id", "item_id", "fonds", "kind")} for a in new_alerts],
            "log_alerts": log_alerts, "fonds": sorted(per_fonds.values(), key=lambda f: f["fonds"]),
            "items": [r.summary() for r in results],
        }  # fmt: skip
        digest = hashlib.sha256(canonical_bytes(report)).hexdigest()
        records = []
        with self.sessions() as s, s.begin():
            run = s.get(PreservationRun, run_id)
            assert run is not None
            run.finished_at, run.items_checked, run.bytes_checked = finished, len(results), report["bytes_checked"]
            run.alerts, run.cycle_complete = len(new_alerts), complete
            run.report_json = json.dumps(report, ensure_ascii=False, sort_keys=True)
            run.report_sha256 = digest
            for summary in report["fonds"]:
                record = new_record(type=RUN_RECORD_TYPE, fonds=summary["fonds"], item_id=run_id,
                                    content_sha256=digest, size=summary["bytes_checked"],
                                    metadata_sha256=metadata_digest({"run_id": run_id, **summary}),
                                    time=finished)  # fmt: skip
                leaf = MerkleLog(s).append(summary["fonds"], record)
                records.append({"fonds": summary["fonds"], "leaf_index": leaf.index})
            target = f"/preservation/runs/{run_id}"
            details = {"run_id": run_id, "trigger": trigger, "items_checked": len(results),
                       "new_alerts": len(new_alerts), "report_sha256": digest, "cycle_complete": complete}  # fmt: skip
            if event is not None:  # asked for over HTTP: the request's one event (node/audit/request.py)
                event.record(s, target=target, details=details)
            else:  # the schedule: a system event
                audit.record_event(s, principal, RUN_ACTION, target, "ok", source_ip, details, None,
                                   default_fonds=self.settings.default_fonds)  # fmt: skip
        return {**run_summary_fields(run_id, trigger, started, finished, report, digest), "records": records,
                "new_alerts": new_alerts}  # fmt: skip

    def job(self) -> None:
        """The scheduled job: one pass; a manual pass in progress makes it skip."""
        try:
            self.run(trigger="schedule")
            self.last_error = None
        except PreservationBusy:
            return
        except Exception as exc:  # keep the scheduler alive; say so in /status
            self.last_error = f"{type(exc).__name__}: {exc}"
            logger.exception("preservation pass failed")


def cursor_for(fonds: frozenset[str] | None) -> str:
    """The name of a pass's cursor: the node's, or one per set of fonds (a fonds-limited caller's passes)."""
    if fonds is None:
        return CURSOR
    return "cursor:" + hashlib.sha256(",".join(sorted(fonds)).encode()).hexdigest()[:24]


def scoped_report(report: dict[str, Any], fonds: frozenset[str] | None) -> dict[str, Any] | None:
    """A run report as a fonds-limited caller may see it: only its fonds' items, alerts and counts
    (`filtered: true`; `report_sha256` stays the digest of the whole report). None if the run checked
    nothing of theirs."""
    if fonds is None:
        return report
    per = [f for f in report.get("fonds") or [] if f.get("fonds") in fonds]
    if not per:
        return None
    return {
        **report, "filtered": True, "cursor_from": None, "cursor_to": None,
        "items_checked": sum(f["items_checked"] for f in per), "bytes_checked": sum(f["bytes_checked"] for f in per),
        "items_with_differences": sum(f["items_with_differences"] for f in per), "fonds": per,
        "items": [i for i in report.get("items") or [] if i.get("fonds") in fonds],
        "new_alerts": [a for a in report.get("new_alerts") or [] if a.get("fonds") in fonds],
        "log_alerts": [a for a in report.get("log_alerts") or [] if a.get("fonds") in fonds],
    }  # fmt: skip


def run_summary_fields(
    run_id: str, trigger: str, started: datetime, finished: datetime | None, report: dict[str, Any], digest: str | None
) -> dict[str, Any]:
    return {
        "run_id": run_id, "trigger": trigger, "started_at": iso_utc(started), "finished_at": iso_utc(finished),
        "items_checked": report.get("items_checked", 0), "bytes_checked": report.get("bytes_checked", 0),
        "items_with_differences": report.get("items_with_differences", 0),
        "cycle_complete": report.get("cycle_complete", False), "report_sha256": digest,
    }  # fmt: skip


def alert_view(row: PreservationAlert) -> dict[str, Any]:
    return {
        "id": row.id, "run_id": row.run_id, "item_id": row.item_id, "fonds": row.fonds_code, "kind": row.kind,
        "message": row.message, "expected": row.expected, "actual": row.actual, "created_at": iso_utc(row.created_at),
        "last_seen_at": iso_utc(row.last_seen_at), "resolved_at": iso_utc(row.resolved_at),
    }  # fmt: skip


def list_alerts(s: Session, *, open_only: bool = True, fonds: frozenset[str] | None = None,
                limit: int = 100) -> list[dict[str, Any]]:  # fmt: skip
    query = select(PreservationAlert)
    if open_only:
        query = query.where(PreservationAlert.resolved_at.is_(None))
    if fonds is not None:
        query = query.where(PreservationAlert.fonds_code.in_(sorted(fonds)))
    return [alert_view(r) for r in s.scalars(query.order_by(PreservationAlert.created_at.desc()).limit(limit))]


def status_section(
    s: Session, preserver: Preserver | None, settings: Any, *, fonds: frozenset[str] | None = None
) -> dict[str, Any]:
    """The `preservation` part of GET /status: schedule, last pass, open alerts (a fonds-limited
    caller's: of its fonds only, and the last pass that checked any of them)."""
    last_view = None
    for last in s.scalars(select(PreservationRun).where(PreservationRun.finished_at.is_not(None))
                          .order_by(PreservationRun.started_at.desc()).limit(1 if fonds is None else 200)):  # fmt: skip
        report = scoped_report(json.loads(last.report_json or "{}"), fonds)
        if report is not None:
            last_view = run_summary_fields(last.id, last.trigger, last.started_at, last.finished_at, report,
                                           last.report_sha256)  # fmt: skip
            break
    open_query = select(func.count()).select_from(PreservationAlert).where(PreservationAlert.resolved_at.is_(None))
    if fonds is not None:
        open_query = open_query.where(PreservationAlert.fonds_code.in_(sorted(fonds)))
    open_count = s.scalar(open_query)
    cursor = s.get(PreservationState, cursor_for(fonds))
    return {
        "enabled": settings.preservation_enabled, "interval_s": settings.preservation_interval_s,
        "rate_mb_s": settings.preservation_rate_mb_s, "cursor": cursor.value if cursor else None,
        "last_run": last_view, "open_alerts": open_count or 0,
        "alerts": list_alerts(s, fonds=fonds, limit=20), "last_error": preserver.last_error if preserver else None,
    }  # fmt: skip
