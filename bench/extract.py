"""Text extraction throughput (issue 10): MB/s per format and OCR pages/s.

    .venv/bin/python bench/extract.py [--items 50] [--ocr-pages 10]

Makes real files (TXT of ~64 KiB of Chinese, DOCX, OFD, PDFs with a Chinese text layer via reportlab,
and scanned A4 pages at 150 dpi rendered with a CJK font) and runs node/search/extract.py's `extract` on
each, single-threaded, as the background job does. Prints a Markdown table: files, MB in, MB/s (of the
stored file), characters/s; and OCR pages/s for image-only PDF pages (pdftoppm at 300 dpi + Tesseract
chi_sim+eng) and for PNG scans (Tesseract only).
"""

from __future__ import annotations

import argparse
import platform
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.search_files import docx_bytes, ofd_bytes, scan_pdf, scan_png, text_pdf

from node.search.extract import Bounds, extract
from node.search.ocr import Ocr

WORDS = [
    "档案", "合同", "码头", "港口", "调度", "通知", "关于", "建设", "管理", "办法", "年度", "预算", "安全",
    "生产", "检查", "会议", "纪要", "请示", "批复", "全宗", "保管", "期限", "文号", "责任者", "题名", "主题词",
]  # fmt: skip


def sentence(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(WORDS) for _ in range(n)) + "。"


def cpu() -> float:
    """CPU seconds of this process and its finished children (Tesseract, pdftoppm)."""
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def measure(files: list[Path], ocr: Ocr, work: Path) -> tuple[float, float, int, int, int]:
    """(wall seconds, CPU seconds, bytes, characters, pages OCR'd) over the files."""
    t0, c0 = time.perf_counter(), cpu()
    chars = pages = 0
    for f in files:
        result = extract(f, Bounds(), ocr, work)
        assert result.status == "done", (f.name, result.message)
        chars += len(result.text)
        pages += result.ocr_pages
    return time.perf_counter() - t0, cpu() - c0, sum(f.stat().st_size for f in files), chars, pages


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--ocr-pages", type=int, default=10)
    args = ap.parse_args()
    rng = random.Random(10)
    ocr = Ocr()
    with tempfile.TemporaryDirectory(prefix="bench-extract-") as tmp:
        root, work = Path(tmp), Path(tmp) / "work"
        work.mkdir()
        made: dict[str, list[Path]] = {k: [] for k in ("TXT", "DOCX", "OFD", "PDF (text layer, 10 pages)")}
        for i in range(args.items):
            paras = [sentence(rng, 20) for _ in range(200)]
            (root / f"{i}.txt").write_text("\n".join(paras), encoding="utf-8")
            made["TXT"].append(root / f"{i}.txt")
            (root / f"{i}.docx").write_bytes(docx_bytes([[p[:20], p[20:]] for p in paras]))
            made["DOCX"].append(root / f"{i}.docx")
            (root / f"{i}.ofd").write_bytes(ofd_bytes([paras[k : k + 20] for k in range(0, 200, 20)]))
            made["OFD"].append(root / f"{i}.ofd")
            (root / f"{i}.pdf").write_bytes(text_pdf([p[:40] for p in paras[:10]]))
            made["PDF (text layer, 10 pages)"].append(root / f"{i}.pdf")
        print(f"# text extraction ({platform.python_version()}, {platform.machine()}, one thread)\n")
        print("| format | files | MB | wall s | CPU s | MB/s (wall) | characters/s (wall) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, files in made.items():
            secs, cpu_s, size, chars, _ = measure(files, ocr, work)
            print(f"| {name} | {len(files)} | {size / 1e6:.2f} | {secs:.2f} | {cpu_s:.2f} | {size / 1e6 / secs:.2f} "
                  f"| {chars / secs:,.0f} |")  # fmt: skip
        if not (ocr.available and ocr.status.pdf_pages):
            print(f"\nOCR: not measured ({ocr.status.message})")
            return 0
        lines = [sentence(rng, 6) for _ in range(8)]
        pdfs, pngs = [], []
        for i in range(args.ocr_pages):
            (root / f"scan{i}.pdf").write_bytes(scan_pdf([lines]))
            pdfs.append(root / f"scan{i}.pdf")
            (root / f"scan{i}.png").write_bytes(scan_png(lines, size=(1240, 1754), font_px=40))
            pngs.append(root / f"scan{i}.png")
        print("\n| OCR input | pages | wall s | CPU s | pages/s (wall) | CPU s per page |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, files in (("image-only PDF page (pdftoppm 300 dpi + tesseract)", pdfs),
                            ("PNG scan, A4 at 150 dpi (tesseract)", pngs)):  # fmt: skip
            secs, cpu_s, _, _, pages = measure(files, ocr, work)
            print(f"| {name} | {pages} | {secs:.1f} | {cpu_s:.1f} | {pages / secs:.2f} | {cpu_s / pages:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
