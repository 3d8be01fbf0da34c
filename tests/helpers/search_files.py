"""Real small files for the text extraction tests (node/search/extract.py): made at test time.

Chinese text is drawn with a CJK font from Debian (fonts-wqy-zenhei or fonts-noto-cjk, installed by
`make setup`) so OCR can read it back; PDFs with a Chinese text layer use reportlab's built-in
STSong-Light CID font (no font file needed)."""

from __future__ import annotations

import glob
import io
import zipfile
from pathlib import Path

CJK_FONT_GLOBS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/**/*CJK*.tt[cf]",
)
MiB = 1024**2


def cjk_font() -> str | None:
    for pattern in CJK_FONT_GLOBS:
        found = sorted(glob.glob(pattern, recursive=True))
        if found:
            return found[0]
    return None


def scan_image(lines: list[str], size: tuple[int, int] = (1654, 1000), font_px: int = 64):  # type: ignore[no-untyped-def]
    """A white page with black Chinese text: what a scanner makes of a typed page (150 dpi wide)."""
    from PIL import Image, ImageDraw, ImageFont

    font_path = cjk_font()
    assert font_path is not None, "no CJK font: apt-get install fonts-wqy-zenhei"
    font = ImageFont.truetype(font_path, font_px)
    im = Image.new("L", size, 255)
    draw = ImageDraw.Draw(im)
    for n, line in enumerate(lines):
        draw.text((100, 100 + n * font_px * 2), line, font=font, fill=0)
    return im


def scan_png(lines: list[str], **kw) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    scan_image(lines, **kw).save(buf, format="PNG")
    return buf.getvalue()


def scan_pdf(pages: list[list[str]]) -> bytes:
    """An image-only PDF (no text layer): each page one scanned image, as a scanner writes them."""
    images = [scan_image(lines).convert("RGB") for lines in pages]
    buf = io.BytesIO()
    images[0].save(buf, format="PDF", resolution=150.0, save_all=True, append_images=images[1:])
    return buf.getvalue()


def text_pdf(pages: list[str | None], scanned: dict[int, list[str]] | None = None) -> bytes:
    """A PDF with a Chinese text layer per page (None: a blank page); pages in `scanned` carry a scanned
    image instead of text."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    for n, text in enumerate(pages):
        if scanned and n in scanned:
            c.drawImage(ImageReader(scan_image(scanned[n])), 0, A4[1] - 500, width=A4[0], height=500)
        elif text is not None:
            c.setFont("STSong-Light", 14)
            c.drawString(72, 760, text)
        c.showPage()
    c.save()
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/word/document.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    b'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)


def docx_bytes(paragraphs: list[list[str]], header: str | None = None) -> bytes:
    """A DOCX: each paragraph a list of runs (a word split over runs must come out whole)."""
    body = "".join("<w:p>" + "".join(f"<w:r><w:t>{run}</w:t></w:r>" for run in runs) + "</w:p>" for runs in paragraphs)
    members = {
        "[Content_Types].xml": CONTENT_TYPES, "_rels/.rels": RELS,
        "word/document.xml": f'<?xml version="1.0" encoding="UTF-8"?><w:document {W}><w:body>{body}</w:body>'
                             "</w:document>".encode(),
    }  # fmt: skip
    if header is not None:
        members["word/header1.xml"] = f"<w:hdr {W}><w:p><w:r><w:t>{header}</w:t></w:r></w:p></w:hdr>".encode()
    return zip_bytes(members)


OFD_NS = 'xmlns:ofd="http://www.ofdspec.org/2016"'


def ofd_bytes(pages: list[list[str]], order: list[int] | None = None) -> bytes:
    """An OFD: pages of text objects; Document.xml lists them in `order` (page indexes), the reading order."""
    order = order if order is not None else list(range(len(pages)))
    ofd = (f'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD {OFD_NS} Version="1.0" DocType="OFD"><ofd:DocBody>'
           "<ofd:DocInfo><ofd:DocID>d1</ofd:DocID></ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot>"
           "</ofd:DocBody></ofd:OFD>")  # fmt: skip
    listed = "".join(f'<ofd:Page ID="{i + 1}" BaseLoc="Pages/Page_{i}/Content.xml"/>' for i in order)
    doc = (f'<?xml version="1.0" encoding="UTF-8"?><ofd:Document {OFD_NS}><ofd:CommonData><ofd:MaxUnitID>9'
           "</ofd:MaxUnitID><ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox></ofd:PageArea>"
           f"</ofd:CommonData><ofd:Pages>{listed}</ofd:Pages></ofd:Document>")  # fmt: skip
    members = {"OFD.xml": ofd.encode(), "Doc_0/Document.xml": doc.encode()}
    for i, objects in enumerate(pages):
        texts = "".join(
            f'<ofd:TextObject ID="{i}{k}" Boundary="10 {10 + k * 10} 190 8" Font="1" Size="5">'
            f'<ofd:TextCode X="0" Y="5">{text}</ofd:TextCode></ofd:TextObject>'
            for k, text in enumerate(objects)
        )
        members[f"Doc_0/Pages/Page_{i}/Content.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page {OFD_NS}><ofd:Content><ofd:Layer ID="{i}00">'
            f"{texts}</ofd:Layer></ofd:Content></ofd:Page>"
        ).encode()
    return zip_bytes(members)


def bomb_zip(path: Path, member: str, inflated: int, others: dict[str, bytes]) -> Path:
    """A ZIP whose `member` inflates to `inflated` bytes of spaces (a ratio near 1000:1), streamed."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in others.items():
            zf.writestr(name, data)
        info = zipfile.ZipInfo(member, date_time=(2024, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as out:
            out.write(b'<?xml version="1.0"?><w:document ' + W.encode() + b"><w:body>")
            left = inflated
            while left > 0:
                out.write(b" " * min(left, MiB))
                left -= MiB
            out.write(b"</w:body></w:document>")
    return path


def scanned_ofd_bytes(lines: list[str], text_page: str | None = None) -> bytes:
    """An OFD whose first page is a scan: an ImageObject whose MultiMedia (DocumentRes.xml, BaseLoc Res)
    is a PNG of `lines`; with `text_page`, a second page of text."""
    ofd = (f'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD {OFD_NS} Version="1.0" DocType="OFD"><ofd:DocBody>'
           "<ofd:DocInfo><ofd:DocID>d1</ofd:DocID></ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot>"
           "</ofd:DocBody></ofd:OFD>")  # fmt: skip
    listed = '<ofd:Page ID="1" BaseLoc="Pages/Page_0/Content.xml"/>'
    if text_page is not None:
        listed += '<ofd:Page ID="2" BaseLoc="Pages/Page_1/Content.xml"/>'
    doc = (f'<?xml version="1.0" encoding="UTF-8"?><ofd:Document {OFD_NS}><ofd:CommonData><ofd:MaxUnitID>9'
           "</ofd:MaxUnitID><ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox></ofd:PageArea>"
           "<ofd:DocumentRes>DocumentRes.xml</ofd:DocumentRes>"
           f"</ofd:CommonData><ofd:Pages>{listed}</ofd:Pages></ofd:Document>")  # fmt: skip
    res = (f'<?xml version="1.0" encoding="UTF-8"?><ofd:Res {OFD_NS} BaseLoc="Res"><ofd:MultiMedias>'
           '<ofd:MultiMedia ID="7" Type="Image" Format="PNG"><ofd:MediaFile>scan_7.png</ofd:MediaFile>'
           "</ofd:MultiMedia></ofd:MultiMedias></ofd:Res>")  # fmt: skip
    page0 = (f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page {OFD_NS}><ofd:Content><ofd:Layer ID="2">'
             '<ofd:ImageObject ID="3" ResourceID="7" Boundary="0 0 210 297" CTM="210 0 0 297 0 0"/>'
             "</ofd:Layer></ofd:Content></ofd:Page>")  # fmt: skip
    members = {"OFD.xml": ofd.encode(), "Doc_0/Document.xml": doc.encode(), "Doc_0/DocumentRes.xml": res.encode(),
               "Doc_0/Pages/Page_0/Content.xml": page0.encode(), "Doc_0/Res/scan_7.png": scan_png(lines)}  # fmt: skip
    if text_page is not None:
        members["Doc_0/Pages/Page_1/Content.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page {OFD_NS}><ofd:Content><ofd:Layer ID="4">'
            f'<ofd:TextObject ID="5" Boundary="10 10 190 8" Font="1" Size="5"><ofd:TextCode X="0" Y="5">{text_page}'
            "</ofd:TextCode></ofd:TextObject></ofd:Layer></ofd:Content></ofd:Page>"
        ).encode()
    return zip_bytes(members)
