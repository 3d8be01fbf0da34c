"""Text extraction per format: pure functions over one file (no database), bounded in pages, pixels,
characters and time.

`extract(path, bounds, ocr, work_dir)` identifies the format by content (node/filing/checks/formats.py,
the same identification as at filing) and returns an `Extracted`: status `done` (text, possibly empty),
`skip` (nothing to extract with: no text format, or OCR needed but not installed, `message` says how to
install it) or `failed` (`message` starts with a reason code: `too_many_pages`, `too_many_pixels`,
`timeout`, `zip_bomb`, `encrypted`, `unreadable`). A failure returns no text at all: nothing is
half-written. Text longer than `max_text_chars` is cut there (`message` says so): the index needs
the words, not a copy of a 4 GB log file.

Formats: PDF text layers (pypdf) and OCR of image-only pages (rendered by pdftoppm); OFD (the TextCode
of every page, in page order); OOXML (DOCX, XLSX, PPTX: the text runs of their XML parts); TXT (UTF-8
or GB 18030); XML (element text); images (JPEG, PNG, TIFF: OCR). ZIP containers are read within the
filing checks' decompression bounds (node/filing/checks/ziplimits.py): a bomb is refused, never inflated.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import math
import posixpath
import re
import time
import warnings
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from defusedxml import ElementTree as SafeET

from node.core.errors import ExtractionRefused, OcrError, OcrTimeout
from node.core.models import TextStatus
from node.filing.checks import formats
from node.filing.checks.ziplimits import (
    DEFAULT_LIMITS,
    BoundedMember,
    ZipBomb,
    ZipCorrupt,
    ZipLimits,
    judge,
    open_zip,
)
from node.search.ocr import Ocr

CHUNK = 1 << 20
OOXML_FORMATS = frozenset({"docx", "docm", "xlsx", "xlsm", "ooxml"})
IMAGE_FORMATS = frozenset({"jpeg", "png", "tiff", "gif"})
# reason codes at the start of a failed item's message
TOO_MANY_PAGES, TOO_MANY_PIXELS, TIMEOUT = "too_many_pages", "too_many_pixels", "timeout"
ZIP_BOMB, ENCRYPTED, UNREADABLE = "zip_bomb", "encrypted", "unreadable"


@dataclass(frozen=True)
class Bounds:
    """What one item may cost. Past a bound the item fails with the bound's reason code."""

    max_pages: int = 500  # pages of a PDF or OFD, frames of a TIFF
    max_pixels: int = 40_000_000  # one image or rendered page (A4 at 300 dpi is 8.7 million)
    max_seconds: float = 900.0  # all the work on one item, OCR included
    max_text_chars: int = 5_000_000  # text kept per item; the rest is cut
    ocr_dpi: int = 300  # PDF pages are rendered at this resolution for OCR...
    min_ocr_dpi: int = 100  # ...or lower to stay within max_pixels, but not below this
    zip: ZipLimits = DEFAULT_LIMITS

    @classmethod
    def from_settings(cls, settings: Any) -> Bounds:
        return cls(
            max_pages=settings.extraction_max_pages, max_pixels=settings.extraction_max_pixels,
            max_seconds=settings.extraction_max_item_s, max_text_chars=settings.extraction_max_text_chars,
            ocr_dpi=settings.extraction_ocr_dpi, zip=ZipLimits.for_checks(settings),
        )  # fmt: skip


@dataclass
class Extracted:
    status: str  # a TextStatus value
    method: str | None = None  # "pdf-text", "ocr", "pdf-text+ocr", "ofd", "ofd+ocr", "docx", "xlsx", "pptx",
    # "ooxml", "txt", "xml"; "ocr" on a `skip` row: OCR was needed but missing (queued again once installed)
    text: str = ""
    pages: int = 0
    ocr_pages: int = 0
    message: str = ""


def refused(reason: str, detail: str) -> ExtractionRefused:
    """The item fails with `reason` (a code: too_many_pages, too_many_pixels, ...) and no text."""
    return ExtractionRefused(f"{reason}: {detail}", reason=reason)


class TextBuffer:
    """Collects text up to a number of characters; past it further text is dropped and `cut` is set."""

    def __init__(self, limit: int) -> None:
        self.limit, self.size, self.cut = limit, 0, False
        self.parts: list[str] = []

    @property
    def full(self) -> bool:
        return self.size >= self.limit

    def add(self, text: str) -> None:
        if not text:
            return
        room = self.limit - self.size
        if len(text) > room:
            text, self.cut = text[: max(room, 0)], True
        self.parts.append(text)
        self.size += len(text)

    def text(self) -> str:
        return "".join(self.parts).strip()


@dataclass
class Job:
    """One item's extraction: its bounds, OCR, scratch directory and deadline."""

    path: Path
    bounds: Bounds
    ocr: Ocr | None
    work_dir: Path
    clock: Callable[[], float] = time.monotonic
    deadline: float = 0.0
    buffer: TextBuffer = field(init=False)

    def __post_init__(self) -> None:
        self.deadline = self.deadline or self.clock() + self.bounds.max_seconds
        self.buffer = TextBuffer(self.bounds.max_text_chars)

    def left(self) -> float:
        """Seconds left for this item; past the deadline the item fails with `timeout`."""
        left = self.deadline - self.clock()
        if left <= 0:
            raise refused(TIMEOUT, f"extraction ran past the time bound ({self.bounds.max_seconds:g} s)")
        return left

    def ocr_ready(self) -> bool:
        return self.ocr is not None and self.ocr.available

    def ocr_hint(self) -> str:
        from node.search.ocr import INSTALL_HINT

        return self.ocr.status.message if self.ocr is not None else INSTALL_HINT

    def result(self, method: str, pages: int = 0, ocr_pages: int = 0, note: str = "") -> Extracted:
        notes = [note] if note else []
        if self.buffer.cut:
            notes.append(f"text cut at {self.bounds.max_text_chars} characters (extraction_max_text_chars)")
        return Extracted(TextStatus.DONE, method, self.buffer.text(), pages, ocr_pages, "; ".join(notes))


def extract(
    path: Path, bounds: Bounds, ocr: Ocr | None, work_dir: Path, *, clock: Callable[[], float] = time.monotonic
) -> Extracted:
    """The text of the file at `path` (see the module docstring). Never raises for a bad or hostile file;
    an OSError (the file cannot be read) is raised, so the caller may try again later."""
    job = Job(path, bounds, ocr, work_dir, clock)
    try:
        info = formats.identify(path, bounds.zip)
        if info.bomb:
            raise refused(ZIP_BOMB, info.bomb)
        if info.encrypted:
            raise refused(ENCRYPTED, info.encrypted)
        fmt = info.format
        if fmt == "pdf":
            return _pdf(job)
        if fmt == "ofd":
            return _ofd(job)
        if fmt in OOXML_FORMATS:
            return _ooxml(job, fmt)
        if fmt == "txt":
            return _txt(job, info.encoding)
        if fmt == "xml":
            return _xml(job)
        if fmt in IMAGE_FORMATS:
            return _image(job)
        return Extracted(TextStatus.SKIPPED, None, message=f"no text to extract from {formats.label(fmt)}")
    except ExtractionRefused as exc:
        return _failed(str(exc), path)
    except ZipBomb as exc:
        return _failed(f"{ZIP_BOMB}: {exc}", path)
    except OcrTimeout as exc:
        return _failed(f"{TIMEOUT}: {exc}", path)
    except (ZipCorrupt, OcrError) as exc:
        return _failed(f"{UNREADABLE}: {exc}", path)
    except OSError:
        raise
    except Exception as exc:  # a parser broken by a hostile or damaged file: the same bytes fail again
        return _failed(f"{UNREADABLE}: {type(exc).__name__}: {exc}", path)


def _failed(message: str, path: Path) -> Extracted:
    return Extracted(TextStatus.FAILED, None, message=message.replace(str(path), path.name)[:2000])


def skipped_for_ocr(job: Job, pages: int, what: str) -> Extracted:
    return Extracted(TextStatus.SKIPPED, "ocr", pages=pages, message=f"{what} needs OCR: {job.ocr_hint()}")


# -- PDF -------------------------------------------------------------------------------------------------
def _pdf(job: Job) -> Extracted:
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader = PdfReader(job.path, strict=False)
        if reader.is_encrypted:
            opened = False
            with contextlib.suppress(Exception):
                opened = bool(reader.decrypt(""))
            if not opened:
                raise refused(ENCRYPTED, "the PDF needs a password")
        n = len(reader.pages)
        if n > job.bounds.max_pages:
            raise refused(TOO_MANY_PAGES, f"the PDF has {n} pages, more than {job.bounds.max_pages}")
        texts: list[str] = []
        scanned: list[int] = []  # pages with no text layer but images: OCR them
        sizes: dict[int, tuple[float, float]] = {}
        size = 0
        for i, page in enumerate(reader.pages):
            job.left()
            if size >= job.bounds.max_text_chars:  # the text bound is reached: the rest is not read
                job.buffer.cut = True
                break
            text = page.extract_text() or ""
            texts.append(text.strip())
            size += len(texts[-1])
            if not texts[-1] and _has_images(page):
                scanned.append(i)
                box = page.mediabox  # what pdftoppm renders
                sizes[i] = (abs(float(box.width)), abs(float(box.height)))
    if scanned and not (job.ocr_ready() and job.ocr is not None and job.ocr.status.pdf_pages):
        if not any(texts):
            return skipped_for_ocr(job, n, f"the PDF has no text layer ({len(scanned)} scanned page(s)); it")
        note = f"{len(scanned)} page(s) without a text layer not OCR'd: {job.ocr_hint()}"
        _add_pages(job, texts)
        return job.result("pdf-text", n, 0, note)
    for i in scanned:
        texts[i] = _ocr_pdf_page(job, i, *sizes[i])
    _add_pages(job, texts)
    method = "ocr" if len(scanned) == n else "pdf-text+ocr" if scanned else "pdf-text"
    return job.result(method, n, len(scanned))


def _add_pages(job: Job, texts: Iterable[str]) -> None:
    for text in texts:
        if text:
            job.buffer.add(text + "\n\n")


def _has_images(page: Any, depth: int = 0) -> bool:
    """Does the page draw an image (directly or in a form XObject)? Read from its resources, not decoded."""
    try:
        resources = page.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources is not None else None
        if xobjects is None:
            return False
        for ref in xobjects.get_object().values():
            obj = ref.get_object()
            subtype = obj.get("/Subtype")
            if subtype == "/Image" or (subtype == "/Form" and depth < 3 and _has_images(obj, depth + 1)):
                return True
    except Exception:
        return False
    return False


def ocr_dpi(width_pt: float, height_pt: float, bounds: Bounds) -> int:
    """The resolution to render a page at: `ocr_dpi`, lowered so the page stays within `max_pixels`;
    a page that would still be larger at `min_ocr_dpi` is refused (too_many_pixels). Pure."""
    area_in2 = max(width_pt, 1.0) * max(height_pt, 1.0) / (72.0 * 72.0)
    fit = math.floor(math.sqrt(bounds.max_pixels / area_in2))
    dpi = min(bounds.ocr_dpi, fit)
    if dpi < bounds.min_ocr_dpi:
        pixels = int(area_in2 * bounds.min_ocr_dpi**2)
        raise refused(TOO_MANY_PIXELS, f"a {width_pt:.0f}x{height_pt:.0f} pt page is {pixels} pixels "
                                f"at {bounds.min_ocr_dpi} dpi, more than {bounds.max_pixels}")  # fmt: skip
    return dpi


def _ocr_pdf_page(job: Job, index: int, width_pt: float, height_pt: float) -> str:
    assert job.ocr is not None
    dpi = ocr_dpi(width_pt, height_pt, job.bounds)
    long_side = math.ceil(max(width_pt, height_pt, 1.0) / 72.0 * dpi)  # a hard cap, whatever the page claims
    image = job.ocr.render_pdf_page(job.path, index + 1, dpi, job.work_dir, job.left(), scale_to=long_side)
    try:
        _judge_pixels(image, job.bounds, f"page {index + 1}")
        return job.ocr.image_text(image, job.left())
    finally:
        image.unlink(missing_ok=True)


def _judge_pixels(image: Path, bounds: Bounds, what: str) -> None:
    from PIL import Image

    with Image.open(image) as im:
        w, h = im.size
    if w * h > bounds.max_pixels * 1.05:  # pdftoppm rounds the page size up
        raise refused(TOO_MANY_PIXELS, f"{what} is {w}x{h} pixels, more than {bounds.max_pixels}")


# -- images ----------------------------------------------------------------------------------------------
def _image(job: Job) -> Extracted:
    from PIL import Image, ImageSequence

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(job.path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise refused(TOO_MANY_PIXELS, str(exc)) from exc
        with im:
            frames = getattr(im, "n_frames", 1)
            if frames > job.bounds.max_pages:
                raise refused(TOO_MANY_PAGES, f"the image has {frames} frames, more than "
                                        f"{job.bounds.max_pages}")  # fmt: skip
            for n, frame in enumerate(ImageSequence.Iterator(im)):
                w, h = frame.size
                if w * h > job.bounds.max_pixels:
                    raise refused(TOO_MANY_PIXELS, f"frame {n + 1} is {w}x{h} pixels, more than "
                                            f"{job.bounds.max_pixels}")  # fmt: skip
            if not job.ocr_ready():
                return skipped_for_ocr(job, frames, "an image")
            assert job.ocr is not None
            try:  # Tesseract reads PNG, JPEG and (multi-page) TIFF itself
                job.buffer.add(job.ocr.image_text(job.path, job.left()))
            except OcrError:  # a mode or compression it does not read: decode with Pillow, one PNG per frame
                for n, frame in enumerate(ImageSequence.Iterator(im)):
                    job.left()
                    png = job.work_dir / f"frame-{n}.png"
                    frame.convert("L").save(png)
                    try:
                        job.buffer.add(job.ocr.image_text(png, job.left()) + "\n\n")
                    finally:
                        png.unlink(missing_ok=True)
    return job.result("ocr", frames, frames)


# -- TXT and XML -----------------------------------------------------------------------------------------
def _txt(job: Job, encoding: str | None) -> Extracted:
    last = ""
    for enc in [encoding] if encoding else ["utf-8-sig", "gb18030"]:
        job.buffer = TextBuffer(job.bounds.max_text_chars)
        decoder = codecs.getincrementaldecoder(enc)("strict")
        try:
            with job.path.open("rb") as f:
                while not job.buffer.full and (chunk := f.read(CHUNK)):
                    job.left()
                    job.buffer.add(decoder.decode(chunk))
                if not job.buffer.full:
                    job.buffer.add(decoder.decode(b"", final=True))
        except UnicodeDecodeError as exc:
            last = f"not valid {enc}: {exc.reason} at byte {exc.start}"
            continue
        return job.result("txt")
    raise refused(UNREADABLE, f"the text does not decode: {last}")


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _xml(job: Job) -> Extracted:
    with job.path.open("rb") as f:
        _xml_text(job, f, text_tags=None)
    return job.result("xml")


def _xml_text(
    job: Job, source: Any, *, text_tags: frozenset[str] | None, breaks: frozenset[str] = frozenset(),
    tabs: frozenset[str] = frozenset(),
) -> None:  # fmt: skip
    """Stream the XML (defusedxml: no DTDs, no entities), adding the text of the elements named in
    `text_tags` (all elements: None) to the job's buffer; `breaks` end a line, `tabs` add a tab. Each
    element is cleared once closed, so memory stays flat whatever the size."""
    depth = 0
    for n, (event, el) in enumerate(SafeET.iterparse(source, events=("start", "end"))):
        if n % 4096 == 0:
            job.left()
        if event == "start":
            depth += 1
            continue
        depth -= 1
        name = _local(el.tag)
        if text_tags is None:  # its own text and its children's tails (theirs was added at their end)
            pieces = [p.strip() for p in [el.text or "", *(c.tail or "" for c in el)]]
            text = " ".join(p for p in pieces if p)
            if text:
                job.buffer.add(text + "\n")
        elif name in text_tags:
            job.buffer.add(el.text or "")
        elif name in tabs:
            job.buffer.add("\t")
        if name in breaks:
            job.buffer.add("\n")
        if text_tags is None or name not in text_tags:
            tail = el.tail
            el.clear()
            el.tail = tail  # for the parent (or set later by the parser)
        if job.buffer.full:
            return


# -- ZIP-based: OOXML and OFD ----------------------------------------------------------------------------
_NUMBER = re.compile(r"(\d+)")


def _natural(name: str) -> list[Any]:
    """slide2.xml before slide10.xml."""
    return [int(p) if p.isdigit() else p for p in _NUMBER.split(name)]


def _open(job: Job) -> zipfile.ZipFile:
    zf = open_zip(job.path, job.bounds.zip)
    try:
        judge(zf.infolist(), job.bounds.zip)  # declared sizes and ratios, before anything is inflated
    except BaseException:
        zf.close()
        raise
    return zf


_OOXML_PARTS: list[tuple[str, re.Pattern[str]]] = [
    ("docx", re.compile(r"^word/(document|header\d*|footer\d*|footnotes|endnotes)\.xml$")),
    ("xlsx", re.compile(r"^xl/(sharedStrings|worksheets/sheet\d+)\.xml$")),
    ("pptx", re.compile(r"^ppt/(slides/slide\d+|notesSlides/notesSlide\d+)\.xml$")),
]


def _ooxml(job: Job, fmt: str) -> Extracted:
    """The text runs (w:t, a:t, t) of a DOCX's body, headers and notes, an XLSX's strings, a PPTX's
    slides: paragraphs (w:p, a:p), shared strings (si) and rows end a line."""
    with _open(job) as zf:
        names = zf.namelist()
        kind, parts = "ooxml", []
        for key, pattern in _OOXML_PARTS:
            found = [n for n in names if pattern.match(n)]
            if found:
                kind, parts = key, found
                break
        main_first = sorted(parts, key=lambda n: (not n.endswith(("document.xml", "sharedStrings.xml")), _natural(n)))
        for name in main_first:
            _xml_text(job, BoundedMember(zf, zf.getinfo(name), job.bounds.zip), text_tags=frozenset({"t"}),
                      breaks=frozenset({"p", "si", "row", "br", "cr"}), tabs=frozenset({"tab"}))  # fmt: skip
            job.buffer.add("\n")
            if job.buffer.full:
                break
    method = {"docx": "docx", "xlsx": "xlsx", "pptx": "pptx"}.get(kind, "ooxml")
    return job.result(method, note="" if parts else f"no text parts in this {formats.label(fmt)}")


def _resolve(base_dir: str, loc: str) -> str:
    """An OFD location: absolute from the package root ("/Doc_0/...") or relative to the referring file."""
    loc = loc.strip()
    return posixpath.normpath(loc.lstrip("/") if loc.startswith("/") else posixpath.join(base_dir, loc))


def _elements(job: Job, zf: zipfile.ZipFile, name: str, wanted: frozenset[str]) -> list[dict[str, Any]]:
    """The elements named in `wanted` in one small XML part: their name (`_name`), attributes and text."""
    out: list[dict[str, Any]] = []
    for _event, el in SafeET.iterparse(BoundedMember(zf, zf.getinfo(name), job.bounds.zip), events=("end",)):
        local = _local(el.tag)
        if local in wanted and len(out) <= job.bounds.max_pages + 10_000:
            out.append({**el.attrib, "_name": local, "_text": (el.text or "").strip()})
    return out


def _ofd_media(job: Job, zf: zipfile.ZipFile, names: set[str], res_files: list[str]) -> dict[str, str]:
    """Resource ID -> the image file in the package, from the document's PublicRes/DocumentRes files
    (each a Res with a BaseLoc; a MultiMedia's MediaFile is relative to it)."""
    media: dict[str, str] = {}
    for res in res_files:
        if res not in names:
            continue
        found = _elements(job, zf, res, frozenset({"Res", "MultiMedia", "MediaFile"}))
        base = next((el.get("BaseLoc", "") for el in found if el["_name"] == "Res"), "")  # the root: closes last
        res_dir = posixpath.dirname(res)
        for el in found:
            if el["_name"] == "MediaFile" and el["_text"]:
                media["_pending"] = el["_text"]
            elif el["_name"] == "MultiMedia" and "_pending" in media:
                media[el.get("ID", "")] = _resolve(posixpath.join(res_dir, base), media.pop("_pending"))
        media.pop("_pending", None)
    return media


def _ofd(job: Job) -> Extracted:
    """The TextCode of each page of each document (OFD.xml -> DocRoot -> Document.xml -> Page BaseLoc ->
    Content.xml), in page order; a text object ends a line. A page with no text but images (a scan) has
    its images OCR'd (MultiMedia resources of PublicRes/DocumentRes)."""
    with _open(job) as zf:
        names = set(zf.namelist())
        if "OFD.xml" not in names:
            raise refused(UNREADABLE, "OFD.xml is missing from the package")
        roots = [_resolve("", r["_text"]) for r in _elements(job, zf, "OFD.xml", frozenset({"DocRoot"})) if r["_text"]]
        pages: list[str] = []  # the pages' content files, in reading order
        res_files: list[str] = []
        for root in roots:
            if root not in names:
                raise refused(UNREADABLE, f"the OFD's DocRoot {root!r} is missing")
            doc_dir = posixpath.dirname(root)
            for el in _elements(job, zf, root, frozenset({"Page", "PublicRes", "DocumentRes"})):
                if el["_name"] == "Page" and el.get("BaseLoc"):
                    pages.append(_resolve(doc_dir, el["BaseLoc"]))
                elif el["_name"] != "Page" and el["_text"]:
                    res_files.append(_resolve(doc_dir, el["_text"]))
            if len(pages) > job.bounds.max_pages:
                break
        if len(pages) > job.bounds.max_pages:
            raise refused(TOO_MANY_PAGES, f"the OFD has more than {job.bounds.max_pages} pages")
        texts: list[str] = []
        scanned: dict[int, list[str]] = {}  # page index -> the resource IDs of its images
        size = 0
        for n, loc in enumerate(pages):
            job.left()
            page, images = TextBuffer(max(job.bounds.max_text_chars - size, 0)), []
            if loc in names and size < job.bounds.max_text_chars:
                for _event, el in SafeET.iterparse(BoundedMember(zf, zf.getinfo(loc), job.bounds.zip),
                                                   events=("end",)):  # fmt: skip
                    name = _local(el.tag)
                    if name == "TextCode":
                        page.add(el.text or "")
                    elif name == "TextObject":
                        page.add("\n")
                        el.clear()
                    elif name == "ImageObject" and el.get("ResourceID"):
                        images.append(el.get("ResourceID"))
            texts.append(page.text())
            size += len(texts[-1])
            if not texts[-1] and images:
                scanned[n] = images
        ocr_pages, note = 0, ""
        if scanned and not job.ocr_ready():
            if not any(texts):
                return skipped_for_ocr(job, len(pages), f"the OFD has no text, only images ({len(scanned)} scanned "
                                       "page(s)); it")  # fmt: skip
            note = f"{len(scanned)} page(s) without text not OCR'd: {job.ocr_hint()}"
        elif scanned:
            media = _ofd_media(job, zf, names, res_files)
            unread = 0
            for n, ids in scanned.items():
                found = [_ocr_ofd_image(job, zf, names, media.get(i), f"page {n + 1}") for i in ids]
                unread += sum(1 for f in found if f is None)
                texts[n] = "\n".join(f for f in found if f)
                ocr_pages += 1
            if unread:
                note = f"{unread} image(s) of scanned pages could not be read for OCR"
    _add_pages(job, texts)
    method = "ofd" if not ocr_pages else "ocr" if not any(t for i, t in enumerate(texts) if i not in scanned) \
        else "ofd+ocr"  # fmt: skip
    return job.result(method, len(pages), ocr_pages, note)


def _ocr_ofd_image(job: Job, zf: zipfile.ZipFile, names: set[str], member: str | None, what: str) -> str | None:
    """The OCR'd text of one image of an OFD page (None: missing or in a format Tesseract cannot read,
    e.g. JBIG2). Copied out within the ZIP bounds, judged on its pixels first."""
    from PIL import Image

    from node.filing.checks.ziplimits import copy_member

    if member is None or member not in names:
        return None
    assert job.ocr is not None
    path = job.work_dir / ("ofd-image" + (posixpath.splitext(member)[1].lower() or ".img"))
    try:
        with path.open("wb") as out:
            copy_member(zf, zf.getinfo(member), out, job.bounds.zip)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(path) as im:
                    w, h = im.size
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise refused(TOO_MANY_PIXELS, f"{what}: {exc}") from exc
        except Exception:
            return None
        if w * h > job.bounds.max_pixels:
            raise refused(TOO_MANY_PIXELS, f"{what}: an image of {w}x{h} pixels, more than "
                                    f"{job.bounds.max_pixels}")  # fmt: skip
        try:
            return job.ocr.image_text(path, job.left())
        except OcrError:
            return None
    finally:
        path.unlink(missing_ok=True)
