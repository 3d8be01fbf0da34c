"""A real parser per allowed format: does the file open and parse completely?

`parse(path, fmt)` returns a `ParseResult`; it never raises for bad content (only for a programming
error). XML is parsed with defusedxml (no external entities, no entity expansion bombs).
"""

from __future__ import annotations

import codecs
import contextlib
import struct
import warnings
import wave
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from defusedxml import ElementTree as SafeET

from node.checks.ziplimits import (
    DEFAULT_LIMITS,
    BoundedMember,
    ZipBomb,
    ZipCorrupt,
    ZipLimits,
    open_zip,
    verify_all,
)

CHUNK = 1 << 20
BOUNDED_FORMATS = frozenset({"ofd", "docx", "docm", "xlsx", "xlsm", "jpeg", "png", "tiff", "pdf"})  # take `limits`
# a library's own bound reached (pypdf streams > 75 MB inflated, Pillow's pixel bound): a bomb, not a parse error
_BOMB_ERRORS = frozenset({"LimitReachedError", "DecompressionBombError", "DecompressionBombWarning"})


@dataclass
class ParseResult:
    ok: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)  # e.g. {"pages": 3}
    encrypted: str | None = None  # set when the parser found the file encrypted
    bomb: str | None = None  # set when the content inflates past a bound (USAB-BOMB): not parsed further


def parse(
    path: str | Path, fmt: str | None, encoding: str | None = None, limits: ZipLimits | None = None
) -> ParseResult:
    """Never raises for bad content; `limits` bound what ZIP-based formats may inflate to."""
    parser = PARSERS.get(fmt or "")
    if parser is None:
        return ParseResult(False, f"no parser for format {fmt or 'unknown'}")
    try:
        if fmt == "txt":
            return _parse_txt(Path(path), encoding)
        if fmt in BOUNDED_FORMATS:
            return parser(Path(path), limits or DEFAULT_LIMITS)  # type: ignore[call-arg]
        return parser(Path(path))
    except ZipBomb as exc:
        return ParseResult(False, f"decompression bomb refused: {exc}", bomb=str(exc))
    except Exception as exc:
        if type(exc).__name__ not in _BOMB_ERRORS:
            return ParseResult(False, f"{type(exc).__name__}: {_no_paths(str(exc), Path(path))[:300]}")
        return ParseResult(False, f"decompression bomb refused: {str(exc)[:300]}", bomb=str(exc)[:300])


def _no_paths(message: str, path: Path) -> str:
    """A parser's message without the server's path of the file (only its name)."""
    return message.replace(str(path), path.name)


# -- PDF -----------------------------------------------------------------------------------------
def _parse_pdf(path: Path, limits: ZipLimits = DEFAULT_LIMITS) -> ParseResult:
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted:
            enc = reader.trailer.get("/Encrypt")
            filt = ""
            with contextlib.suppress(Exception):
                filt = str(enc.get_object().get("/Filter", "")) if enc is not None else ""
            opened = False
            with contextlib.suppress(Exception):
                opened = bool(reader.decrypt(""))
            how = "opens without a user password (owner password only)" if opened else "needs a password"
            return ParseResult(
                False, f"PDF is encrypted (/Encrypt in trailer{', ' + filt if filt else ''}); {how}",
                encrypted=f"PDF trailer has /Encrypt{' ' + filt if filt else ''}",
            )  # fmt: skip
        n = len(reader.pages)
        if n == 0:
            return ParseResult(False, "PDF has no pages")
        inflated = 0
        for i, page in enumerate(reader.pages):
            box = page.mediabox
            if float(box.width) <= 0 or float(box.height) <= 0:
                return ParseResult(False, f"PDF page {i + 1} has an empty media box")
            inflated = _inflate_contents(page, limits, inflated)  # decodes the page's content streams, bounded
        version = reader.pdf_header.removeprefix("%PDF-") if reader.pdf_header else "?"
    return ParseResult(True, f"PDF {version}, {n} page(s) readable", {"pages": n, "pdf_version": version})


def _inflate_contents(page: Any, limits: ZipLimits, inflated: int) -> int:
    """Decode a page's content streams without keeping them: Flate streams inflated in 1 MiB steps and
    counted (a stream over `max_member_bytes`, or all pages over `max_total_bytes`, is a bomb); other
    filters through pypdf (its own 75 MB bound), its cached decoded copy dropped. Returns the running total."""
    import zlib

    from pypdf.generic import ArrayObject

    contents = page.get("/Contents")
    if contents is None:
        return inflated
    contents = contents.get_object()
    streams = list(contents) if isinstance(contents, ArrayObject) else [contents]
    for ref in streams:
        stream = ref.get_object()
        size = 0
        if stream.get("/Filter") == "/FlateDecode" and not stream.get("/DecodeParms"):
            d = zlib.decompressobj()
            pending = stream._data
            try:
                while True:
                    out = d.decompress(pending, CHUNK)
                    pending = d.unconsumed_tail
                    size += len(out)
                    if size > limits.max_member_bytes:
                        raise ZipBomb(f"a PDF content stream inflates past {limits.max_member_bytes} bytes")
                    if inflated + size > limits.max_total_bytes:
                        raise ZipBomb(f"the PDF's content streams inflate past {limits.max_total_bytes} bytes")
                    if not out and (d.eof or not pending):
                        break
            except zlib.error:
                size = len(stream.get_data())  # pypdf recovers what it can from a damaged stream
        else:
            size = len(stream.get_data())
        if hasattr(stream, "decoded_self"):
            stream.decoded_self = None  # do not keep every page's decoded content in memory
        inflated += size
        if inflated > limits.max_total_bytes:
            raise ZipBomb(f"the PDF's content streams inflate past {limits.max_total_bytes} bytes")
    return inflated


# -- images --------------------------------------------------------------------------------------
def _judge_image(path: Path, im: Any, limits: ZipLimits) -> None:
    """A frame that would decode to more than the bound is refused before it is decoded (a small
    compressed file may declare an enormous canvas). Scans compress very well (CCITT G4), so the
    bound is on the decoded size, not the ratio."""
    decoded = im.size[0] * im.size[1] * max(len(im.getbands()), 1)
    if decoded > limits.max_image_bytes:
        raise ZipBomb(f"image {im.size[0]}x{im.size[1]} decodes to {decoded} bytes, more than {limits.max_image_bytes}")


def _parse_image(path: Path, limits: ZipLimits = DEFAULT_LIMITS) -> ParseResult:
    from PIL import Image, ImageSequence

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            fmt = im.format
            size = im.size
            frames = 0
            for frame in ImageSequence.Iterator(im):
                _judge_image(path, frame, limits)
                frame.load()  # full decode of every frame
                frames += 1
    details = {"width": size[0], "height": size[1], "frames": frames, "pages": frames}
    return ParseResult(True, f"{fmt} {size[0]}x{size[1]} decoded ({frames} frame(s))", details)


# -- text and XML --------------------------------------------------------------------------------
def _parse_txt(path: Path, encoding: str | None) -> ParseResult:
    tried = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    last = ""
    for enc in tried:
        decoder = codecs.getincrementaldecoder(enc)("strict")
        chars = 0
        try:
            with path.open("rb") as f:
                while chunk := f.read(CHUNK):
                    chars += len(decoder.decode(chunk))
                chars += len(decoder.decode(b"", final=True))
        except UnicodeDecodeError as exc:
            last = f"not valid {enc}: {exc.reason} at byte {exc.start}"
            continue
        return ParseResult(True, f"text decodes as {enc} ({chars} characters)", {"encoding": enc, "characters": chars})
    return ParseResult(False, f"text does not decode: {last}")


def _parse_xml(path: Path) -> ParseResult:
    with path.open("rb") as f:
        root = _xml_stream(f)  # streamed: a large XML file is never a tree in memory
    return ParseResult(True, f"XML well-formed, root element {root!r}", {"root": root})


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# -- ZIP-based: OFD, DOCX, XLSX ------------------------------------------------------------------
def _xml_stream(source: Any) -> str:
    """Parse XML as a stream, dropping each element once closed (memory stays flat whatever its
    size); returns the root element's local name. defusedxml refuses DTDs and entity expansion."""
    root_tag = ""
    depth = 0
    for event, el in SafeET.iterparse(source, events=("start", "end")):
        if event == "start":
            if depth == 0:
                root_tag = _local(el.tag)
            depth += 1
        else:
            depth -= 1
            if depth > 0:
                el.clear()
    return root_tag


def _zip_xml(zf: zipfile.ZipFile, names: list[str], limits: ZipLimits) -> None:
    for name in names:
        info = zf.getinfo(name)
        try:
            _xml_stream(BoundedMember(zf, info, limits))
        except (ZipBomb, ZipCorrupt):
            raise
        except Exception as exc:
            raise ValueError(f"{name}: XML not well-formed: {exc}") from exc


def _open_zip(path: Path, limits: ZipLimits) -> zipfile.ZipFile:
    """The ZIP, after its directory is judged against the bounds and every member's CRC and size is
    checked by streaming it (never held whole)."""
    zf = open_zip(path, limits)
    try:
        verify_all(zf, limits)
    except BaseException:
        zf.close()
        raise
    return zf


def _parse_ofd(path: Path, limits: ZipLimits = DEFAULT_LIMITS) -> ParseResult:
    with _open_zip(path, limits) as zf:
        names = zf.namelist()
        if "OFD.xml" not in names:
            return ParseResult(False, "OFD.xml is missing from the package")
        docroots: list[str] = []
        root_tag = ""
        depth = 0
        for event, el in SafeET.iterparse(BoundedMember(zf, zf.getinfo("OFD.xml"), limits), events=("start", "end")):
            if event == "start":
                root_tag = root_tag or _local(el.tag)
                depth += 1
                continue
            depth -= 1
            if _local(el.tag) == "DocRoot" and len(docroots) < 1000:
                docroots.append((el.text or "").strip().lstrip("/"))
            if depth > 0:
                el.clear()
        if root_tag != "OFD":
            return ParseResult(False, f"OFD.xml root element is {root_tag!r}, expected 'OFD'")
        if not docroots:
            return ParseResult(False, "OFD.xml names no DocRoot (no document)")
        for doc in docroots:
            if doc not in names:
                return ParseResult(False, f"OFD DocRoot {doc!r} is missing from the package")
        xml_parts = [n for n in names if n.lower().endswith(".xml")]
        _zip_xml(zf, xml_parts, limits)
    return ParseResult(
        True, f"OFD: {len(docroots)} document(s), {len(xml_parts)} XML part(s) well-formed",
        {"documents": len(docroots), "xml_parts": len(xml_parts)},
    )  # fmt: skip


def _parse_ooxml(main_part: str, label: str) -> Callable[..., ParseResult]:
    def parse_it(path: Path, limits: ZipLimits = DEFAULT_LIMITS) -> ParseResult:
        with _open_zip(path, limits) as zf:
            names = zf.namelist()
            if main_part not in names:
                return ParseResult(False, f"{label}: main part {main_part} is missing")
            xml_parts = [n for n in names if n.lower().endswith((".xml", ".rels"))]
            _zip_xml(zf, xml_parts, limits)
        return ParseResult(True, f"{label}: {len(xml_parts)} XML part(s) well-formed", {"xml_parts": len(xml_parts)})

    return parse_it


# -- audio / video -------------------------------------------------------------------------------
def _parse_wav(path: Path) -> ParseResult:
    with wave.open(str(path), "rb") as w:
        channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        if channels < 1 or rate < 1 or width < 1:
            return ParseResult(False, f"WAV header implausible: {channels} ch, {rate} Hz, {width} bytes/sample")
        step = max(CHUNK // (channels * width), 1)
        got = 0
        while got < frames and (data := w.readframes(min(step, frames - got))):  # in chunks, never whole
            got += len(data) // (channels * width)
    expected = frames * channels * width
    if got < frames:
        return ParseResult(False, f"WAV data chunk truncated: {got * channels * width} of {expected} bytes")
    ms = frames * 1000 // rate
    return ParseResult(
        True, f"WAV PCM {channels} ch, {rate} Hz, {8 * width}-bit, {ms} ms",
        {"channels": channels, "rate": rate, "bits": 8 * width, "duration_ms": ms},
    )  # fmt: skip


def _parse_mp4(path: Path) -> ParseResult:
    size = path.stat().st_size
    boxes: list[str] = []
    with path.open("rb") as f:
        pos = 0
        while pos < size:
            f.seek(pos)
            hdr = f.read(8)
            if len(hdr) < 8:
                return ParseResult(False, f"MP4 box header truncated at offset {pos}")
            box_size, box_type = struct.unpack(">I4s", hdr)
            header = 8
            if box_size == 1:
                ext = f.read(8)
                if len(ext) < 8:
                    return ParseResult(False, f"MP4 64-bit box size truncated at offset {pos}")
                box_size = struct.unpack(">Q", ext)[0]
                header = 16
            elif box_size == 0:
                box_size = size - pos
            if box_size < header or pos + box_size > size:
                return ParseResult(False, f"MP4 box {box_type!r} at offset {pos} has bad size {box_size}")
            if not all(32 <= b < 127 for b in box_type):
                return ParseResult(False, f"MP4 box type {box_type!r} at offset {pos} is not ASCII")
            boxes.append(box_type.decode("ascii"))
            pos += box_size
    if not boxes or boxes[0] != "ftyp":
        return ParseResult(False, "MP4 does not start with an ftyp box")
    if "moov" not in boxes:
        return ParseResult(False, f"MP4 has no moov box (boxes: {', '.join(boxes[:10])})")
    return ParseResult(True, f"MP4 boxes: {', '.join(boxes[:10])}", {"boxes": boxes[:50]})


_MP3_KBPS = {
    (3, 3): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (3, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (3, 1): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 3): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_KBPS[(2, 1)] = _MP3_KBPS[(2, 2)]
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_frame_length(h: bytes) -> int | None:
    if len(h) < 4 or h[0] != 0xFF or (h[1] & 0xE0) != 0xE0:
        return None
    version, layer = (h[1] >> 3) & 3, (h[1] >> 1) & 3
    bi, ri, pad = h[2] >> 4, (h[2] >> 2) & 3, (h[2] >> 1) & 1
    if version == 1 or layer == 0 or bi in (0, 15) or ri == 3:
        return None
    kbps = _MP3_KBPS[(3 if version == 3 else 2, layer)][bi]
    rate = _MP3_RATES[version][ri]
    if layer == 3:  # layer I
        return (12 * kbps * 1000 // rate + pad) * 4
    factor = 144 if (layer == 2 or version == 3) else 72
    return factor * kbps * 1000 // rate + pad


def _parse_mp3(path: Path) -> ParseResult:
    with path.open("rb") as f:
        head = f.read(10)
        pos = 0
        if head.startswith(b"ID3"):
            if len(head) < 10 or any(b & 0x80 for b in head[6:10]):
                return ParseResult(False, "ID3v2 tag header is malformed")
            tag = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
            pos = 10 + tag + (10 if head[5] & 0x10 else 0)
        f.seek(pos)
        window = f.read(64 * 1024)
    at = next((i for i in range(min(len(window), 4096)) if _mp3_frame_length(window[i : i + 4])), None)
    if at is None:
        return ParseResult(False, "no MPEG audio frame header after the tag")
    frames, offset = 0, at
    while frames < 3:
        length = _mp3_frame_length(window[offset : offset + 4])
        if length is None:
            break
        frames += 1
        offset += length
        if offset + 4 > len(window):
            break
    if frames < 2 and offset + 4 <= len(window):
        return ParseResult(False, "MPEG frame header is not followed by another frame (not an audio stream)")
    return ParseResult(True, f"MPEG audio frames found at offset {pos + at}", {"first_frame": pos + at})


PARSERS: dict[str, Callable[..., ParseResult]] = {
    "pdf": _parse_pdf,
    "jpeg": _parse_image,
    "png": _parse_image,
    "tiff": _parse_image,
    "txt": lambda p: _parse_txt(p, None),
    "xml": _parse_xml,
    "ofd": _parse_ofd,
    "docx": _parse_ooxml("word/document.xml", "DOCX"),
    "docm": _parse_ooxml("word/document.xml", "DOCM"),
    "xlsx": _parse_ooxml("xl/workbook.xml", "XLSX"),
    "xlsm": _parse_ooxml("xl/workbook.xml", "XLSM"),
    "wav": _parse_wav,
    "mp4": _parse_mp4,
    "mp3": _parse_mp3,
}
