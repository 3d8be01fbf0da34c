"""Bounded reading of ZIP containers (OOXML, OFD, transfer packages): decompression bombs are refused.

Every member is judged from the central directory first (declared inflated size and the ratio to its
compressed size), then read in chunks with a running count, so a member that lies about its size or
inflates past a bound is stopped at the bound, never read whole into memory. A ZIP that breaks a bound
raises `ZipBomb` (the checks report it as USAB-BOMB); a corrupt one (bad CRC, sizes that do not add up,
a broken deflate stream) raises `ZipCorrupt`.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from node.core.errors import ZipBomb, ZipCorrupt

CHUNK = 1 << 20


@dataclass(frozen=True)
class ZipLimits:
    """Bounds on what one ZIP may inflate to. Defaults are the node's; settings may tighten them."""

    max_total_bytes: int = 1024**3  # everything a format check inflates from one file
    max_member_bytes: int = 256 * 1024**2  # one member (an XML part of a DOCX/XLSX/OFD)
    max_ratio: int = 200  # inflated / compressed, for members larger than `ratio_floor`
    ratio_floor: int = 1024**2  # smaller members may compress better than `max_ratio` (empty XML parts)
    max_entries: int = 10_000  # a DOCX/XLSX has tens to a few hundred parts
    max_image_bytes: int = 128 * 1024**2  # one decoded image frame (an A4 page at 600 dpi in colour is ~105 MB)

    min_free_bytes: int = 0  # free disk that must remain after expanding a package (0: not checked)

    @classmethod
    def for_checks(cls, settings: Any) -> ZipLimits:
        """The format checks' bounds from the node's settings (node/core/settings.py)."""
        d = cls()
        return cls(
            max_total_bytes=getattr(settings, "checks_max_inflated_bytes", d.max_total_bytes),
            max_member_bytes=getattr(settings, "checks_max_member_bytes", d.max_member_bytes),
            max_ratio=getattr(settings, "checks_max_ratio", d.max_ratio),
            max_image_bytes=getattr(settings, "checks_max_image_bytes", d.max_image_bytes),
        )

    @classmethod
    def for_packages(cls, settings: Any = None) -> ZipLimits:
        """Bounds on expanding a ZIP transfer package (a member may be a large document)."""
        total = getattr(settings, "package_max_expanded_bytes", PACKAGE_MAX_EXPANDED)
        return cls(
            max_total_bytes=total, max_member_bytes=total, max_ratio=getattr(settings, "checks_max_ratio", 200),
            max_entries=getattr(settings, "package_max_entries", 100_000),
            min_free_bytes=getattr(settings, "package_min_free_bytes", 1024**3),
        )


PACKAGE_MAX_EXPANDED = 8 * 1024**3
DEFAULT_LIMITS = ZipLimits()


CD_BYTES_PER_ENTRY = 256  # central directory bytes allowed per permitted entry (a long name is ~200 bytes)


def open_zip(path: Path, limits: ZipLimits = DEFAULT_LIMITS) -> zipfile.ZipFile:
    """zipfile.ZipFile(path), after the end-of-central-directory record is read: a directory of more
    entries or bytes than the bounds allow is refused before zipfile builds an object per entry."""
    with path.open("rb") as fp:
        end = zipfile._EndRecData(fp)  # type: ignore[attr-defined]  # (stdlib; None: not a ZIP)
    if end is not None:
        count, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]  # type: ignore[attr-defined]
        if count > limits.max_entries:
            raise ZipBomb(f"ZIP declares {count} entries, more than {limits.max_entries}")
        if size > max(limits.max_entries * CD_BYTES_PER_ENTRY, 1024**2):
            raise ZipBomb(f"ZIP central directory is {size} bytes, more than {limits.max_entries} entries need")
    return zipfile.ZipFile(path)


def judge(infos: list[zipfile.ZipInfo], limits: ZipLimits = DEFAULT_LIMITS) -> None:
    """Refuse from the central directory alone: too many entries, too much declared, too high a ratio."""
    if len(infos) > limits.max_entries:
        raise ZipBomb(f"ZIP has {len(infos)} entries, more than {limits.max_entries}")
    total = 0
    for i in infos:
        if i.file_size > limits.max_member_bytes:
            raise ZipBomb(
                f"ZIP entry {i.filename!r} declares {i.file_size} bytes inflated, more than {limits.max_member_bytes}"
            )
        if i.file_size > limits.ratio_floor and i.file_size > limits.max_ratio * max(i.compress_size, 1):
            ratio = i.file_size // max(i.compress_size, 1)
            raise ZipBomb(
                f"ZIP entry {i.filename!r} inflates {ratio}:1 ({i.compress_size} -> {i.file_size} bytes), "
                f"more than {limits.max_ratio}:1"
            )
        total += i.file_size
        if total > limits.max_total_bytes:
            raise ZipBomb(f"ZIP declares more than {limits.max_total_bytes} bytes inflated in total")


def read_chunks(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ZipLimits = DEFAULT_LIMITS) -> Iterator[bytes]:
    """The member's bytes in chunks of at most 1 MiB, counted against its declared size and the bounds;
    the CRC is checked at the end (by zipfile). Corruption raises ZipCorrupt, excess raises ZipBomb."""
    cap = min(info.file_size, limits.max_member_bytes)
    seen = 0
    try:
        with zf.open(info) as member:
            while chunk := member.read(CHUNK):
                seen += len(chunk)
                if seen > cap:
                    raise ZipBomb(f"ZIP entry {info.filename!r} inflates past {cap} bytes")
                yield chunk
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ZipCorrupt(f"ZIP entry {info.filename!r} is corrupt: {exc}") from exc
    if seen != info.file_size:
        raise ZipCorrupt(f"ZIP entry {info.filename!r} declares {info.file_size} bytes but holds {seen}")


class BoundedMember:
    """A file-like view of one member for streaming parsers (XML): reads stop at the bounds."""

    def __init__(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ZipLimits = DEFAULT_LIMITS) -> None:
        self._chunks = read_chunks(zf, info, limits)
        self._buffer = b""
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = CHUNK
        if self._pos >= len(self._buffer):
            self._buffer, self._pos = next(self._chunks, b""), 0
        out = self._buffer[self._pos : self._pos + n]  # at most what is left of the current chunk
        self._pos += len(out)
        return out


def read_bounded(zf: zipfile.ZipFile, name: str, max_bytes: int, limits: ZipLimits = DEFAULT_LIMITS) -> bytes:
    """A small member whole (e.g. [Content_Types].xml), refused past `max_bytes`."""
    info = zf.getinfo(name)
    if info.file_size > max_bytes:
        raise ZipBomb(f"ZIP entry {name!r} declares {info.file_size} bytes, more than {max_bytes} for this part")
    return b"".join(read_chunks(zf, info, limits))


def verify_all(zf: zipfile.ZipFile, limits: ZipLimits = DEFAULT_LIMITS) -> None:
    """Judge the directory, then read every member (CRC and sizes checked) without keeping it."""
    infos = zf.infolist()
    judge(infos, limits)
    for info in infos:
        for _ in read_chunks(zf, info, limits):
            pass


def copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, out: IO[bytes], limits: ZipLimits) -> int:
    """Stream one member to `out`; returns the bytes written."""
    written = 0
    for chunk in read_chunks(zf, info, limits):
        out.write(chunk)
        written += len(chunk)
    return written
