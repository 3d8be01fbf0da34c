"""Load a transfer package for the checks: a directory or ZIP with a manifest, or a BagIt bag.

    with load_package(path) as pkg:
        report = check_package(pkg.items, package=pkg.name, manifest=pkg.facts, package_files=pkg.files)

Manifest (manifest.csv or manifest.json at the package root; in a bag at the bag root or in data/):
one row per item with `path` (relative, '/'-separated) and `sha256` (computed by the sending system);
optional `size`, `format`, `time`, `name` (the original file name), `category`; every other column is
metadata (CSV cells are converted to the scheme's types; `attachments` is ';'-separated in CSV).
manifest.json is either a list of rows or {"item_count", "total_bytes", "items": [rows]}; a row may
hold its metadata under "metadata". A ZIP is unpacked into a temporary directory with limits (no
absolute or '..' paths, no links, bounded total size and entry count).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from node.core.errors import PackageError
from node.core.limits import loads_bounded
from node.filing.checks import metadata
from node.filing.checks.engine import ItemInput, ManifestFacts
from node.filing.checks.model import CheckResult, failed, passed
from node.filing.checks.ziplimits import ZipBomb, ZipCorrupt, ZipLimits, copy_member, judge, open_zip

MANIFEST_NAMES = ("manifest.json", "manifest.csv")
RESERVED = {"path", "sha256", "size", "format", "time", "name", "category", "metadata"}


@dataclass
class LoadedPackage:
    name: str
    kind: str  # directory | zip | bagit
    root: Path
    items: list[ItemInput] = field(default_factory=list)
    facts: ManifestFacts = field(default_factory=ManifestFacts)
    files: set[str] = field(default_factory=set)  # every file in the payload, relative
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LoadedPackage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# The compression methods zipfile reads; a member in another (deflate64, PPMd ...) is refused before anything is
# written, as unreadable.
READABLE_COMPRESSION = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
                        zipfile.ZIP_LZMA: "lzma"}  # fmt: skip

def load_package(path: str | Path, *, tmp_root: Path | None = None, limits: ZipLimits | None = None) -> LoadedPackage:
    """A directory or ZIP package. A ZIP is expanded under `tmp_root` (the system's temp dir when None)
    within `limits` (ZipLimits.for_packages): refused before anything is written when its directory
    declares too much, too many entries, too high a ratio or more than the free disk allows."""
    path = Path(path)
    if path.is_dir():
        return _load_dir(path, path.name, "directory")
    if path.is_file() and zipfile.is_zipfile(path):
        if tmp_root is not None:
            tmp_root.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = tempfile.TemporaryDirectory(prefix="archive-ledger-checks-", dir=tmp_root)
        try:
            root = _safe_extract(path, Path(tmp.name), limits or ZipLimits.for_packages())
            pkg = _load_dir(root, path.name, "zip")
        except BaseException:
            tmp.cleanup()
            raise
        pkg._tmp = tmp
        return pkg
    raise PackageError(f"{path.name} is neither a directory nor a ZIP file")


def _safe_extract(zpath: Path, dest: Path, limits: ZipLimits | None = None) -> Path:
    limits = limits or ZipLimits.for_packages()
    try:
        zf = open_zip(zpath, limits)
    except ZipBomb as exc:
        raise PackageError(f"refused (decompression bomb): {exc}") from exc
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise PackageError(f"the ZIP cannot be read: {str(exc).replace(str(zpath), zpath.name)}") from exc
    with zf:
        infos = zf.infolist()
        try:
            judge(infos, limits)
        except ZipBomb as exc:
            raise PackageError(f"refused (decompression bomb): {exc}") from exc
        declared = sum(i.file_size for i in infos)
        if limits.min_free_bytes:
            free = shutil.disk_usage(dest).free
            if declared + limits.min_free_bytes > free:
                raise PackageError(f"the ZIP declares {declared} bytes inflated: not enough free disk to expand it "
                                   f"(keeping {limits.min_free_bytes} bytes free)")  # fmt: skip
        for i in infos:
            p = PurePosixPath(i.filename)
            if p.is_absolute() or ".." in p.parts or "\\" in i.filename:
                raise PackageError(f"ZIP entry {i.filename!r} has an unsafe path")
            if stat.S_ISLNK(i.external_attr >> 16):
                raise PackageError(f"ZIP entry {i.filename!r} is a symbolic link")
            if i.flag_bits & 0x1:
                raise PackageError(f"ZIP entry {i.filename!r} is encrypted: the package cannot be opened")
            if i.compress_type not in READABLE_COMPRESSION:
                raise PackageError(
                    f"ZIP entry {i.filename!r} uses compression method {i.compress_type}, which cannot be read "
                    f"(use one of: {', '.join(READABLE_COMPRESSION.values())})"
                )
        written = 0
        for i in infos:
            target = dest / PurePosixPath(i.filename)
            if i.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with target.open("wb") as out:
                    written += copy_member(zf, i, out, limits)
            except ZipBomb as exc:
                raise PackageError(f"refused (decompression bomb): {exc}") from exc
            except ZipCorrupt as exc:
                raise PackageError(str(exc)) from exc
            if written > limits.max_total_bytes:
                raise PackageError(f"refused (decompression bomb): the ZIP inflates past {limits.max_total_bytes}")
    # a ZIP holding one top-level folder: that folder is the package
    children = [c for c in dest.iterdir() if c.name != "__MACOSX"]
    if len(children) == 1 and children[0].is_dir() and not _has_manifest(dest):
        return children[0]
    return dest


def _has_manifest(d: Path) -> bool:
    return any((d / n).is_file() for n in MANIFEST_NAMES) or (d / "bagit.txt").is_file()


def _walk(root: Path) -> set[str]:
    """Every regular file under `root`, relative; symbolic links are neither listed nor followed."""
    out = set()
    for top, dirs, files in os.walk(root, followlinks=False):
        base = Path(top)
        dirs[:] = [d for d in dirs if not (base / d).is_symlink()]
        for f in files:
            p = base / f
            if not p.is_symlink() and p.is_file():
                out.add(p.relative_to(root).as_posix())
    return out


def _links(root: Path) -> list[str]:
    """Symbolic links anywhere in the package (files or folders), relative: never followed."""
    out = []
    for top, dirs, files in os.walk(root, followlinks=False):
        base = Path(top)
        for n in [*dirs, *files]:
            if (base / n).is_symlink():
                out.append((base / n).relative_to(root).as_posix())
    return sorted(out)


def _load_dir(root: Path, name: str, kind: str) -> LoadedPackage:
    links = _links(root)
    pkg = _load_bag(root, name) if (root / "bagit.txt").is_file() else _load_plain(root, name, kind)
    if links:
        _refuse_links(pkg, links)
    return pkg


def _refuse_links(pkg: LoadedPackage, links: list[str]) -> None:
    """A package's symbolic links are refused: the items behind them are not read (they could point
    anywhere on the server), and AUTH-MANIFEST fails."""
    base = pkg.root / "data" if pkg.kind == "bagit" else pkg.root

    def behind_link(path: Path) -> bool:
        try:
            rel = path.relative_to(pkg.root).as_posix()
        except ValueError:
            return True
        return any(rel == link or rel.startswith(link + "/") for link in links)

    pkg.items = [i for i in pkg.items if not behind_link(i.path)]
    pkg.files = {f for f in pkg.files if not behind_link(base / f)}
    refused = failed("AUTH-MANIFEST", f"the package holds {len(links)} symbolic link(s), refused (not followed): "
                     + ", ".join(links[:10]), links=links[:100])  # fmt: skip
    kept = tuple(r for r in pkg.facts.results if not (r.code == "AUTH-MANIFEST" and r.outcome == "pass"))
    f = pkg.facts
    pkg.facts = ManifestFacts(f.declared_count, f.declared_bytes, f.missing, f.unlisted, (*kept, refused))


def _load_plain(root: Path, name: str, kind: str) -> LoadedPackage:
    files = _walk(root)
    manifest = next((root / n for n in MANIFEST_NAMES if _regular(root / n)), None)
    pkg = LoadedPackage(name=name, kind=kind, root=root)
    if manifest is None:
        pkg.files = files
        pkg.facts = ManifestFacts(unlisted=tuple(sorted(files)), results=(
            failed("AUTH-MANIFEST", f"no manifest ({' or '.join(MANIFEST_NAMES)}) at the package root"),))  # fmt: skip
        return pkg
    payload = files - {manifest.name}
    rows, header, results = _read_manifest(manifest)
    _build(pkg, root, rows, header, results, payload, {})
    return pkg


def _read_manifest(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any], list[CheckResult]]:
    results: list[CheckResult] = []
    header: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    try:
        if path.suffix == ".json":
            data = loads_bounded(path.read_bytes())  # depth and numbers bounded, like a request body
            if isinstance(data, dict):
                header = {k: v for k, v in data.items() if k != "items"}
                data = data.get("items")
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise ValueError("manifest.json must be a list of objects or an object with an 'items' list")
            rows = [dict(r, _csv=False) for r in data]
        else:
            text = path.read_text(encoding="utf-8-sig")
            reader = csv.DictReader(io.StringIO(text, newline=""))
            if not reader.fieldnames or "path" not in reader.fieldnames:
                raise ValueError("manifest.csv needs a header row with at least 'path' and 'sha256'")
            for row in reader:
                if None in row:
                    raise ValueError(f"manifest.csv line {reader.line_num} has more cells than the header")
                rows.append(dict(row, _csv=True))
    except (OSError, ValueError, csv.Error, UnicodeDecodeError) as exc:
        results.append(failed("AUTH-MANIFEST", f"{path.name} cannot be read: {exc}"))
    return rows, header, results


def _build(
    pkg: LoadedPackage,
    root: Path,
    rows: list[dict[str, Any]],
    header: dict[str, Any],
    results: list[CheckResult],
    payload: set[str],
    bag_sha256: dict[str, str],
    declared: tuple[int | None, int | None] | None = None,
) -> None:
    problems: list[str] = []
    listed: set[str] = set()
    referenced: set[str] = set()
    missing: list[str] = []
    sizes: list[int | None] = []
    schemes = metadata.load_schemes()
    for n, row in enumerate(rows, 1):
        is_csv = row.pop("_csv", False)
        rel = str(row.get("path") or "").strip().replace("\\", "/")
        rel = rel.removeprefix("./")
        if pkg.kind == "bagit":
            rel = rel.removeprefix("data/")
        p = PurePosixPath(rel)
        if not rel or p.is_absolute() or ".." in p.parts:
            problems.append(f"row {n}: path {rel!r} is missing or unsafe")
            continue
        if rel in listed:
            problems.append(f"row {n}: {rel} listed twice")
            continue
        listed.add(rel)
        md = dict(row["metadata"]) if isinstance(row.get("metadata"), dict) else {
            k: v for k, v in row.items() if k not in RESERVED}  # fmt: skip
        category = row.get("category") or md.get("category") or header.get("category")
        if category and "category" not in md:
            md["category"] = category
        if header.get("fonds") and "fonds_code" not in md:
            md["fonds_code"] = header["fonds"]
        if is_csv and category in schemes:
            md = metadata.coerce(md, schemes[category])
        elif is_csv:
            md = {k: v for k, v in md.items() if v != ""}
        for a in md.get("attachments") or []:
            referenced.add(str(a))
        size = row.get("size")
        if isinstance(size, str) and size.strip():
            size = int(size) if size.strip().isdigit() and len(size.strip()) <= 18 else size
        if size in ("", None):
            size = None
        elif isinstance(size, bool) or not isinstance(size, int) or size < 0:
            problems.append(f"row {n}: size {size!r} is not a byte count")
            size = None
        sizes.append(size)
        sha = (row.get("sha256") or "").strip().lower() or None
        bag_sha = bag_sha256.get(rel)
        if bag_sha and sha and bag_sha != sha:
            problems.append(f"{rel}: sha256 in the manifest differs from the bag's manifest-sha256.txt")
        if rel not in payload:
            missing.append(rel)
            continue
        pkg.items.append(ItemInput(
            path=root / ("data/" + rel if pkg.kind == "bagit" else rel), name=rel, sha256=sha or bag_sha,
            size=size, format=row.get("format") or None, time=row.get("time") or None,
            declared_name=row.get("name") or None, metadata=md, category=category or None,
        ))  # fmt: skip
    pkg.files = payload
    unlisted = sorted(payload - listed - referenced)
    if declared is not None:
        d_count, d_bytes = declared
    else:
        d_count = header.get("item_count", len(rows))
        d_bytes = header.get("total_bytes")
        if d_bytes is None and sizes and all(s is not None for s in sizes):
            d_bytes = sum(s for s in sizes if s is not None)
    if not rows and not results:
        problems.append("the manifest lists no item")
    if problems:
        results.append(failed("AUTH-MANIFEST", "manifest inconsistent: " + "; ".join(problems[:10]),
                              problems=problems[:100]))  # fmt: skip
    elif not results:
        results.append(passed("AUTH-MANIFEST", f"manifest lists {len(rows)} item(s), paths unique and safe"))
    pkg.facts = ManifestFacts(d_count, d_bytes, tuple(missing), tuple(unlisted), tuple(results))


def _load_bag(root: Path, name: str) -> LoadedPackage:
    import logging

    import bagit

    logging.getLogger("bagit").setLevel(logging.ERROR)
    pkg = LoadedPackage(name=name, kind="bagit", root=root)
    results: list[CheckResult] = []
    try:
        bag = bagit.Bag(str(root))
    except bagit.BagError as exc:
        pkg.facts = ManifestFacts(results=(failed("AUTH-MANIFEST", f"not a valid BagIt bag: {exc}"),))
        return pkg
    try:
        bag.validate(completeness_only=True)
    except bagit.BagValidationError as exc:
        kinds = {type(d).__name__ for d in exc.details}
        completeness = kinds <= {"FileMissing", "UnexpectedFile"} and exc.details
        if not completeness and "Payload-Oxum" not in exc.message:
            results.append(failed("AUTH-MANIFEST", f"BagIt validation: {exc}"))
    except bagit.BagError as exc:
        results.append(failed("AUTH-MANIFEST", f"BagIt validation: {exc}"))
    payload = {p.removeprefix("data/") for p in bag.payload_files()}
    entries = {k.removeprefix("data/"): v for k, v in bag.payload_entries().items()}
    bag_sha = {k: v["sha256"] for k, v in entries.items() if "sha256" in v}
    if "sha256" not in bag.algorithms:
        results.append(
            failed("AUTH-MANIFEST", f"bag has no manifest-sha256.txt (algorithms: {', '.join(bag.algorithms)})")
        )
    declared: tuple[int | None, int | None] = (len(entries), None)
    oxum = bag.info.get("Payload-Oxum")
    if isinstance(oxum, str) and "." in oxum:
        b, _, c = oxum.partition(".")
        if b.isdigit() and c.isdigit() and len(b) <= 18 and len(c) <= 18:
            declared = (int(c), int(b))
    manifest = next((d / n for d in (root, root / "data") for n in MANIFEST_NAMES if _regular(d / n)), None)
    if manifest is not None:
        rows, header, read_results = _read_manifest(manifest)
        results.extend(read_results)
        if manifest.parent != root:
            payload.discard(manifest.name)
            entries.pop(manifest.name, None)
            if declared[0] is not None:
                size = manifest.stat().st_size
                declared = (declared[0] - 1, declared[1] - size if declared[1] is not None else None)
    else:
        rows, header = [{"path": k, "_csv": False} for k in sorted(entries)], {}
    missing_on_disk = sorted(set(entries) - payload)
    _build(pkg, root, rows, header, results, payload, bag_sha, declared)
    if missing_on_disk:
        pkg.facts = ManifestFacts(pkg.facts.declared_count, pkg.facts.declared_bytes,
                                  tuple(sorted(set(pkg.facts.missing) | set(missing_on_disk))),
                                  pkg.facts.unlisted, pkg.facts.results)  # fmt: skip
    return pkg


def _regular(p: Path) -> bool:
    """A regular file, not a symbolic link to one (a manifest must not be read from elsewhere)."""
    return p.is_file() and not p.is_symlink()
