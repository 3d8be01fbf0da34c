"""The four-properties checks (DA/T 70-2018, filing stage) of one item and of a transfer package.

    check_item(item, config=None, *, scan=None, attachment_exists=None, timings=None) -> ItemReport
    check_package(items, *, package, manifest=None, existing=None, expected_start=None,
                  config=None, process=None, timings=None) -> PackageReport

Every check has a stable code (node/filing/checks/CODES.md). The engine never raises for bad content: a
file that cannot be read gives failing results. It neither stores nor files anything.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from node.filing.checks import codes, formats, metadata, parsers
from node.filing.checks.antivirus import ScanResult, VirusScanner
from node.filing.checks.model import CheckResult, ItemReport, PackageReport, failed, passed, skipped
from node.filing.checks.ziplimits import DEFAULT_LIMITS, ZipLimits
from verifier.records import metadata_digest

CHUNK = 1 << 20
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")

# existing(kind, value) -> id of an archived item holding that value, or None.
# kinds: "archival_code", "document_number", "title_date"
ExistingLookup = Callable[[str, str], str | None]


@dataclass
class ItemInput:
    """One item as the sender declared it. `name` is the path inside the package (as in the manifest)."""

    path: Path
    name: str
    sha256: str | None = None  # computed by the sending system
    size: int | None = None
    format: str | None = None  # declared format ("PDF", "application/pdf", ...)
    time: str | None = None  # declared creation/modification time, ISO 8601
    declared_name: str | None = None  # original file name in the sending system
    metadata: dict[str, Any] = field(default_factory=dict)
    category: str | None = None  # defaults to metadata["category"]

    @property
    def category_code(self) -> str | None:
        return self.category or self.metadata.get("category")


@dataclass(frozen=True)
class ManifestFacts:
    """What the package declares about itself, and what the loader found."""

    declared_count: int | None = None
    declared_bytes: int | None = None
    missing: tuple[str, ...] = ()  # listed in the manifest, absent from the package
    unlisted: tuple[str, ...] = ()  # present in the package, not in the manifest
    results: tuple[CheckResult, ...] = ()  # AUTH-MANIFEST etc. from the loader


@dataclass
class CheckConfig:
    allowed_formats: frozenset[str] = frozenset(formats.DEFAULT_ALLOWED)
    scanner: VirusScanner | None = None  # None: a default VirusScanner() on first use
    schemes_dir: Path | None = None
    rules_file: Path | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    future_tolerance: timedelta = timedelta(days=1)
    limits: ZipLimits = DEFAULT_LIMITS  # decompression bounds of the format checks (USAB-BOMB)

    def get_scanner(self) -> VirusScanner:
        if self.scanner is None:
            self.scanner = VirusScanner()
        return self.scanner


class _Timer:
    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings

    def add(self, family: str, started: float) -> float:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[family] = self.timings.get(family, 0.0) + (now - started)
        return now


# -- one item ------------------------------------------------------------------------------------
def check_item(
    item: ItemInput,
    config: CheckConfig | None = None,
    *,
    scan: ScanResult | None = None,
    attachment_exists: Callable[[str], bool] | None = None,
    timings: dict[str, float] | None = None,
) -> ItemReport:
    """All item-level checks. `scan` is a virus scan result already made (package runs scan in one
    batch); without it the file is scanned here. Duplicates and numbering are package-level."""
    config = config or CheckConfig()
    timer = _Timer(timings)
    t = time.perf_counter()
    report = ItemReport(path=item.name)
    out = report.results

    # authenticity: digest and electronic attributes
    try:
        digest, size = hash_file(item.path)
    except OSError as exc:
        report.results.append(failed("AUTH-DIGEST", f"file cannot be read: {exc}"))
        return report
    report.sha256, report.size = digest, size
    out.append(_check_digest(item.sha256, digest))
    out.append(_check_size(item.size, size))
    out.append(_check_name(item))
    t = timer.add("authenticity", t)

    info = formats.identify(item.path, config.limits)
    report.format = info.format
    t = timer.add("usability", t)
    out.append(_check_format_attr(item, info))
    out.append(_check_time(item, config))
    md = metadata.normalise(item.metadata)
    out.extend(_check_metadata(md, item.category_code, config))
    out.append(_check_refcode(md, item.category_code, config))
    t = timer.add("authenticity", t)

    # usability
    out.extend(_check_usability(item, info, config, out))
    t = timer.add("usability", t)

    # integrity (item level): attachments
    out.append(_check_attachments(md, attachment_exists))
    t = timer.add("integrity", t)

    # security
    if scan is None:
        scan = config.get_scanner().scan(item.path)
    out.append(_virus_result(scan))
    out.append(_exec_result(info))
    out.append(_macro_result(info))
    timer.add("security", t)
    return report


def hash_file(path: Path, on_chunk: Callable[[int], None] | None = None) -> tuple[str, int]:
    """(SHA-256 hex, size) of a file read in 1 MiB chunks; `on_chunk(n)` after each (e.g. a rate limit)."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
            if on_chunk is not None:
                on_chunk(len(chunk))
    return h.hexdigest(), size


def _check_digest(declared: str | None, actual: str) -> CheckResult:
    if not declared:
        return failed("AUTH-DIGEST", "the sender declared no SHA-256 for this file", actual=actual)
    if not _HEX64.fullmatch(declared.strip()):
        return failed("AUTH-DIGEST", f"declared SHA-256 {declared!r} is not 64 hex digits", actual=actual)
    if declared.strip().lower() != actual:
        return failed("AUTH-DIGEST", f"SHA-256 mismatch: sender declared {declared.strip().lower()}, file has {actual}",
                      declared=declared.strip().lower(), actual=actual)  # fmt: skip
    return passed("AUTH-DIGEST", "SHA-256 equals the sender's", sha256=actual)


def _check_size(declared: int | None, actual: int) -> CheckResult:
    if declared is None:
        return skipped("AUTH-ATTR-SIZE", "no size declared")
    if declared != actual:
        return failed("AUTH-ATTR-SIZE", f"size mismatch: declared {declared} bytes, file has {actual}",
                      declared=declared, actual=actual)  # fmt: skip
    return passed("AUTH-ATTR-SIZE", f"size {actual} bytes as declared")


def _check_name(item: ItemInput) -> CheckResult:
    base = PurePosixPath(item.name).name
    bad = metadata.bad_characters(item.name)
    if bad:
        return failed("AUTH-ATTR-NAME", f"file name contains refused characters: {', '.join(bad[:3])}")
    if item.declared_name is None:
        return passed("AUTH-ATTR-NAME", f"file name {base!r}")
    declared = PurePosixPath(item.declared_name.replace("\\", "/")).name
    if metadata.normalise({"n": declared})["n"] != metadata.normalise({"n": base})["n"]:
        return failed("AUTH-ATTR-NAME", f"file name {base!r} differs from the declared name {declared!r}")
    return passed("AUTH-ATTR-NAME", f"file name {base!r} as declared")


def _check_format_attr(item: ItemInput, info: formats.FormatInfo) -> CheckResult:
    code = "AUTH-ATTR-FORMAT"
    if info.format is None:
        return skipped(code, "format not identified (see USAB-FORMAT)")
    problems = []
    if item.format:
        declared = formats.normalise_declared(item.format)
        if declared is None:
            problems.append(f"declared format {item.format!r} is not a known format")
        elif declared != info.format:
            problems.append(f"declared format {formats.label(declared)} but the content is {info.label}")
    suffix = PurePosixPath(item.name).suffix.lower()
    by_ext = formats.format_for_extension(item.name)
    if suffix and by_ext and info.format not in by_ext:
        problems.append(f"the name ends {suffix} but the content is {info.label}")
    if problems:
        return failed(code, "; ".join(problems), identified=info.format)
    return passed(code, f"content is {info.label}, consistent with the name and declared format")


def _check_time(item: ItemInput, config: CheckConfig) -> CheckResult:
    code = "AUTH-ATTR-TIME"
    if not item.time:
        return skipped(code, "no file time declared")
    try:
        when = datetime.fromisoformat(item.time.replace("Z", "+00:00"))
    except ValueError:
        return failed(code, f"declared time {item.time!r} is not ISO 8601")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = config.clock()
    if when > now + config.future_tolerance:
        return failed(code, f"declared time {item.time} is in the future")
    doc_date = metadata.parse_date(item.metadata.get("date"))
    if doc_date is not None and when.date() < doc_date - timedelta(days=366):
        return failed(code, f"declared time {item.time} is more than a year before the document date {doc_date}")
    year = item.metadata.get("year")
    if isinstance(year, int) and not isinstance(year, bool) and when.year < year:
        return failed(code, f"declared time {item.time} is before the filing year {year}")
    return passed(code, f"file time {item.time} consistent with the metadata")


def _check_metadata(md: dict[str, Any], category: str | None, config: CheckConfig) -> list[CheckResult]:
    schemes = metadata.load_schemes(config.schemes_dir)
    if not category:
        return [failed("AUTH-META-SCHEME", "no category (门类) given: metadata cannot be checked")]
    scheme = schemes.get(category)
    if scheme is None:
        return [failed("AUTH-META-SCHEME", f"no metadata scheme for category {category!r} "
                                           f"(known: {', '.join(sorted(schemes))})")]  # fmt: skip
    results = [passed("AUTH-META-SCHEME", f"scheme {scheme.category} ({scheme.name})",
                      metadata_sha256=_metadata_sha(md))]  # fmt: skip
    return results + metadata.validate(md, scheme)


def _metadata_sha(md: dict[str, Any]) -> str | None:
    try:
        return metadata_digest(md)
    except Exception:
        return None


def _check_refcode(md: dict[str, Any], category: str | None, config: CheckConfig) -> CheckResult:
    code = "AUTH-REFCODE"
    given = md.get("archival_code")
    if not given:
        return skipped(code, "no reference code given (assigned at filing)")
    fonds = md.get("fonds_code")
    if not fonds or not category:
        return failed(code, "reference code given without fonds code and category to check it against")
    rule = codes.rule_for(str(fonds), str(category), config.rules_file)
    try:
        parsed = rule.parse(str(given))
    except codes.CodeError as exc:
        return failed(code, str(exc))
    expected = {"fonds": fonds, "category": category, "year": md.get("year"), "number": md.get("item_number")}
    try:
        if md.get("retention"):
            expected["retention"] = rule.retention_code(str(md["retention"]))
    except codes.CodeError:
        pass
    if "{organisation}" in rule.pattern and md.get("organisation"):
        expected["organisation"] = md["organisation"]
    diffs = [f"{k} {parsed[k]!r} in the code but {v!r} in the metadata"
             for k, v in expected.items() if v is not None and parsed.get(k) != v]  # fmt: skip
    if diffs:
        return failed(code, f"reference code {given} disagrees with the metadata: " + "; ".join(diffs))
    return passed(code, f"reference code {given} follows {rule.pattern} and matches the metadata")


def _check_usability(
    item: ItemInput, info: formats.FormatInfo, config: CheckConfig, so_far: list[CheckResult]
) -> list[CheckResult]:
    out: list[CheckResult] = []
    flagged = info.executable or info.macros
    # USAB-FORMAT
    if info.executable:
        out.append(skipped("USAB-FORMAT", f"content is executable code ({info.label}): refused by SEC-EXECUTABLE"))
    elif info.macros and info.format not in config.allowed_formats:
        out.append(skipped("USAB-FORMAT", f"content is {info.label}: refused by SEC-MACRO"))
    elif info.format == "ooxml-encrypted":
        out.append(skipped("USAB-FORMAT", "password-protected Office container: refused by USAB-ENCRYPTED"))
    elif info.format is None:
        note = f" ({info.notes[0]})" if info.notes else ""
        out.append(failed("USAB-FORMAT", f"format not identified by content{note}"))
    elif info.format not in config.allowed_formats:
        allowed = ", ".join(formats.label(f) for f in sorted(config.allowed_formats))
        out.append(failed("USAB-FORMAT", f"format {info.label} is not on the allowed list ({allowed})",
                          format=info.format))  # fmt: skip
    else:
        out.append(passed("USAB-FORMAT", f"format {info.label} identified by content, allowed", format=info.format))

    # USAB-PARSE (and the parser's view of encryption)
    parsed: parsers.ParseResult | None = None
    if info.bomb:
        out.append(skipped("USAB-PARSE", "not parsed: decompression bomb (see USAB-BOMB)"))
    elif flagged and info.format not in parsers.PARSERS:
        out.append(skipped("USAB-PARSE", "not parsed: refused as executable or macro content"))
    elif info.encrypted:
        out.append(skipped("USAB-PARSE", "not parsed: encrypted (see USAB-ENCRYPTED)"))
    elif info.format is None or info.format not in parsers.PARSERS:
        out.append(skipped("USAB-PARSE", f"no parser for {info.label}"))
    else:
        parsed = parsers.parse(item.path, info.format, info.encoding, config.limits)
        if parsed.bomb:
            out.append(skipped("USAB-PARSE", "not parsed further: decompression bomb (see USAB-BOMB)"))
        elif parsed.encrypted:
            out.append(skipped("USAB-PARSE", "not parsed: encrypted (see USAB-ENCRYPTED)"))
        elif parsed.ok:
            out.append(passed("USAB-PARSE", parsed.message, **parsed.details))
        else:
            out.append(failed("USAB-PARSE", f"{info.label} does not parse: {parsed.message}"))

    # USAB-BOMB: a container or image that inflates past the bounds (refused before it is inflated)
    bomb = info.bomb or (parsed.bomb if parsed else None)
    if bomb:
        out.append(failed("USAB-BOMB", f"decompression bomb refused: {bomb}"))
    else:
        out.append(passed("USAB-BOMB", "inflates within the bounds"))

    # USAB-ENCRYPTED
    why = info.encrypted or (parsed.encrypted if parsed else None)
    if why:
        out.append(failed("USAB-ENCRYPTED", f"encrypted or password-protected: {why}"))
    else:
        out.append(passed("USAB-ENCRYPTED", "not encrypted"))

    # USAB-COMPRESSION
    if info.unknown_compression:
        listed = ", ".join(info.unknown_compression[:5])
        out.append(failed("USAB-COMPRESSION", f"compression other than stored/deflate: {listed}"))
    else:
        out.append(passed("USAB-COMPRESSION", "no unknown compression"))

    # AUTH-META-LINK: the metadata describes this content (page count)
    out.append(_check_link(item, parsed))
    return out


def _check_link(item: ItemInput, parsed: parsers.ParseResult | None) -> CheckResult:
    code = "AUTH-META-LINK"
    declared = metadata.coerce({"pages": item.metadata.get("pages")}, _PAGES_SCHEME).get("pages")
    if declared is None:
        return skipped(code, "no page count in the metadata")
    if parsed is None or not parsed.ok or "pages" not in parsed.details:
        return skipped(code, "page count of the content not known for this format")
    actual = parsed.details["pages"]
    if declared != actual:
        return failed(code, f"metadata says {declared} page(s), the content has {actual}", declared=declared,
                      actual=actual)  # fmt: skip
    return passed(code, f"page count {actual} matches the metadata")


_PAGES_SCHEME = metadata.Scheme("_", "_", {"pages": metadata.Field("pages", "页数", "integer")})


def _check_attachments(md: dict[str, Any], exists: Callable[[str], bool] | None) -> CheckResult:
    code = "INTEG-ATTACH"
    listed = md.get("attachments") or []
    if isinstance(listed, str):
        listed = [x.strip() for x in listed.split(";") if x.strip()]
    if not listed:
        return skipped(code, "no attachments listed")
    if exists is None:
        return skipped(code, f"{len(listed)} attachment(s) listed; no package to look in")
    missing = [a for a in listed if not exists(a)]
    if missing:
        return failed(code, f"attachment(s) missing from the package: {', '.join(missing[:10])}", missing=missing)
    return passed(code, f"{len(listed)} attachment(s) present")


def _virus_result(scan: ScanResult) -> CheckResult:
    if scan.status == "clean":
        return passed("SEC-VIRUS", scan.message)
    if scan.status == "infected":
        return failed("SEC-VIRUS", scan.message, signature=scan.signature)
    if scan.status == "unavailable":
        return skipped("SEC-VIRUS", f"not scanned: {scan.message}")
    return failed("SEC-VIRUS", f"virus scan failed: {scan.message}")


def _exec_result(info: formats.FormatInfo) -> CheckResult:
    if info.executable:
        return failed("SEC-EXECUTABLE", f"executable content refused: {info.executable}")
    return passed("SEC-EXECUTABLE", "no executable content")


def _macro_result(info: formats.FormatInfo) -> CheckResult:
    if info.macros:
        return failed("SEC-MACRO", f"macros refused: {info.macros}")
    return passed("SEC-MACRO", "no macros")


# -- a package -----------------------------------------------------------------------------------
def check_package(
    items: list[ItemInput],
    *,
    package: str,
    manifest: ManifestFacts | None = None,
    existing: ExistingLookup | None = None,
    expected_start: Callable[[tuple[Any, ...]], int] | None = None,
    config: CheckConfig | None = None,
    process: dict[str, Any] | None = None,
    package_files: Iterable[str] | None = None,
    timings: dict[str, float] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PackageReport:
    """Check every item, then the package as a whole.

    `existing(kind, value)` answers whether the archive already holds an item with that reference
    code / document number / title+date (returns its id). `expected_start(scope)` gives the first
    number expected in a numbering scope (rule scope values, e.g. (fonds, category, year, retention,
    organisation)); default: the rule's start. `package_files`: paths present in the package (for
    attachments). `process`: who ran the checks, when and from where (SEC-PROCESS). `progress(done,
    total)` is told after each item (the web UI's filing job shows it)."""
    config = config or CheckConfig()
    manifest = manifest or ManifestFacts()
    timer = _Timer(timings)
    report = PackageReport(package=package)
    present = set(package_files) if package_files is not None else {i.name for i in items}

    t = time.perf_counter()
    scans = config.get_scanner().scan_many([i.path for i in items])
    t = timer.add("security", t)
    for item in items:
        report.items.append(
            check_item(
                item, config, scan=scans[str(item.path)], attachment_exists=present.__contains__, timings=timings
            )
        )
        if progress is not None:
            progress(len(report.items), len(items))
    t = time.perf_counter()

    # authenticity (package): manifest consistency and duplicates
    report.results.extend(manifest.results)
    if not any(r.code == "AUTH-MANIFEST" for r in manifest.results):
        report.results.append(passed("AUTH-MANIFEST", "manifest consistent"))
    _check_duplicates(items, report, existing)
    t = timer.add("authenticity", t)

    # integrity (package): count, bytes, numbering
    report.results.append(_check_count(items, manifest))
    report.results.append(_check_bytes(report.items, manifest))
    report.results.extend(_check_numbering(items, config, expected_start))
    t = timer.add("integrity", t)

    report.results.append(_check_process(process or {}, config))
    report.process = dict(process or {}, scanner=config.get_scanner().describe())
    timer.add("security", t)
    return report


def _check_count(items: list[ItemInput], m: ManifestFacts) -> CheckResult:
    code = "INTEG-COUNT"
    problems = []
    if m.missing:
        problems.append(f"{len(m.missing)} listed file(s) missing: {', '.join(m.missing[:10])}")
    if m.unlisted:
        problems.append(f"{len(m.unlisted)} file(s) not in the manifest: {', '.join(m.unlisted[:10])}")
    if m.declared_count is not None and m.declared_count != len(items):
        problems.append(f"manifest declares {m.declared_count} item(s), the package has {len(items)}")
    if problems:
        return failed(code, "; ".join(problems), declared=m.declared_count, actual=len(items))
    return passed(code, f"{len(items)} item(s) as in the manifest")


def _check_bytes(reports: list[ItemReport], m: ManifestFacts) -> CheckResult:
    code = "INTEG-BYTES"
    actual = sum(r.size or 0 for r in reports)
    if m.declared_bytes is None:
        return skipped(code, f"manifest declares no total size ({actual} bytes in the package)")
    if m.declared_bytes != actual:
        return failed(code, f"manifest declares {m.declared_bytes} bytes in total, the package has {actual}",
                      declared=m.declared_bytes, actual=actual)  # fmt: skip
    return passed(code, f"{actual} bytes as in the manifest")


def _check_numbering(
    items: list[ItemInput], config: CheckConfig, expected_start: Callable[[tuple[Any, ...]], int] | None
) -> list[CheckResult]:
    code = "INTEG-NUMBERING"
    groups: dict[tuple[Any, ...], list[int]] = {}
    rules: dict[tuple[Any, ...], codes.CodeRule] = {}
    for item in items:
        md = item.metadata
        number = md.get("item_number")
        if isinstance(number, str) and number.isdigit() and len(number) <= 18:
            number = int(number)
        found = numbering_scope(item, config) if isinstance(number, int) and not isinstance(number, bool) else None
        if found is None:
            continue
        rule, key = found
        groups.setdefault(key, []).append(number)
        rules[key] = rule
    if not groups:
        return [skipped(code, "no item numbers to check")]
    out = []
    for key, numbers in sorted(groups.items(), key=lambda kv: str(kv[0])):
        rule = rules[key]
        start = expected_start(key) if expected_start else rule.start
        gaps, repeats = codes.gaps_and_repeats(numbers, start)
        scope = "/".join(str(k) for k in key if k is not None)
        if gaps or repeats:
            parts = []
            if gaps:
                parts.append(f"gap(s): {codes.compress_ranges(gaps)}")
            if repeats:
                parts.append(f"repeated: {codes.compress_ranges(repeats)}")
            out.append(failed(code, f"numbering of {scope} not continuous from {start}: {'; '.join(parts)}",
                              scope=scope, gaps=gaps[:100], repeats=repeats[:100]))  # fmt: skip
        else:
            out.append(passed(code, f"{scope}: numbers {start}-{max(numbers)} continuous", scope=scope))
    if not any(r.outcome == "fail" for r in out):
        return [passed(code, "; ".join(r.message for r in out[:5]) + (" ..." if len(out) > 5 else ""))]
    return [r for r in out if r.outcome == "fail"]


def numbering_scope(item: ItemInput, config: CheckConfig) -> tuple[codes.CodeRule, tuple[Any, ...]] | None:
    """The rule and numbering scope key of an item (None without fonds or category): the one
    computation behind INTEG-NUMBERING and the filer's code assignment (node/filing/service.py)."""
    md = item.metadata
    fonds, category = md.get("fonds_code"), item.category_code
    if not fonds or not category:
        return None
    rule = codes.rule_for(str(fonds), str(category), config.rules_file)
    year = md.get("year")
    values = {
        "fonds": fonds,
        "category": category,
        "year": int(year) if str(year).isdigit() and len(str(year)) <= 18 else year,
        "retention": _retention_code(rule, md.get("retention")),
        "organisation": md.get("organisation") or None,
    }
    return rule, rule.scope_key(values)


def _retention_code(rule: codes.CodeRule, retention: Any) -> Any:
    try:
        return rule.retention_code(str(retention)) if retention else None
    except codes.CodeError:
        return retention


def _check_duplicates(items: list[ItemInput], report: PackageReport, existing: ExistingLookup | None) -> None:
    code = "AUTH-DUPLICATE"
    seen: dict[tuple[str, str], str] = {}
    for item, item_report in zip(items, report.items, strict=True):
        md = metadata.normalise(item.metadata)
        keys = []
        fonds = str(md.get("fonds_code") or "")
        if md.get("archival_code"):
            keys.append(("archival_code", str(md["archival_code"]), "reference code"))
        if md.get("document_number"):
            keys.append(("document_number", f"{fonds}|{md['document_number']}", "document number"))
        if md.get("title") and md.get("date"):
            d = metadata.parse_date(md.get("date"))
            keys.append(("title_date", f"{fonds}|{md['title']}|{d or md['date']}", "title and date"))
        problems = []
        for kind, value, label in keys:
            shown = value.split("|", 1)[-1]
            first = seen.setdefault((kind, value), item.name)
            if first != item.name:
                problems.append(f"{label} {shown!r} also in {first}")
            if existing is not None:
                found = existing(kind, value)
                if found:
                    problems.append(f"{label} {shown!r} already in the archive (item {found})")
        if problems:
            item_report.results.append(failed(code, "duplicate: " + "; ".join(problems)))
        elif keys:
            item_report.results.append(passed(code, "no duplicate " + ", ".join(k[2] for k in keys)))
        else:
            item_report.results.append(skipped(code, "no reference code, document number or title+date to compare"))


def _check_process(process: dict[str, Any], config: CheckConfig) -> CheckResult:
    code = "SEC-PROCESS"
    missing = [k for k in ("who", "when", "where") if not process.get(k)]
    if missing:
        return failed(code, f"check process not fully recorded: no {', '.join(missing)}", **process)
    return passed(code, f"checked by {process['who']} at {process['when']} from {process['where']}")


def default_process(who: str | None = None, where: str | None = None) -> dict[str, Any]:
    """who (OS user unless given), when (now, UTC), where (host name unless given), tool version."""
    import getpass
    import socket

    from node.filing.checks import ENGINE_VERSION

    try:
        user = who or getpass.getuser()
    except Exception:
        user = who or str(os.getuid())
    return {"who": user, "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "where": where or socket.gethostname(), "engine": ENGINE_VERSION}  # fmt: skip
