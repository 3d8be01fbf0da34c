"""Filing a transfer package (issue 4): checked as a whole, then filed atomically (all items or none).

    outcome = Filer(sessions, blobs, reader=reader).file(path, who=..., where=...)

Steps, in order:
1. load the package (node.filing.checks.package.load_package: directory, ZIP or BagIt bag with a manifest);
2. the package digest (below); a package already FILED with that digest is answered with the
   original (`outcome.duplicate`), nothing is checked or filed again;
3. reference codes: items without an `archival_code` get the next item number of their numbering
   scope (the rule's scope in node/filing/checks/schemes/reference_codes.json, counters in the
   `refcode_counters` table) unless they bring an `item_number`, and the code is formatted from the
   rule; given codes are checked by the engine (AUTH-REFCODE, AUTH-DUPLICATE, INTEG-NUMBERING from
   the counter's next number);
4. the four-properties checks (node.filing.checks.engine.check_package) with duplicates looked up in the
   archive and the fonds' policy (node.filing.checks.policy); if anything blocks, the package report is
   stored with status REJECTED and nothing else is written;
5. the blobs, content-addressed, each hashed again while copied (a file that changed since it was
   checked stops the filing); a crash here leaves only orphan blobs (harmless);
6. ONE database transaction: the item rows, their ledger records (MerkleLog.append_many per fonds,
   each record with `checks_sha256` = the item report's digest), the item reports, the duplicate keys,
   the counters and the package row (status FILED). All items or none.

Package digest: SHA-256 of the RFC 8785 bytes of
    {"v": 1, "items": [{"path", "sha256", "size", "metadata"} for each manifest row, sorted by path],
     "files": [{"path", "sha256"} for every other payload file (attachments), sorted by path]}
with the SHA-256 and size of the bytes actually received and the metadata as the manifest gives it
(before any code is assigned). It does not depend on the container (directory, ZIP, bag, compression,
file times), so the same package sent again is recognised however it was packed; a package whose
metadata was corrected is a new package.

Numbers are never issued twice: counters only go up (gaps are never refilled), filing runs under one
lock per process and the transaction re-reads the counters it used (a moved counter, e.g. another
node process filing in the same scope, aborts with 409 and nothing is written); archival codes are
unique in `items`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from anchor.log import MerkleLog
from node.core.blobstore import BlobStore
from node.core.errors import Conflict, FilingError
from node.core.models import DedupeKey, Item, ItemCheck, Package, RefcodeCounter
from node.filing.checks import ENGINE_VERSION, codes, metadata
from node.filing.checks.engine import CheckConfig, ItemInput, check_package, hash_file, numbering_scope
from node.filing.checks.model import CheckResult, ItemReport, PackageReport, failed, json_safe_numbers
from node.filing.checks.package import LoadedPackage, load_package
from node.filing.checks.policy import Policy, load_policy
from node.filing.checks.ziplimits import ZipLimits
from node.ingest.service import RETENTION_ALIASES, drop_unreferenced
from verifier.records import canonical_bytes, metadata_digest, new_record

FILED, REJECTED = "FILED", "REJECTED"
CHUNK = 1 << 20
_LOCK = threading.Lock()  # one filing at a time in this process (numbers are assigned before the checks)

# transaction(package_id, details) -> a context manager yielding a Session inside a transaction that
# commits when the block ends; `details` may be filled in inside the block (the API audits with it).
Transaction = Callable[[str, dict[str, Any]], AbstractContextManager[Session]]
# A hook for tests: called with a stage name ("blobs", "blob", "transaction") while filing.
Hook = Callable[[str], None]
# progress(stage, done, total): "opening" (unpacking, hashing), "checking" (items checked of total), "filing"
# (blobs and the transaction); the web UI's filing jobs record it (node/filing/jobs.py).
Progress = Callable[[str, int, int], None]


@dataclass
class FilingOutcome:
    package_id: str
    status: str  # FILED | REJECTED
    duplicate: bool  # a re-sent package: the original is answered, nothing was filed now
    digest: str
    report: dict[str, Any]
    item_ids: dict[str, str] = field(default_factory=dict)  # path in the package -> item id


# -- the package digest ------------------------------------------------------------------------------

def package_digest(pkg: LoadedPackage) -> tuple[str, dict[str, str]]:
    """(digest, {path: sha256 of every payload file}); see the module doc for what is digested."""
    hashes: dict[str, str] = {}
    items = []
    for item in pkg.items:
        sha, size = hash_file(item.path)
        hashes[item.name] = sha
        items.append({"path": item.name, "sha256": sha, "size": size, "metadata": metadata.normalise(item.metadata)})
    base = pkg.root / "data" if pkg.kind == "bagit" else pkg.root
    others = []
    for rel in sorted(pkg.files - set(hashes)):
        p = base / rel
        if p.is_file() and not p.is_symlink():
            hashes[rel] = hash_file(p)[0]
            others.append({"path": rel, "sha256": hashes[rel]})
    doc = {"v": 1, "items": sorted(items, key=lambda r: r["path"]), "files": others}
    return hashlib.sha256(canonical_bytes(_json_safe(doc))).hexdigest(), hashes


def manifest_clean(pkg: LoadedPackage) -> bool:
    """Every manifest row became an item and the loader found nothing wrong: only then can a digest
    match mean "the same package again" (the digest covers items, not refused rows)."""
    f = pkg.facts
    return (
        not any(r.outcome == "fail" for r in f.results) and not f.missing and not f.unlisted
        and (f.declared_count is None or f.declared_count == len(pkg.items))
    )  # fmt: skip


def _json_safe(value: Any) -> Any:
    """Floats are fine in RFC 8785, but dates and other objects are not JSON: make them text."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return json_safe_numbers(value)  # 10**30 or NaN from a manifest: as text, the checks refuse them
    return str(value)


# -- reference codes -------------------------------------------------------------------------------
def _int(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 18:
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def scope_text(key: tuple[Any, ...]) -> str:
    return json.dumps(list(key), ensure_ascii=False, separators=(",", ":"), default=str)


def assign_codes(items: list[ItemInput], config: CheckConfig, counters: dict[str, int]) -> dict[str, int]:
    """Give every item without an archival code its item number (the next of its scope, unless it has
    one) and its code. Mutates the items' metadata. Returns {scope: first number expected}."""
    scopes: dict[str, tuple[codes.CodeRule, tuple[Any, ...]]] = {}
    of_item: list[str | None] = []
    given: dict[str, int] = {}
    for item in items:
        found = numbering_scope(item, config)
        if found is None:
            of_item.append(None)
            continue
        key = scope_text(found[1])
        scopes[key] = found
        of_item.append(key)
        number = _int(item.metadata.get("item_number"))
        if number is not None:
            given[key] = max(given.get(key, 0), number)
    expected = {k: counters.get(k, rule.start - 1) + 1 for k, (rule, _) in scopes.items()}
    nxt = {k: max(expected[k] - 1, given.get(k, 0)) + 1 for k in scopes}
    for item, key in zip(items, of_item, strict=True):
        md = item.metadata
        if key is None or md.get("archival_code"):
            continue
        number = _int(md.get("item_number"))
        if number is None:
            number = nxt[key]
            nxt[key] += 1
            md["item_number"] = number
        rule = scopes[key][0]
        with suppress(codes.CodeError, ValueError, KeyError, TypeError):  # no code: AUTH-REFCODE fails
            md["archival_code"] = rule.format(
                str(md["fonds_code"]), str(item.category_code), int(str(md.get("year"))), str(md.get("retention")),
                number, str(md["organisation"]) if md.get("organisation") else None,
            )  # fmt: skip
    return expected


# -- duplicates -------------------------------------------------------------------------------------
def dedupe_keys(md: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, value) as the engine's AUTH-DUPLICATE builds them (node/filing/checks/engine.py)."""
    md = metadata.normalise(md)
    fonds = str(md.get("fonds_code") or "")
    keys = []
    if md.get("archival_code"):
        keys.append(("archival_code", str(md["archival_code"])))
    if md.get("document_number"):
        keys.append(("document_number", f"{fonds}|{md['document_number']}"))
    if md.get("title") and md.get("date"):
        d = metadata.parse_date(md.get("date"))
        keys.append(("title_date", f"{fonds}|{md['title']}|{d or md['date']}"))
    return keys


def _key_sha(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class ArchiveLookup:
    """`existing(kind, value)` for check_package, answered from the database; the package's keys are
    fetched in bulk first, anything else is asked one by one."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.known: dict[tuple[str, str], str | None] = {}

    def prefetch(self, items: list[ItemInput]) -> None:
        wanted = {k for item in items for k in dedupe_keys(item.metadata)}
        codes_ = sorted(v for k, v in wanted if k == "archival_code")
        for i in range(0, len(codes_), 500):
            rows = self.session.execute(
                select(Item.archival_code, Item.id).where(Item.archival_code.in_(codes_[i : i + 500]))
            )
            self.known.update({("archival_code", c): iid for c, iid in rows})
        others = {(k, _key_sha(v)): (k, v) for k, v in wanted if k != "archival_code"}
        shas = sorted({sha for _, sha in others})
        for i in range(0, len(shas), 500):
            rows = self.session.execute(
                select(DedupeKey.kind, DedupeKey.key_sha256, DedupeKey.item_id).where(
                    DedupeKey.key_sha256.in_(shas[i : i + 500])
                )
            )
            for kind, sha, iid in rows:
                if (kind, sha) in others:
                    self.known.setdefault(others[(kind, sha)], iid)
        for key in wanted:
            self.known.setdefault(key, None)

    def __call__(self, kind: str, value: str) -> str | None:
        if (kind, value) not in self.known:
            if kind == "archival_code":
                found = self.session.scalar(select(Item.id).where(Item.archival_code == value))
            else:
                found = self.session.scalar(
                    select(DedupeKey.item_id).where(DedupeKey.kind == kind, DedupeKey.key_sha256 == _key_sha(value))
                )
            self.known[(kind, value)] = found
        return self.known[(kind, value)]


# -- policy -----------------------------------------------------------------------------------------
def apply_policies(report: PackageReport, fonds_of: dict[str, str], policy_file: Path | None) -> list[dict[str, str]]:
    """Each item's results under its fonds' policy; package-level results block if any fonds' policy
    of the package says so. Records the blocking list and the policy (or policies) in the report."""
    all_fonds = sorted(set(fonds_of.values())) or [None]  # type: ignore[list-item]
    policies: dict[str | None, Policy] = {f: load_policy(f, policy_file) for f in all_fonds}
    out = []
    for path, r in report.all_results():
        chosen = [policies[fonds_of.get(path)]] if path is not None and fonds_of.get(path) else policies.values()
        if any(p.blocks(r.code, r.outcome) for p in chosen):
            out.append({"item": path or "", "code": r.code, "outcome": r.outcome, "message": r.message})
    report.blocking = out
    if len(policies) == 1:
        report.process = {**report.process, "policy": next(iter(policies.values())).to_dict()}
    else:
        report.process = {**report.process, "policies": [p.to_dict() for p in policies.values()]}
    return out


def report_from_dict(d: dict[str, Any]) -> PackageReport:
    """Rebuild a PackageReport from its stored JSON (for the readable text)."""

    def results(rows: list[dict[str, Any]]) -> list[CheckResult]:
        return [CheckResult(r["code"], r["family"], r["outcome"], r["message"], r.get("details", {})) for r in rows]

    items = [ItemReport(i["path"], i.get("sha256"), i.get("size"), i.get("format"), results(i["results"]))
             for i in d.get("items", [])]  # fmt: skip
    return PackageReport(d["package"], items, results(d.get("results", [])), d.get("process", {}), d.get("blocking"))


# -- filing -----------------------------------------------------------------------------------------
def pause_hook(spec: str) -> Hook | None:
    """A hook that sleeps at named filing stages, so a crash test can SIGKILL a real server there
    (Settings.filing_test_pause, tests only)."""
    pauses = {k.strip(): float(v) for k, _, v in (p.partition("=") for p in spec.split(",") if "=" in p)}
    if not pauses:
        return None

    def hook(stage: str) -> None:
        if stage in pauses:
            time.sleep(pauses[stage])

    return hook


class Filer:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        blobs: BlobStore,
        *,
        reader: sessionmaker[Session] | None = None,
        config: CheckConfig | None = None,
        policy_file: Path | None = None,
        hook: Hook | None = None,
        tmp_dir: Path | None = None,
        package_limits: ZipLimits | None = None,
    ) -> None:
        self.sessions = sessions
        self.reader = reader or sessions
        self.blobs = blobs
        self.config = config or CheckConfig()
        self.policy_file = policy_file
        self.hook = hook or (lambda stage: None)
        self.tmp_dir = tmp_dir  # where a ZIP package is expanded (the node's <data>/tmp)
        self.package_limits = package_limits or ZipLimits.for_packages()

    def _default_transaction(self, package_id: str, details: dict[str, Any]) -> AbstractContextManager[Session]:
        @contextmanager
        def tx() -> Iterator[Session]:
            with self.sessions() as s, s.begin():
                yield s

        return tx()

    def file(
        self,
        path: str | Path,
        *,
        who: str,
        where: str | None,
        name: str | None = None,
        transaction: Transaction | None = None,
        fonds_allowed: Callable[[str], bool] | None = None,
        progress: Progress | None = None,
    ) -> FilingOutcome:
        """Load, check and file one package. `fonds_allowed(fonds)` is asked for every item's fonds
        before anything is checked (raise in it to refuse). PackageError if it cannot be opened."""
        transaction = transaction or self._default_transaction
        progress = progress or (lambda stage, done, total: None)
        progress("opening", 0, 0)
        with load_package(path, tmp_root=self.tmp_dir, limits=self.package_limits) as pkg:
            if name:
                pkg.name = name
            digest, hashes = package_digest(pkg)
            fonds_list = sorted({str(i.metadata.get("fonds_code")) for i in pkg.items if i.metadata.get("fonds_code")})
            if fonds_allowed is not None:
                for f in fonds_list:
                    fonds_allowed(f)
            # the digest covers only the rows that became items: a re-sent package whose manifest has more
            # (an unsafe or missing path, a wrong count) is checked afresh, never answered "already filed"
            original = self.find_filed(digest) if manifest_clean(pkg) else None
            if original is not None:
                return original
            progress("checking", 0, len(pkg.items))
            with _LOCK:
                return self._file_locked(pkg, digest, hashes, fonds_list, who, where, transaction, progress)

    def find_filed(self, digest: str) -> FilingOutcome | None:
        with self.reader() as s:
            row = s.scalar(select(Package).where(Package.filed_digest == digest))
            return None if row is None else self._outcome_of(s, row, duplicate=True)

    def _outcome_of(self, s: Session, row: Package, *, duplicate: bool) -> FilingOutcome:
        report = json.loads(row.report_json)
        ids = {}
        if row.status == FILED:  # an item report's digest covers its path: unique in the package
            path_of = {i.get("digest"): i["path"] for i in report.get("items", [])}
            for item_id, sha in s.execute(
                select(ItemCheck.item_id, ItemCheck.report_sha256).where(ItemCheck.package_id == row.id)
            ):
                if sha in path_of:
                    ids[path_of[sha]] = item_id
        return FilingOutcome(row.id, row.status, duplicate, row.digest, report, ids)

    def _file_locked(
        self, pkg: LoadedPackage, digest: str, hashes: dict[str, str], fonds_list: list[str], who: str,
        where: str | None, transaction: Transaction, progress: Progress,
    ) -> FilingOutcome:  # fmt: skip
        package_id = uuid.uuid4().hex
        with self.reader() as s:
            counters = {c.scope: c.last_number for c in s.scalars(select(RefcodeCounter))} if pkg.items else {}
            expected = assign_codes(pkg.items, self.config, counters)
            lookup = ArchiveLookup(s)
            lookup.prefetch(pkg.items)
            process = {"who": who, "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "where": where or "",
                       "engine": ENGINE_VERSION}  # fmt: skip

            def expected_start(key: tuple[Any, ...]) -> int:
                return expected.get(scope_text(key), 1)

            report = check_package(
                pkg.items, package=pkg.name, manifest=pkg.facts, existing=lookup, expected_start=expected_start,
                config=self.config, process=process, package_files=pkg.files,
                progress=lambda done, total: progress("checking", done, total),
            )  # fmt: skip
        progress("filing", len(pkg.items), len(pkg.items))
        no_code = failed("AUTH-REFCODE", "no reference code given, and none can be made from the metadata")
        for item, item_report in zip(pkg.items, report.items, strict=True):
            if not item.metadata.get("archival_code") and not item_report.failures():
                kept = [r for r in item_report.results if r.code != "AUTH-REFCODE"]
                item_report.results[:] = [*kept, no_code]
        fonds_of = {i.name: str(i.metadata.get("fonds_code")) for i in pkg.items if i.metadata.get("fonds_code")}
        blocking = apply_policies(report, fonds_of, self.policy_file)
        total = sum(r.size or 0 for r in report.items)
        if blocking or not pkg.items:
            details: dict[str, Any] = {"package_id": package_id, "status": REJECTED, "digest": digest,
                                       "items": len(pkg.items), "blocking": len(blocking)}  # fmt: skip
            body = report.to_dict()
            with transaction(package_id, details) as s:
                s.add(self._package_row(package_id, digest, pkg.name, REJECTED, fonds_list, len(pkg.items), total,
                                        body, report.digest(), who, where))  # fmt: skip
            return FilingOutcome(package_id, REJECTED, False, digest, body)

        # blobs first: content-addressed, hashed again while copied; the ones this filing created are
        # removed again if it does not complete (no blob without an item row)
        created: list[str] = []
        try:
            self.hook("blobs")
            for item, item_report in zip(pkg.items, report.items, strict=True):
                self._store_blob(item.path, item_report.sha256 or "", created)
            for rel, sha in hashes.items():  # attachments and other payload files are kept too
                if rel not in fonds_of and not self.blobs.exists(sha):
                    base = pkg.root / "data" if pkg.kind == "bagit" else pkg.root
                    self._store_blob(base / rel, sha, created)
            self.hook("transaction")
            details = {"package_id": package_id, "status": FILED, "digest": digest, "items": len(pkg.items)}
            try:
                with transaction(package_id, details) as s:
                    again = s.scalar(select(Package).where(Package.filed_digest == digest))
                    if again is not None:  # filed meanwhile (another process): answer with it
                        details.update(status="DUPLICATE", package_id=again.id)
                        return self._outcome_of(s, again, duplicate=True)
                    ids = self._write(s, package_id, pkg, report, counters, digest, fonds_list, total, who, where)
                    self.hook("commit")
            except IntegrityError as exc:
                raise Conflict(f"package could not be filed, nothing was written: {exc.orig}",
                               reason="filing_conflict") from exc  # fmt: skip
        except BaseException:
            self._drop_unreferenced(created)
            raise
        return FilingOutcome(package_id, FILED, False, digest, report.to_dict(), ids)

    def _drop_unreferenced(self, digests: list[str]) -> None:
        """Remove blobs this filing wrote that no item row refers to (the filing did not complete)."""
        if digests:
            drop_unreferenced(self.blobs, self.reader, digests)

    def _store_blob(self, path: Path, expected: str, created: list[str] | None = None) -> None:
        if expected and self.blobs.exists(expected):
            return
        writer = self.blobs.writer(1 << 62)
        try:
            with path.open("rb") as f:
                while chunk := f.read(CHUNK):
                    writer.write(chunk)
            if writer.sha256 != expected:
                raise FilingError(
                    f"{path.name} changed after it was checked (sha256 {writer.sha256}, checked {expected})"
                )
            writer.commit()
            if created is not None and writer.created:
                created.append(writer.sha256)
            self.hook("blob")
        except BaseException:
            writer.discard()
            raise

    @staticmethod
    def _package_row(
        package_id: str, digest: str, name: str, status: str, fonds: list[str], count: int, total: int,
        body: dict[str, Any], report_sha: str, who: str, where: str | None,
    ) -> Package:  # fmt: skip
        return Package(
            id=package_id, digest=digest, filed_digest=digest if status == FILED else None, name=name[:500],
            status=status, fonds=json.dumps(fonds, ensure_ascii=False), item_count=count, total_bytes=total,
            report_json=json.dumps(body, ensure_ascii=False), report_sha256=report_sha, submitted_by=who[:200],
            source_ip=(where or None),
        )  # fmt: skip

    def _write(
        self, s: Session, package_id: str, pkg: LoadedPackage, report: PackageReport, counters: dict[str, int],
        digest: str, fonds_list: list[str], total: int, who: str, where: str | None,
    ) -> dict[str, str]:  # fmt: skip
        now = datetime.now(UTC)
        # the counters this filing used must not have moved (another process filing in the same scope)
        used: dict[str, tuple[str, int]] = {}
        for item in pkg.items:
            found = numbering_scope(item, self.config)
            number = _int(item.metadata.get("item_number"))
            if found is None or number is None:
                continue
            key = scope_text(found[1])
            prev = used.get(key, (str(item.metadata.get("fonds_code")), 0))
            used[key] = (prev[0], max(prev[1], number))
        rows = {
            c.scope: c
            for chunk in _chunks(sorted(used), 500)
            for c in s.scalars(select(RefcodeCounter).where(RefcodeCounter.scope.in_(chunk)).with_for_update())
        }
        for key in used:
            now_at = rows[key].last_number if key in rows else None
            if now_at != counters.get(key):
                raise Conflict(f"the numbering of {key} moved while the package was checked: send it again",
                               reason="numbering_moved")  # fmt: skip
        for key, (fonds, top) in used.items():
            if key in rows:
                rows[key].last_number = max(rows[key].last_number, top)
                rows[key].updated_at = now
            else:
                s.add(RefcodeCounter(scope=key, fonds_code=fonds, last_number=top, updated_at=now))

        # records per fonds, in package order
        by_fonds: dict[str, list[int]] = {}
        for n, item in enumerate(pkg.items):
            by_fonds.setdefault(str(item.metadata["fonds_code"]), []).append(n)
        item_rows, check_rows, key_rows = [], [], []
        ids: dict[str, str] = {}
        log = MerkleLog(s)
        for fonds, indexes in by_fonds.items():
            records, prepared = [], []
            for n in indexes:
                item, item_report = pkg.items[n], report.items[n]
                md = _json_safe(metadata.normalise(item.metadata))
                item_id = uuid.uuid4().hex
                ids[item.name] = item_id
                checks_sha = item_report.digest()
                records.append(new_record(
                    type="item.ingested", fonds=fonds, item_id=item_id, content_sha256=item_report.sha256 or "",
                    size=item_report.size or 0, metadata_sha256=metadata_digest(md), time=now,
                    checks_sha256=checks_sha,
                ))  # fmt: skip
                prepared.append((item, item_report, md, item_id, checks_sha))
            leaves = log.append_many(fonds, records)
            log_pk = log.by_fonds(fonds).id
            for (item, item_report, md, item_id, checks_sha), leaf in zip(prepared, leaves, strict=True):
                retention = str(md.get("retention") or "")
                item_rows.append({
                    "id": item_id, "fonds_code": fonds, "title": str(md.get("title") or item.name)[:1000],
                    "category": str(item.category_code or ""), "year": _int(md.get("year")) or 0,
                    "retention": RETENTION_ALIASES.get(retention.lower(), retention)[:16],
                    "archival_code": md.get("archival_code"),
                    "metadata_json": json.dumps(md, ensure_ascii=False, sort_keys=True),
                    "content_sha256": item_report.sha256, "size": item_report.size or 0,
                    "filename": (item.declared_name or PurePosixPath(item.name).name)[:1000],
                    "source_path": f"{pkg.name}/{item.name}"[:2000], "log_pk": log_pk, "leaf_index": leaf.index,
                    "created_at": now,
                })  # fmt: skip
                check_rows.append({"item_id": item_id, "package_id": package_id,
                                   "report_json": json.dumps(item_report.to_dict(), ensure_ascii=False),
                                   "report_sha256": checks_sha})  # fmt: skip
                for kind, value in dedupe_keys(md):
                    if kind != "archival_code":
                        key_rows.append({"kind": kind, "key_sha256": _key_sha(value), "item_id": item_id})
        body = report.to_dict()
        s.add(self._package_row(package_id, digest, pkg.name, FILED, fonds_list, len(pkg.items), total, body,
                                report.digest(), who, where))  # fmt: skip
        s.flush()
        s.execute(insert(Item), item_rows)
        s.execute(insert(ItemCheck), check_rows)
        if key_rows:
            s.execute(
                insert(DedupeKey), list({(r["kind"], r["key_sha256"], r["item_id"]): r for r in key_rows}.values())
            )
        s.flush()
        return ids


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


# -- reading ----------------------------------------------------------------------------------------
def package_view(row: Package, *, with_report: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id, "name": row.name, "status": row.status, "digest": row.digest,
        "fonds": json.loads(row.fonds or "[]"), "item_count": row.item_count, "total_bytes": row.total_bytes,
        "report_sha256": row.report_sha256, "submitted_by": row.submitted_by, "source_ip": row.source_ip,
        "created_at": row.created_at.isoformat(),
    }  # fmt: skip
    if with_report:
        out["report"] = json.loads(row.report_json)
    return out


def package_items(s: Session, package_id: str) -> list[dict[str, Any]]:
    rows = s.execute(
        select(Item.id, Item.archival_code, Item.source_path, Item.content_sha256)
        .join(ItemCheck, ItemCheck.item_id == Item.id)
        .where(ItemCheck.package_id == package_id)
        .order_by(Item.archival_code, Item.id)
    )
    return [{"id": i, "archival_code": c, "source_path": p, "content_sha256": h} for i, c, p, h in rows]
