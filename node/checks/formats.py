"""Format identification by content (magic bytes and container structure), never by file name.

`identify(path)` reads the head of the file (and, for ZIP and OLE containers, their directories) and
returns a `FormatInfo` with the format key and the red flags the usability and security checks need:
executable, macros, encryption, unknown compression.
"""

from __future__ import annotations

import array
import codecs
import mmap
import re
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.checks.ziplimits import DEFAULT_LIMITS, ZipBomb, ZipLimits, judge, open_zip, read_bounded

HEAD_BYTES = 64 * 1024
TEXT_SAMPLE = 256 * 1024
CONTENT_TYPES_MAX = 4 * 1024**2  # [Content_Types].xml of a real OOXML file is a few KiB

# format key -> (label, mime, usual extensions)
FORMATS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "pdf": ("PDF", "application/pdf", (".pdf",)),
    "ofd": ("OFD", "application/ofd", (".ofd",)),
    "jpeg": ("JPEG", "image/jpeg", (".jpg", ".jpeg", ".jpe")),
    "tiff": ("TIFF", "image/tiff", (".tif", ".tiff")),
    "png": ("PNG", "image/png", (".png",)),
    "txt": ("TXT", "text/plain", (".txt", ".text", ".csv", ".log")),
    "xml": ("XML", "application/xml", (".xml",)),
    "docx": ("DOCX", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", (".docx",)),
    "xlsx": ("XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (".xlsx",)),
    "mp3": ("MP3", "audio/mpeg", (".mp3",)),
    "mp4": ("MP4", "video/mp4", (".mp4", ".m4a", ".m4v")),
    "wav": ("WAV", "audio/wav", (".wav",)),
    # recognised but not on the default allowed list
    "docm": ("DOCM (macro-enabled Word)", "application/vnd.ms-word.document.macroEnabled.12", (".docm",)),
    "xlsm": ("XLSM (macro-enabled Excel)", "application/vnd.ms-excel.sheet.macroEnabled.12", (".xlsm",)),
    "ooxml": ("Office Open XML (other)", "application/octet-stream", (".pptx", ".pptm")),
    "ooxml-encrypted": ("encrypted Office document", "application/x-ooxml-encrypted", (".docx", ".xlsx")),
    "ole": ("OLE compound file (legacy Office)", "application/x-ole-storage", (".doc", ".xls", ".ppt")),
    "zip": ("ZIP archive", "application/zip", (".zip",)),
    "gif": ("GIF", "image/gif", (".gif",)),
    "rar": ("RAR archive", "application/vnd.rar", (".rar",)),
    "7z": ("7-Zip archive", "application/x-7z-compressed", (".7z",)),
    "gzip": ("gzip", "application/gzip", (".gz", ".tgz")),
    "elf": ("ELF executable", "application/x-executable", ("", ".so", ".bin")),
    "pe": ("Windows executable (PE/MZ)", "application/vnd.microsoft.portable-executable", (".exe", ".dll")),
    "macho": ("Mach-O executable", "application/x-mach-binary", ("", ".dylib")),
    "script": ("script with #! line", "text/x-script", (".sh", ".py", ".pl")),
}
DEFAULT_ALLOWED = ("pdf", "ofd", "jpeg", "tiff", "png", "txt", "xml", "docx", "xlsx", "mp3", "mp4", "wav")
EXECUTABLE_FORMATS = frozenset({"elf", "pe", "macho", "script"})
ZIP_KNOWN_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
ZIP_METHOD_NAMES = {
    1: "shrink",
    6: "implode",
    9: "deflate64",
    12: "bzip2",
    14: "lzma",
    93: "zstd",
    95: "xz",
    98: "ppmd",
}

_MACHO = {b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MACRO_CT = re.compile(rb"macroEnabled|vbaProject|ms-office\.vbaProject", re.I)
_MACRO_MEMBER = re.compile(r"(^|/)vbaProject\.bin$|(^|/)vbaData\.xml$", re.I)
_OLE_MACRO_STREAMS = {"_vba_project", "vba", "macros", "_vba_project_cur", "projectwm"}
_OLE_ENCRYPTION_STREAMS = {"encryptioninfo", "encryptedpackage"}
_TEXT_CONTROLS_OK = set(b"\t\n\r\f\x1a")


@dataclass
class FormatInfo:
    """What the content is. `format` is a key of FORMATS, or None when nothing matched."""

    format: str | None
    executable: str | None = None  # why it counts as executable code
    macros: str | None = None  # where macros were found
    encrypted: str | None = None  # why it counts as encrypted / password-protected
    unknown_compression: list[str] = field(default_factory=list)  # e.g. ["word/document.xml: bzip2"]
    bomb: str | None = None  # a container that inflates past a bound (USAB-BOMB): not opened further
    encoding: str | None = None  # for text: utf-8 / utf-8-sig / gb18030
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return FORMATS[self.format][0] if self.format else "unknown"

    @property
    def mime(self) -> str | None:
        return FORMATS[self.format][1] if self.format else None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in (None, [], "")}


def label(fmt: str | None) -> str:
    return FORMATS[fmt][0] if fmt in FORMATS else "unknown"


def format_for_extension(name: str) -> set[str]:
    """Format keys whose usual extensions include the name's suffix (lower case)."""
    suffix = Path(name).suffix.lower()
    return {k for k, (_, _, exts) in FORMATS.items() if suffix and suffix in exts}


def normalise_declared(value: str) -> str | None:
    """A declared format ("PDF", "application/pdf", ".pdf", "pdf/a-1b", "JPG") -> format key, or None."""
    v = value.strip().lower()
    for key, (lab, mime, exts) in FORMATS.items():
        if v in (key, lab.lower(), mime) or ("." + v) in exts or v in exts:
            return key
    if v.startswith("pdf/a") or v.startswith("pdf-a") or v.startswith("application/pdf"):
        return "pdf"
    if v in ("jpg", "image/jpg"):
        return "jpeg"
    if v in ("tif",):
        return "tiff"
    if v in ("text", "text/plain; charset=utf-8", "utf-8 text"):
        return "txt"
    return None


def identify(path: str | Path, limits: ZipLimits | None = None) -> FormatInfo:
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
    return identify_bytes(head, path, limits)


def identify_bytes(head: bytes, path: Path | None = None, limits: ZipLimits | None = None) -> FormatInfo:
    """Identify from the first bytes; `path` lets container formats read their directories (ZIPs
    within `limits`: a bomb is named in `bomb`, its members are not inflated)."""
    if head.startswith(b"\x7fELF"):
        return FormatInfo("elf", executable="ELF header (0x7F 'ELF')")
    if head[:2] == b"MZ":
        pe = ""
        if len(head) >= 0x40:
            (off,) = struct.unpack_from("<I", head, 0x3C)
            if off + 4 <= len(head) and head[off : off + 4] == b"PE\0\0":
                pe = " with PE header"
        return FormatInfo("pe", executable=f"DOS/Windows 'MZ' header{pe}")
    if head[:4] in _MACHO and not (head[:4] == b"\xca\xfe\xba\xbe" and _java_class(head)):
        return FormatInfo("macho", executable=f"Mach-O magic {head[:4].hex()}")
    if head.startswith(b"#!"):
        line = head[: head.find(b"\n")] if b"\n" in head else head[:80]
        return FormatInfo("script", executable=f"script interpreter line {line[:80].decode('latin-1')!r}")
    pdf_at = head[:1024].find(b"%PDF-")
    if pdf_at >= 0:
        info = FormatInfo("pdf")
        if pdf_at:
            info.notes.append(f"%PDF- header at offset {pdf_at}")
        return info
    if head.startswith(b"\xff\xd8\xff"):
        return FormatInfo("jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return FormatInfo("png")
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return FormatInfo("tiff")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return FormatInfo("gif")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return FormatInfo("wav")
    if head[4:8] == b"ftyp":
        return FormatInfo("mp4", notes=[f"brand {head[8:12].decode('latin-1')!r}"])
    if head.startswith(b"ID3") or _mp3_frame(head, 0):
        return FormatInfo("mp3")
    if head.startswith(_OLE_MAGIC):
        return _identify_ole(head, path)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _identify_zip(path, limits or DEFAULT_LIMITS) if path is not None else FormatInfo("zip")
    if head.startswith(b"Rar!\x1a\x07"):
        return FormatInfo("rar", unknown_compression=["RAR archive"])
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return FormatInfo("7z", unknown_compression=["7-Zip archive"])
    if head.startswith(b"\x1f\x8b"):
        return FormatInfo("gzip", unknown_compression=["gzip stream"])
    return _identify_text(head, path)


def _java_class(head: bytes) -> bool:
    # Java class files share 0xCAFEBABE with Mach-O fat binaries; a class file's major version is >= 45.
    return len(head) >= 8 and struct.unpack_from(">H", head, 6)[0] >= 45


def _mp3_frame(buf: bytes, at: int) -> tuple[int, int] | None:
    """(version bits, layer bits) if a plausible MPEG audio frame header starts at `at`."""
    if at + 4 > len(buf) or buf[at] != 0xFF or (buf[at + 1] & 0xE0) != 0xE0:
        return None
    version = (buf[at + 1] >> 3) & 3
    layer = (buf[at + 1] >> 1) & 3
    bitrate = buf[at + 2] >> 4
    rate = (buf[at + 2] >> 2) & 3
    if version == 1 or layer == 0 or bitrate in (0, 15) or rate == 3:
        return None
    return version, layer


def _identify_text(head: bytes, path: Path | None) -> FormatInfo:
    if not head:
        return FormatInfo(None, notes=["empty file"])
    sample = head
    if path is not None and len(head) == HEAD_BYTES:
        with path.open("rb") as f:
            sample = f.read(TEXT_SAMPLE)
    if b"\x00" in sample:
        return FormatInfo(None, notes=["binary content (NUL bytes) of no known format"])
    encoding = None
    for enc in ("utf-8-sig" if sample.startswith(codecs.BOM_UTF8) else "utf-8", "gb18030"):
        try:
            text = codecs.getincrementaldecoder(enc)("strict").decode(sample, final=len(sample) < TEXT_SAMPLE)
        except UnicodeDecodeError:
            continue
        encoding = enc
        break
    else:
        return FormatInfo(None, notes=["bytes are neither UTF-8 nor GB18030 text nor a known format"])
    controls = sum(1 for b in sample if b < 0x20 and b not in _TEXT_CONTROLS_OK) + sample.count(b"\x7f")
    if controls > max(2, len(sample) // 1000):
        return FormatInfo(None, encoding=encoding, notes=[f"{controls} control bytes: not plain text"])
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("<?xml") or (stripped.startswith("<") and text.rstrip().endswith(">")):
        return FormatInfo("xml", encoding=encoding)
    return FormatInfo("txt", encoding=encoding)


def _identify_zip(path: Path, limits: ZipLimits) -> FormatInfo:
    try:
        zf = open_zip(path, limits)
    except ZipBomb as exc:
        return FormatInfo("zip", bomb=str(exc))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        why = str(exc).replace(str(path), path.name)
        return FormatInfo("zip", notes=[f"ZIP signature but unreadable directory: {why}"])
    with zf:
        infos = zf.infolist()
        names = {i.filename for i in infos}
        info = FormatInfo("zip")
        try:
            judge(infos, limits)
        except ZipBomb as exc:
            info.bomb = str(exc)
        for i in infos:
            if i.flag_bits & 0x1:
                info.encrypted = info.encrypted or f"ZIP entry {i.filename!r} has the encryption flag set"
            if i.compress_type not in ZIP_KNOWN_METHODS:
                method = ZIP_METHOD_NAMES.get(i.compress_type, f"method {i.compress_type}")
                info.unknown_compression.append(f"{i.filename}: {method}")
        if "OFD.xml" in names:
            info.format = "ofd"
        elif "[Content_Types].xml" in names:
            ct = b""
            try:
                if not info.encrypted and not info.bomb:
                    ct = read_bounded(zf, "[Content_Types].xml", CONTENT_TYPES_MAX, limits)
            except ZipBomb as exc:
                info.bomb = str(exc)
            except Exception as exc:  # a broken entry: the parser reports it
                info.notes.append(f"[Content_Types].xml unreadable: {exc}")
            macro_members = sorted(n for n in names if _MACRO_MEMBER.search(n))
            if macro_members or _MACRO_CT.search(ct):
                where = macro_members[0] if macro_members else "[Content_Types].xml declares a macro-enabled type"
                info.macros = f"VBA project in the package ({where})"
            if any(n.startswith("word/") for n in names):
                info.format = "docm" if info.macros else "docx"
            elif any(n.startswith("xl/") for n in names):
                info.format = "xlsm" if info.macros else "xlsx"
            else:
                info.format = "ooxml"
        if not info.encrypted and not info.unknown_compression and not info.bomb:
            for i in infos[:2000]:
                if i.is_dir() or i.file_size < 4:
                    continue
                try:
                    with zf.open(i) as member:
                        inner = member.read(8)
                except Exception:
                    continue
                inner_info = identify_bytes(inner)
                if inner_info.executable:
                    info.executable = f"ZIP entry {i.filename!r}: {inner_info.executable}"
                    break
        return info


# -- OLE compound file (CFB, MS-CFB): read the directory to find macro and encryption streams ----
_FREESECT, _ENDOFCHAIN = 0xFFFFFFFF, 0xFFFFFFFE


def ole_stream_names(data_or_path: bytes | Path) -> list[str]:
    """Names of all directory entries of a compound file (storages and streams). A file is mapped,
    not read: only the header, FAT and directory sectors are touched (an OLE file may be gigabytes)."""
    if isinstance(data_or_path, Path):
        with data_or_path.open("rb") as f:
            if data_or_path.stat().st_size < 512:
                raise ValueError("not an OLE compound file")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                return _ole_names(mapped)
    return _ole_names(data_or_path)


def _ole_names(data: Any) -> list[str]:
    if data[: len(_OLE_MAGIC)] != _OLE_MAGIC or len(data) < 512:
        raise ValueError("not an OLE compound file")
    shift = struct.unpack_from("<H", data, 0x1E)[0]
    if shift not in (9, 12):
        raise ValueError(f"bad sector shift {shift}")
    ssize = 1 << shift
    n_fat, first_dir = struct.unpack_from("<II", data, 0x2C)
    first_difat, n_difat = struct.unpack_from("<II", data, 0x44)
    sectors = len(data) // ssize  # a header may declare more FAT/DIFAT sectors than the file has: never more
    n_fat, n_difat = min(n_fat, sectors // (ssize // 4) + 1), min(n_difat, sectors // (ssize // 4) + 1)
    difat = list(struct.unpack_from("<109I", data, 0x4C))
    sect = first_difat
    for _ in range(n_difat):
        if sect >= _ENDOFCHAIN:
            break
        off = ssize * (sect + 1)
        vals = struct.unpack_from(f"<{ssize // 4}I", data, off)
        difat.extend(vals[:-1])
        sect = vals[-1]
    fat = array.array("I")  # 4 bytes per sector, not a Python int each
    for s in difat[:n_fat]:
        if s >= _ENDOFCHAIN:
            continue
        off = ssize * (s + 1)
        if off + ssize > len(data):
            raise ValueError("FAT sector beyond end of file")
        fat.extend(struct.unpack_from(f"<{ssize // 4}I", data, off))
    names: list[str] = []
    sect, seen = first_dir, set()
    while sect < _ENDOFCHAIN and sect not in seen and len(seen) < 100_000:
        seen.add(sect)
        off = ssize * (sect + 1)
        for e in range(ssize // 128):
            entry = data[off + e * 128 : off + (e + 1) * 128]
            if len(entry) < 128:
                break
            nlen = struct.unpack_from("<H", entry, 0x40)[0]
            if entry[0x42] == 0 or not 2 <= nlen <= 64:
                continue
            names.append(entry[: nlen - 2].decode("utf-16-le", "replace"))
        sect = fat[sect] if sect < len(fat) else _ENDOFCHAIN
    return names


def _identify_ole(head: bytes, path: Path | None) -> FormatInfo:
    info = FormatInfo("ole")
    if path is None:
        return info
    try:
        names = ole_stream_names(path)
    except (ValueError, struct.error) as exc:
        info.notes.append(f"OLE directory unreadable: {exc}")
        return info
    lower = {n.lower() for n in names}
    if lower & _OLE_ENCRYPTION_STREAMS:
        info.format = "ooxml-encrypted"
        info.encrypted = "OLE container with EncryptionInfo/EncryptedPackage (password-protected Office file)"
    macro = sorted(n for n in names if n.lower() in _OLE_MACRO_STREAMS)
    if macro:
        info.macros = f"OLE stream {macro[0]!r} (VBA macros)"
    if "\x05summaryinformation" in lower or "worddocument" in lower:
        info.notes.append("legacy Office document")
    return info
