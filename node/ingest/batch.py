"""Batch ingest for integrators: walk files and directory trees, take metadata from sidecars,
upload, and keep a journal so that a re-run skips what is already in the archive."""

from __future__ import annotations

import csv
import json
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.core.client import NodeClient, NodeRequestError
from node.core.errors import SidecarError

SIDECAR_NAMES = ("metadata.csv", "metadata.json")
CORE_FIELDS = ("fonds", "title", "category", "year", "retention", "archival_code")


@dataclass(frozen=True)
class IngestJob:
    path: Path
    source_path: str
    metadata: dict[str, Any]


@dataclass
class IngestSummary:
    ingested: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)


def _metadata_row(row: dict[str, Any]) -> dict[str, Any]:
    """Split a sidecar row into core fields and `extra`; empty cells are absent values."""
    meta: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in row.items():
        if key in ("path", "file") or value in (None, ""):
            continue
        (meta if key in CORE_FIELDS else extra)[key] = value
    if isinstance(row.get("extra"), dict):
        extra = {**extra, **row["extra"]}
        extra.pop("extra", None)
    if extra:
        meta["extra"] = extra
    if isinstance(meta.get("year"), str) and meta["year"].strip().isdigit():
        meta["year"] = int(meta["year"])  # CSV cells are text; anything else the node explains
    return meta


def load_sidecar(directory: Path) -> dict[str, dict[str, Any]]:
    """metadata.csv (header row, column `path`) or metadata.json ({path: {...}} or [{path: ...}])."""
    rows: dict[str, dict[str, Any]] = {}
    csv_path, json_path = directory / SIDECAR_NAMES[0], directory / SIDECAR_NAMES[1]
    try:
        if csv_path.exists():
            with csv_path.open(encoding="utf-8-sig", newline="") as fh:
                for row in csv.DictReader(fh):
                    rows[(row.get("path") or row.get("file") or "").strip()] = _metadata_row(row)
        elif json_path.exists():
            data = json.loads(json_path.read_text(encoding="utf-8"))
            entries = data.items() if isinstance(data, dict) else ((e.get("path", ""), e) for e in data)
            for name, entry in entries:
                rows[str(name)] = _metadata_row(entry)
    except (OSError, ValueError, csv.Error, AttributeError) as exc:
        raise SidecarError(f"cannot read metadata sidecar in {directory}: {exc}") from exc
    rows.pop("", None)
    for name in rows:
        if not (directory / name).is_file():
            raise SidecarError(f"sidecar in {directory} names {name!r}, which is not a file there")
    return rows


def plan(paths: list[Path], defaults: dict[str, Any]) -> Iterator[IngestJob]:
    """Yield one job per file, in a stable order, with sidecar metadata over the defaults.

    A file's own `<name>.json` sidecar wins over its directory's metadata.csv/json."""
    for root in paths:
        root = root.resolve()
        if root.is_file():
            files = [root]
            base = root.parent
        elif root.is_dir():
            files = sorted(p for p in root.rglob("*") if p.is_file())
            base = root.parent
        else:
            raise SidecarError(f"{root} is neither a file nor a directory")
        sidecars: dict[Path, dict[str, dict[str, Any]]] = {}
        for file in files:
            if file.name in SIDECAR_NAMES or (file.suffix == ".json" and file.with_suffix("").is_file()):
                continue
            directory = file.parent
            if directory not in sidecars:
                sidecars[directory] = load_sidecar(directory)
            meta = {"title": file.stem, **defaults, **sidecars[directory].get(file.name, {})}
            own = file.with_name(file.name + ".json")
            if own.is_file():
                try:
                    meta.update(_metadata_row(json.loads(own.read_text(encoding="utf-8"))))
                except (OSError, ValueError) as exc:
                    raise SidecarError(f"cannot read sidecar {own}: {exc}") from exc
            source = file.relative_to(base).as_posix()
            yield IngestJob(file, source, {**meta, "source_path": source})


class Journal:
    """Append-only JSON lines of finished uploads: (path, size, mtime) -> item id. Lets a re-run
    skip files without reading them again; the node's own dedupe covers a lost journal."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.done: dict[tuple[str, int, int], str] = {}
        if path and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    e = json.loads(line)
                    self.done[(e["path"], e["size"], e["mtime_ns"])] = e["item_id"]
                except (ValueError, KeyError):
                    continue  # a torn last line after a crash
        self._fh = None
        self._lock = threading.Lock()
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = path.open("a", encoding="utf-8")

    @staticmethod
    def key(file: Path) -> tuple[str, int, int]:
        st = file.stat()
        return (str(file), st.st_size, st.st_mtime_ns)

    def seen(self, file: Path) -> bool:
        return self.key(file) in self.done

    def record(self, file: Path, item_id: str) -> None:
        key = self.key(file)
        with self._lock:
            self._write(key, item_id)

    def _write(self, key: tuple[str, int, int], item_id: str) -> None:
        self.done[key] = item_id
        if self._fh:
            line = {"path": key[0], "size": key[1], "mtime_ns": key[2], "item_id": item_id}
            self._fh.write(json.dumps(line) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh:
            self._fh.close()


def _upload(client: NodeClient, job: IngestJob, journal: Journal) -> tuple[str, int, str | None]:
    """One file: (outcome, bytes uploaded, failure reason)."""
    if journal.seen(job.path):
        return "skipped", 0, None
    try:
        with job.path.open("rb") as fh:
            answer = client.ingest(fh, job.path.name, job.metadata)
    except NodeRequestError as exc:
        if exc.status is None:
            raise  # node unreachable: stop, a re-run resumes here
        return "failed", 0, str(exc)
    except OSError as exc:
        return "failed", 0, f"cannot read: {exc}"
    journal.record(job.path, answer["id"])
    if answer.get("duplicate"):
        return "skipped", 0, None
    return "ingested", int(answer["size"]), None


def run_ingest(
    client: NodeClient,
    jobs: list[IngestJob],
    journal: Journal,
    *,
    workers: int = 1,
    on_done: Callable[[IngestJob, str], None] | None = None,
) -> IngestSummary:
    """Upload with `workers` concurrent requests (the node hashes and stores them in parallel)."""
    summary = IngestSummary()

    def account(job: IngestJob, result: tuple[str, int, str | None]) -> None:
        outcome, size, reason = result
        setattr(summary, outcome, getattr(summary, outcome) + 1)
        summary.bytes += size
        if reason is not None:
            summary.failures.append((job.source_path, reason))
        if on_done:
            on_done(job, outcome)

    if workers <= 1:
        for job in jobs:
            account(job, _upload(client, job, journal))
        return summary
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_upload, client, job, journal): job for job in jobs}
        try:
            for future in as_completed(futures):
                account(futures[future], future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return summary
