"""Text extraction per format (node/search/extract.py) and OCR (node/search/ocr.py) on real small files:
PDF text layers, image-only PDF pages and images through Tesseract's simplified-Chinese model, OFD,
DOCX, XLSX, TXT, XML; the bounds (pages, pixels, time, characters); hostile and broken files."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest

from node.core.models import TextStatus
from node.filing.checks.ziplimits import ZipLimits
from node.search.extract import Bounds, Extracted, extract, ocr_dpi
from node.search.ocr import INSTALL_HINT, Ocr, join_cjk
from tests.helpers.search_files import (
    MiB,
    bomb_zip,
    cjk_font,
    docx_bytes,
    ofd_bytes,
    scan_pdf,
    scan_png,
    text_pdf,
    zip_bytes,
)

OCR = Ocr()
needs_ocr = pytest.mark.skipif(
    not (OCR.available and OCR.status.pdf_pages),
    reason=f"Tesseract with chi_sim and pdftoppm are not installed here ({OCR.status.message})",
)
needs_font = pytest.mark.skipif(cjk_font() is None, reason="no CJK font: apt-get install fonts-wqy-zenhei")
NO_OCR = Ocr(tesseract="no-such-tesseract-binary")
SCAN = ["关于码头建设合同的请示", "档案馆 2024年"]


def run(tmp_path: Path, name: str, data: bytes, bounds: Bounds | None = None, ocr: Ocr | None = OCR,
        **kw) -> Extracted:  # type: ignore[no-untyped-def]  # fmt: skip
    path = tmp_path / name
    path.write_bytes(data)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return extract(path, bounds or Bounds(), ocr, work, **kw)


def failed_with(result: Extracted, reason: str) -> None:
    """A failure carries its reason code first and no text at all (nothing half-written)."""
    assert result.status == TextStatus.FAILED, result
    assert result.message.startswith(reason + ": "), result.message
    assert result.text == "" and result.method is None


# -- text formats -----------------------------------------------------------------------------------------
def test_pdf_text_layer_in_page_order(tmp_path: Path) -> None:
    result = run(tmp_path, "a.pdf", text_pdf(["合同管理办法 第一条", None, "码头调度记录 第三页"]))
    assert result.status == TextStatus.DONE and result.method == "pdf-text"
    assert result.pages == 3 and result.ocr_pages == 0
    assert result.text.index("合同管理办法") < result.text.index("码头调度记录")
    assert result.message == ""


def test_txt_utf8_and_gb18030(tmp_path: Path) -> None:
    text = "关于港口调度的通知\n第二行 line two\n"
    utf8 = run(tmp_path, "u.txt", text.encode("utf-8"))
    gb = run(tmp_path, "g.txt", text.encode("gb18030"))
    assert utf8.status == gb.status == TextStatus.DONE and utf8.method == gb.method == "txt"
    assert utf8.text == gb.text == text.strip()


def test_xml_element_text_and_mixed_content(tmp_path: Path) -> None:
    xml = '<?xml version="1.0" encoding="UTF-8"?><档案><题名>港口合同</题名><说明>前文<b>加粗</b>后文</说明></档案>'
    result = run(tmp_path, "m.xml", xml.encode())
    assert result.status == TextStatus.DONE and result.method == "xml"
    assert "港口合同" in result.text and "加粗" in result.text and "前文 后文" in result.text


def test_docx_runs_joined_paragraphs_split_header_kept(tmp_path: Path) -> None:
    data = docx_bytes([["关于安全", "生产检查", "的通报"], ["第二段"]], header="机密文件页眉")
    result = run(tmp_path, "d.docx", data)
    assert result.status == TextStatus.DONE and result.method == "docx"
    lines = result.text.splitlines()
    assert lines[0] == "关于安全生产检查的通报" and lines[1] == "第二段"  # the body first, runs joined
    assert "机密文件页眉" in result.text


def test_xlsx_shared_strings(tmp_path: Path) -> None:
    strings = ('<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
               "<si><t>年度预算表</t></si><si><r><t>港务</t></r><r><t>局</t></r></si></sst>")  # fmt: skip
    data = zip_bytes({"[Content_Types].xml": b'<?xml version="1.0"?><Types/>', "xl/workbook.xml": b"<workbook/>",
                      "xl/sharedStrings.xml": strings.encode()})  # fmt: skip
    result = run(tmp_path, "s.xlsx", data)
    assert result.method == "xlsx" and result.text.splitlines() == ["年度预算表", "港务局"]


def test_ofd_text_in_document_page_order(tmp_path: Path) -> None:
    # Document.xml lists Page_1 first: the reading order is the document's, not the file names'
    data = ofd_bytes([["第二页文字"], ["关于港口调度的通知", "第一页第二行"]], order=[1, 0])
    result = run(tmp_path, "o.ofd", data)
    assert result.status == TextStatus.DONE and result.method == "ofd" and result.pages == 2
    assert result.text.splitlines()[:2] == ["关于港口调度的通知", "第一页第二行"]
    assert result.text.index("第一页第二行") < result.text.index("第二页文字")


def test_formats_without_text_are_skipped(tmp_path: Path) -> None:
    import wave

    with wave.open(str(tmp_path / "a.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\0\0" * 800)
    result = extract(tmp_path / "a.wav", Bounds(), OCR, tmp_path)
    assert result.status == TextStatus.SKIPPED and result.method is None and "WAV" in result.message


# -- OCR ------------------------------------------------------------------------------------------------------
@needs_ocr
@needs_font
def test_image_ocr_reads_chinese(tmp_path: Path) -> None:
    result = run(tmp_path, "scan.png", scan_png(SCAN))
    assert result.status == TextStatus.DONE and result.method == "ocr" and result.ocr_pages == 1
    assert "码头" in result.text and "合同" in result.text and "档案馆" in result.text
    assert "码 头" not in result.text  # Tesseract's spaces between CJK characters are removed


@needs_ocr
@needs_font
def test_image_only_pdf_is_ocrd_page_by_page(tmp_path: Path) -> None:
    result = run(tmp_path, "scan.pdf", scan_pdf([SCAN, ["第二页 港务局"]]))
    assert result.status == TextStatus.DONE and result.method == "ocr"
    assert result.pages == 2 and result.ocr_pages == 2
    assert "码头" in result.text and "港务局" in result.text
    assert result.text.index("码头") < result.text.index("港务局")
    assert list((tmp_path / "work").iterdir()) == []  # rendered pages are removed


@needs_ocr
@needs_font
def test_mixed_pdf_ocrs_only_the_scanned_page(tmp_path: Path) -> None:
    result = run(tmp_path, "mixed.pdf", text_pdf(["文本层第一页", None], scanned={1: SCAN}))
    assert result.status == TextStatus.DONE and result.method == "pdf-text+ocr"
    assert result.pages == 2 and result.ocr_pages == 1
    assert "文本层第一页" in result.text and "码头" in result.text


@needs_ocr
@needs_font
def test_scanned_ofd_pages_are_ocrd(tmp_path: Path) -> None:
    from tests.helpers.search_files import scanned_ofd_bytes

    only = run(tmp_path, "scan.ofd", scanned_ofd_bytes(SCAN))
    assert only.status == TextStatus.DONE and only.method == "ocr" and (only.pages, only.ocr_pages) == (1, 1)
    assert "码头" in only.text and "档案馆" in only.text
    mixed = run(tmp_path, "mixed.ofd", scanned_ofd_bytes(SCAN, text_page="第二页文字层"))
    assert mixed.method == "ofd+ocr" and (mixed.pages, mixed.ocr_pages) == (2, 1)
    assert mixed.text.index("码头") < mixed.text.index("第二页文字层")


@needs_font
def test_without_ocr_images_and_scans_are_skipped_with_the_install_hint(tmp_path: Path) -> None:
    assert not NO_OCR.available and NO_OCR.status.message == INSTALL_HINT
    assert "apt-get install tesseract-ocr tesseract-ocr-chi-sim" in INSTALL_HINT
    from tests.helpers.search_files import scanned_ofd_bytes

    for name, data, pages in (("s.png", scan_png(SCAN), 1), ("s.pdf", scan_pdf([SCAN, SCAN]), 2),
                              ("s.ofd", scanned_ofd_bytes(SCAN), 1)):  # fmt: skip
        result = run(tmp_path, name, data, ocr=NO_OCR)
        assert result.status == TextStatus.SKIPPED and result.method == "ocr" and result.pages == pages
        assert INSTALL_HINT in result.message and result.text == ""
    # a PDF with a text layer on some pages: that text is kept, the scanned page is named in the message
    mixed = run(tmp_path, "m.pdf", text_pdf(["文本层第一页", None], scanned={1: SCAN}), ocr=NO_OCR)
    assert mixed.status == TextStatus.DONE and mixed.method == "pdf-text" and mixed.ocr_pages == 0
    assert mixed.text == "文本层第一页" and "1 page(s) without a text layer not OCR'd" in mixed.message


def test_ocr_without_the_chinese_model_is_unavailable() -> None:
    ocr = Ocr(languages="chi_sim+no_such_model")
    if ocr.tesseract is None:
        pytest.skip("tesseract is not installed here")
    assert not ocr.available and "no_such_model" in ocr.status.message and INSTALL_HINT in ocr.status.message


def test_join_cjk_removes_spaces_between_cjk_only() -> None:
    assert join_cjk("码 头 建 设\fAB CD 2024 年\n\n") == "码头建设\nAB CD 2024 年"
    assert join_cjk("合 同，  管 理") == "合同，管理"


# -- bounds ---------------------------------------------------------------------------------------------------
def test_too_many_pages_fails_with_nothing_written(tmp_path: Path) -> None:
    result = run(tmp_path, "p.pdf", text_pdf(["一", "二", "三"]), Bounds(max_pages=2))
    failed_with(result, "too_many_pages")
    assert "3 pages, more than 2" in result.message
    ofd = run(tmp_path, "p.ofd", ofd_bytes([["一"], ["二"], ["三"]]), Bounds(max_pages=2))
    failed_with(ofd, "too_many_pages")


def test_too_many_pixels_fails(tmp_path: Path) -> None:
    from PIL import Image

    big = tmp_path / "big.png"
    Image.new("L", (2000, 1500), 255).save(big)
    failed_with(extract(big, Bounds(max_pixels=1_000_000), OCR, tmp_path), "too_many_pixels")
    assert "2000x1500" in extract(big, Bounds(max_pixels=1_000_000), OCR, tmp_path).message


def test_ocr_dpi_fits_the_pixel_bound() -> None:
    a4 = (595.0, 842.0)
    assert ocr_dpi(*a4, Bounds()) == 300  # A4 at 300 dpi: 8.7 million pixels, within 40 million
    lowered = ocr_dpi(*a4, Bounds(max_pixels=4_000_000))
    assert 150 <= lowered < 300 and (595 / 72 * lowered) * (842 / 72 * lowered) <= 4_000_000
    with pytest.raises(Exception, match="too_many_pixels"):
        ocr_dpi(2384.0, 3370.0, Bounds(max_pixels=10_000_000))  # A0 needs 80 million pixels at 100 dpi


@needs_ocr
@needs_font
def test_a_huge_scanned_page_fails_on_pixels_before_rendering(tmp_path: Path) -> None:
    from PIL import Image

    im = Image.new("L", (400, 400), 255)
    path = tmp_path / "a0.pdf"
    im.save(path, format="PDF", resolution=4.0)  # a 100-inch page: 1 billion pixels at 300 dpi
    result = extract(path, Bounds(), OCR, tmp_path / "w")
    failed_with(result, "too_many_pixels")


def test_time_bound_fails_a_slow_item(tmp_path: Path) -> None:
    ticks = itertools.count(0.0, 1.0)  # every look at the clock costs a second
    result = run(tmp_path, "t.pdf", text_pdf([f"第{i}页" for i in range(10)]), Bounds(max_seconds=5),
                 clock=lambda: next(ticks))  # fmt: skip
    failed_with(result, "timeout")


@needs_ocr
@needs_font
def test_ocr_subprocess_is_killed_at_the_deadline(tmp_path: Path) -> None:
    result = run(tmp_path, "slow.png", scan_png(SCAN * 6, size=(2400, 2400)), Bounds(max_seconds=0.05))
    failed_with(result, "timeout")


def test_long_text_is_cut_at_the_character_bound(tmp_path: Path) -> None:
    result = run(tmp_path, "long.txt", ("档案" * 3000).encode(), Bounds(max_text_chars=1000))
    assert result.status == TextStatus.DONE and len(result.text) == 1000
    assert "text cut at 1000 characters" in result.message
    pdf = run(tmp_path, "long.pdf", text_pdf(["合同" * 40] * 5), Bounds(max_text_chars=100))
    assert pdf.status == TextStatus.DONE and len(pdf.text) == 100 and pdf.pages == 5
    assert "text cut at 100 characters" in pdf.message


# -- hostile and broken files ---------------------------------------------------------------------------------
def test_zip_bomb_docx_is_refused_without_inflating(tmp_path: Path) -> None:
    from tests.helpers.search_files import CONTENT_TYPES, RELS

    path = bomb_zip(tmp_path / "bomb.docx", "word/document.xml", 64 * MiB,
                    {"[Content_Types].xml": CONTENT_TYPES, "_rels/.rels": RELS})  # fmt: skip
    assert path.stat().st_size < MiB
    result = extract(path, Bounds(), OCR, tmp_path)
    failed_with(result, "zip_bomb")


def test_zip_bomb_ofd_page_is_refused(tmp_path: Path) -> None:
    good = ofd_bytes([["正常"]])
    (tmp_path / "g.zip").write_bytes(good)
    import zipfile

    with zipfile.ZipFile(tmp_path / "g.zip") as zf:
        others = {n: zf.read(n) for n in zf.namelist() if not n.endswith("Content.xml")}
    path = bomb_zip(tmp_path / "bomb.ofd", "Doc_0/Pages/Page_0/Content.xml", 64 * MiB, others)
    failed_with(extract(path, Bounds(), OCR, tmp_path), "zip_bomb")


def test_member_past_the_checks_bounds_is_refused(tmp_path: Path) -> None:
    text = "".join(f"<w:p><w:r><w:t>第{i}段落文字内容</w:t></w:r></w:p>" for i in range(20000))
    from tests.helpers.search_files import CONTENT_TYPES, RELS, W

    document = f"<w:document {W}><w:body>{text}</w:body></w:document>".encode()
    data = zip_bytes({"[Content_Types].xml": CONTENT_TYPES, "_rels/.rels": RELS, "word/document.xml": document})
    small = Bounds(zip=ZipLimits(max_member_bytes=64 * 1024))
    failed_with(run(tmp_path, "big.docx", data, small), "zip_bomb")
    assert run(tmp_path, "big2.docx", data).status == TextStatus.DONE  # within the node's default bounds


def test_encrypted_pdf_fails_as_encrypted(tmp_path: Path) -> None:
    from tests.helpers.checks_builders import pdf_bytes

    failed_with(run(tmp_path, "e.pdf", pdf_bytes(1, password="secret")), "encrypted")


def test_broken_files_fail_as_unreadable(tmp_path: Path) -> None:
    failed_with(run(tmp_path, "b.xml", b'<?xml version="1.0"?><a><b></a>'), "unreadable")
    garbage = run(tmp_path, "b.txt", "档案".encode() + b"\xff\xfe\x80" * 10 + b"\x81")
    assert garbage.status == TextStatus.SKIPPED and garbage.text == ""  # not text: identified as unknown
    failed_with(run(tmp_path, "b.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 100), "unreadable")
    entity = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'
    failed_with(run(tmp_path, "e.xml", entity), "unreadable")  # no DTDs or entities (defusedxml)


def test_a_missing_tool_is_an_unavailable_ocr_not_a_crash(tmp_path: Path) -> None:
    ocr = Ocr(pdftoppm="no-such-pdftoppm")
    if not ocr.available:
        pytest.skip("tesseract is not installed here")
    assert not ocr.status.pdf_pages and "poppler-utils" in ocr.status.message
    if cjk_font() is None:
        return
    result = run(tmp_path, "s.pdf", scan_pdf([SCAN]), ocr=ocr)
    assert result.status == TextStatus.SKIPPED and result.method == "ocr"


def test_ocr_tools_are_on_path_when_installed() -> None:
    """`make setup` installs them as root; say so plainly when they are missing."""
    if shutil.which("tesseract") is None:
        pytest.skip(f"tesseract is not installed: {INSTALL_HINT}")
    assert OCR.available, OCR.status.message
