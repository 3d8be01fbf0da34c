"""OCR with Tesseract (and its simplified-Chinese model), run as a subprocess bounded by a timeout.

Tesseract is a Debian package, not a Python one: `apt-get install tesseract-ocr tesseract-ocr-chi-sim`
(`make setup` does it as root, like ClamAV). Image-only PDF pages are rendered to PNG by poppler's
`pdftoppm` (Debian `poppler-utils`), also a subprocess, so a hostile page can be killed at its deadline
instead of hanging the node. Without these tools OCR is unavailable and the items that need it are
recorded as `skip` with `INSTALL_HINT` as the message.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from node.core.errors import OcrError, OcrTimeout

DEFAULT_LANGUAGES = "chi_sim+eng"
INSTALL_HINT = (
    "OCR is not installed: install Tesseract with its simplified-Chinese model and poppler "
    "(`apt-get install tesseract-ocr tesseract-ocr-chi-sim poppler-utils`, or `make setup` as root)"
)
# Tesseract puts a space between recognised CJK characters; a reader (and the index) wants them joined.
_CJK = r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]"
_CJK_GAP = re.compile(rf"(?<={_CJK})[ \t]+(?={_CJK})")


def join_cjk(text: str) -> str:
    """Tesseract's output with the spaces between CJK characters removed and trailing blanks trimmed."""
    lines = [_CJK_GAP.sub("", line).rstrip() for line in text.replace("\f", "\n").splitlines()]
    return "\n".join(lines).strip()


@dataclass(frozen=True)
class OcrStatus:
    available: bool
    message: str  # what is missing and how to install it, or what is installed
    pdf_pages: bool  # pdftoppm present: image-only PDF pages can be OCR'd


class Ocr:
    """Tesseract (`-l chi_sim+eng`) over image files, pdftoppm for PDF pages. One per node: the probe of
    what is installed runs once (`status`)."""

    def __init__(
        self, *, languages: str = DEFAULT_LANGUAGES, tesseract: str = "tesseract", pdftoppm: str = "pdftoppm"
    ) -> None:
        self.languages = languages
        self.tesseract = shutil.which(tesseract)
        self.pdftoppm = shutil.which(pdftoppm)
        self._status: OcrStatus | None = None

    @property
    def status(self) -> OcrStatus:
        if self._status is None:
            self._status = self._probe()
        return self._status

    @property
    def available(self) -> bool:
        return self.status.available

    def _probe(self) -> OcrStatus:
        if self.tesseract is None:
            return OcrStatus(False, INSTALL_HINT, False)
        try:
            done = subprocess.run([self.tesseract, "--list-langs"], capture_output=True, text=True, timeout=30,
                                  env=_env())  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            return OcrStatus(False, f"tesseract does not run ({exc}); {INSTALL_HINT}", False)
        installed = set((done.stdout + done.stderr).split())
        missing = [lang for lang in self.languages.split("+") if lang not in installed]
        if missing:
            return OcrStatus(False, f"Tesseract has no model for {', '.join(missing)}; {INSTALL_HINT}", False)
        pdf = self.pdftoppm is not None
        note = "" if pdf else "; image-only PDF pages need pdftoppm (apt-get install poppler-utils)"
        return OcrStatus(True, f"tesseract -l {self.languages}{note}", pdf)

    def image_text(self, image: Path, timeout_s: float) -> str:
        """The text Tesseract reads in one image file (PNG, JPEG, single-frame TIFF)."""
        if not self.available or self.tesseract is None:
            raise OcrError(self.status.message)
        deadline = time.monotonic() + timeout_s
        text = self._tesseract(image, 3, timeout_s)  # automatic page layout
        if not text:  # a page of a line or two can defeat the layout analysis: read it as one block
            text = self._tesseract(image, 6, deadline - time.monotonic())
        return text

    def _tesseract(self, image: Path, psm: int, timeout_s: float) -> str:
        assert self.tesseract is not None
        cmd = [self.tesseract, str(image), "stdout", "-l", self.languages, "--psm", str(psm)]
        return join_cjk(_run(cmd, timeout_s, "tesseract").decode("utf-8", errors="replace"))

    def render_pdf_page(
        self, pdf: Path, page: int, dpi: int, out_dir: Path, timeout_s: float, *, scale_to: int | None = None
    ) -> Path:
        """Page `page` (1-based) of `pdf` as a greyscale PNG at `dpi` (its long side at most `scale_to`
        pixels), in `out_dir`."""
        if self.pdftoppm is None:
            raise OcrError("image-only PDF pages need pdftoppm: apt-get install poppler-utils")
        prefix = out_dir / f"page-{page}"
        size = ["-scale-to", str(scale_to)] if scale_to else ["-r", str(dpi)]
        _run([self.pdftoppm, "-f", str(page), "-l", str(page), *size, "-gray", "-png", "-singlefile",
              str(pdf), str(prefix)], timeout_s, "pdftoppm")  # fmt: skip
        path = prefix.with_suffix(".png")
        if not path.exists():
            raise OcrError(f"pdftoppm rendered nothing for page {page}")
        return path


def _env() -> dict[str, str]:
    """One thread per OCR: the node shares its cores with uploads and anchoring."""
    return {**os.environ, "OMP_THREAD_LIMIT": "1"}


def _run(cmd: list[str], timeout_s: float, name: str) -> bytes:
    if timeout_s <= 0:
        raise OcrTimeout(f"{name}: no time left for this item")
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, env=_env(), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:  # subprocess.run kills the child before raising
        raise OcrTimeout(f"{name} ran past the time bound ({timeout_s:.0f} s)") from exc
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise OcrError(f"{name} failed (exit {done.returncode}): {err[-1] if err else 'no message'}")
    return done.stdout
