"""Reading lent content in the browser (issue 11, 2.): PDF pages and images rendered on the server into PNG
images that carry a visible watermark (the borrower and the time), so the original bytes never leave the
node through the reader.

Why server-side: a watermark drawn by the browser is removed with the developer tools; one burnt into the
pixels travels with every screenshot or photo of the screen. Rendering is bounded: PDF pages by `pdftoppm`
(poppler-utils) as a subprocess with a timeout, a resolution and a size cap, one page per call; images by
Pillow with a pixel cap (no decompression bombs), downscaled; at most `MAX_PAGES` pages of an item and
`MAX_RENDERS` renders at once (the node shares its cores with everything else).
"""

from __future__ import annotations

import io
import logging
import math
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from node.core.errors import Conflict, InvalidInput

logger = logging.getLogger(__name__)

PDF, IMAGE, OTHER = "pdf", "image", "other"
MAX_PAGES = 200  # pages (or image frames) offered by the reader
DPI = 100
MAX_SIDE = 1600  # pixels of a rendered page's longer side
MAX_IMAGE_PIXELS = 60_000_000  # an image larger than this is refused (Pillow would decode it all)
TIMEOUT_S = 20.0
MAX_RENDERS = 2
_renders = threading.BoundedSemaphore(MAX_RENDERS)
# CJK fonts installed by `make setup` (fonts-wqy-zenhei, fonts-noto-cjk), when fc-match cannot tell.
KNOWN_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)
_MAGIC_IMAGES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*", b"BM")


def kind_of(path: Path) -> str:
    """pdf, image or other, by the file's first bytes (never by its name: names lie)."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(_MAGIC_IMAGES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return IMAGE
    return OTHER


def _run(cmd: list[str], timeout_s: float) -> bytes:
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, stdin=subprocess.DEVNULL,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"})  # fmt: skip
    except subprocess.TimeoutExpired as exc:  # run() kills the child before raising
        raise InvalidInput(f"{cmd[0]} ran past its time bound ({timeout_s:.0f} s)", reason="render_failed") from exc
    except OSError as exc:
        raise InvalidInput(f"{cmd[0]} cannot run: {exc}", reason="render_failed") from exc
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise InvalidInput(f"{Path(cmd[0]).name} failed: {lines[-1] if lines else done.returncode}",
                           reason="render_failed")  # fmt: skip
    return done.stdout


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise InvalidInput(f"{name} is not installed (poppler-utils: make setup)", reason="render_failed")
    return found


def page_count(path: Path, kind: str) -> int:
    """Pages of a PDF (pdfinfo) or frames of an image (a multi-page TIFF), at most MAX_PAGES."""
    if kind == PDF:
        out = _run([_tool("pdfinfo"), str(path)], TIMEOUT_S).decode("utf-8", errors="replace")
        pages = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Pages:")), "0")
        return min(int(pages) if pages.isdigit() else 0, MAX_PAGES)
    if kind == IMAGE:
        with _open_image(path) as image:
            return min(max(1, int(getattr(image, "n_frames", 1))), MAX_PAGES)
    return 0


def _open_image(path: Path) -> Image.Image:
    try:
        image = Image.open(path)
    except (OSError, Image.DecompressionBombError) as exc:
        raise InvalidInput(f"the image cannot be read: {exc}", reason="render_failed") from exc
    if image.width * image.height > MAX_IMAGE_PIXELS:
        image.close()
        raise InvalidInput(f"the image is too large to show ({image.width}x{image.height})", reason="render_failed")
    return image


def render_page(path: Path, kind: str, page: int) -> Image.Image:
    """Page `page` (1-based) of a PDF or frame of an image, as RGB, its longer side at most MAX_SIDE.
    No watermark: `watermarked` adds it."""
    if not 1 <= page <= MAX_PAGES:
        raise InvalidInput(f"no page {page}", reason="no_such_page")
    if not _renders.acquire(timeout=TIMEOUT_S):
        raise Conflict("too many pages are being rendered: try again in a moment", reason="render_busy")
    try:
        if kind == PDF:
            png = _run([_tool("pdftoppm"), "-f", str(page), "-l", str(page), "-r", str(DPI), "-scale-to", str(MAX_SIDE),
                        "-png", "-singlefile", str(path)], TIMEOUT_S)  # fmt: skip
            if not png:
                raise InvalidInput(f"no page {page}", reason="no_such_page")
            with Image.open(io.BytesIO(png)) as image:
                return image.convert("RGB")
        if kind == IMAGE:
            with _open_image(path) as image:
                if page > getattr(image, "n_frames", 1):
                    raise InvalidInput(f"no page {page}", reason="no_such_page")
                image.seek(page - 1)
                frame = image.convert("RGB")
            frame.thumbnail((MAX_SIDE, MAX_SIDE))
            return frame
    finally:
        _renders.release()
    raise InvalidInput("this format cannot be shown inline", reason="format_not_shown")


@dataclass(frozen=True)
class FontChoice:
    path: str | None  # None: Pillow's default font (no CJK glyphs)


@cache
def watermark_font() -> FontChoice:
    """A CJK font file: fc-match's answer for a Chinese sans font, else a known Debian path, else Pillow's
    default font (said once in the log: Chinese names then show as boxes)."""
    fc = shutil.which("fc-match")
    if fc:
        for family in ("Noto Sans CJK SC", "WenQuanYi Zen Hei"):
            try:
                found = subprocess.run([fc, "-f", "%{file}", f"{family}:lang=zh-cn"], capture_output=True, text=True,
                                       timeout=10, stdin=subprocess.DEVNULL).stdout.strip()  # fmt: skip
            except (OSError, subprocess.TimeoutExpired):
                break
            cjk = "cjk" in found.lower() or "wqy" in found.lower()  # fc-match answers *some* font, even without
            if cjk and Path(found).is_file() and Path(found).suffix.lower() in (".ttc", ".ttf", ".otf"):
                return FontChoice(found)
    for path in KNOWN_FONTS:
        if Path(path).is_file():
            return FontChoice(path)
    logger.warning("no CJK font found (apt-get install fonts-noto-cjk or fonts-wqy-zenhei): the reader's "
                   "watermarks use Pillow's default font, Chinese characters will not show")  # fmt: skip
    return FontChoice(None)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    choice = watermark_font()
    if choice.path is not None:
        try:
            return ImageFont.truetype(choice.path, size)
        except OSError:
            logger.warning("the font %s cannot be loaded: Pillow's default font is used", choice.path)
    return ImageFont.load_default(size)


def watermarked(page: Image.Image, text: str) -> Image.Image:
    """The page with `text` drawn over it: tiled diagonally across the whole page (semi-transparent, so the
    page stays readable) and once more, opaque, in a band along the bottom edge."""
    base = page.convert("RGBA")
    w, h = base.size
    size = max(14, min(w, h) // 28)
    font = _font(size)
    diagonal = int(math.hypot(w, h)) + 2 * size
    layer = Image.new("RGBA", (diagonal, diagonal), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    step_x, step_y = (right - left) + 3 * size, (bottom - top) + 4 * size
    for row, y in enumerate(range(0, diagonal, step_y)):
        for x in range(-(row % 2) * step_x // 2, diagonal, step_x):
            draw.text((x, y), text, font=font, fill=(160, 20, 20, 80))
    layer = layer.rotate(30, resample=Image.Resampling.BICUBIC)
    offset = ((diagonal - w) // 2, (diagonal - h) // 2)
    base.alpha_composite(layer.crop((offset[0], offset[1], offset[0] + w, offset[1] + h)))
    band = ImageDraw.Draw(base)
    band_h = (bottom - top) + size
    band.rectangle((0, h - band_h, w, h), fill=(255, 255, 255, 255))
    band.text((size // 2, h - band_h + size // 2 - top), text, font=font, fill=(140, 10, 10, 255))
    return base.convert("RGB")


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()
