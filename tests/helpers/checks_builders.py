"""Builders of real test files and transfer packages for the four-properties checks tests and bench.

Everything is made at test time (no binary fixtures; the EICAR test file is written from its string)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import struct
import wave
import zipfile
from pathlib import Path
from typing import Any

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
ELF_HEADER = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + struct.pack("<HHI", 2, 0x3E, 1) + b"\x00" * 40


def pdf_bytes(pages: int = 1, password: str | None = None, text: str = "archive") -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, NameObject

    writer = PdfWriter()
    for i in range(pages):
        page = writer.add_blank_page(width=595, height=842)
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 72 720 Td ({text} {i + 1}) Tj ET".encode())
        page[NameObject("/Contents")] = writer._add_object(stream)
    if password is not None:
        writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (32, 24), frames: int = 1) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    imgs = [Image.new("RGB", size, (40 * i % 255, 120, 200)) for i in range(frames)]
    if frames > 1:
        imgs[0].save(buf, format=fmt, save_all=True, append_images=imgs[1:])
    else:
        imgs[0].save(buf, format=fmt)
    return buf.getvalue()


def zip_bytes(
    members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED, methods: dict[str, int] | None = None
) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data, compress_type=(methods or {}).get(name, method))
    return buf.getvalue()


def set_zip_encryption_flag(data: bytes) -> bytes:
    """Set bit 0 (encrypted) of the general-purpose flags of every local and central header."""
    b = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = b.find(sig)
        while i >= 0:
            (flags,) = struct.unpack_from("<H", b, i + off)
            struct.pack_into("<H", b, i + off, flags | 1)
            i = b.find(sig, i + 4)
    return bytes(b)


OFD_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016" Version="1.0" DocType="OFD">'
    "<ofd:DocBody><ofd:DocInfo><ofd:DocID>d1</ofd:DocID><ofd:Title>关于港口调度的通知</ofd:Title></ofd:DocInfo>"
    "<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>"
)
OFD_DOC = (
    '<?xml version="1.0" encoding="UTF-8"?><ofd:Document xmlns:ofd="http://www.ofdspec.org/2016">'
    "<ofd:CommonData><ofd:MaxUnitID>2</ofd:MaxUnitID><ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox>"
    '</ofd:PageArea></ofd:CommonData><ofd:Pages><ofd:Page ID="1" BaseLoc="Pages/Page_0/Content.xml"/></ofd:Pages>'
    "</ofd:Document>"
)
OFD_PAGE = (
    '<?xml version="1.0" encoding="UTF-8"?><ofd:Page xmlns:ofd="http://www.ofdspec.org/2016"><ofd:Content/></ofd:Page>'
)


def ofd_bytes(broken_xml: bool = False) -> bytes:
    page = OFD_PAGE[:-10] if broken_xml else OFD_PAGE
    return zip_bytes({"OFD.xml": OFD_XML.encode(), "Doc_0/Document.xml": OFD_DOC.encode(),
                      "Doc_0/Pages/Page_0/Content.xml": page.encode()})  # fmt: skip


def _content_types(main: str, macro: bool) -> bytes:
    ct = {
        "word": "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        "xl": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    }[main]
    if macro:
        ct = {"word": "application/vnd.ms-word.document.macroEnabled.main+xml",
              "xl": "application/vnd.ms-excel.sheet.macroEnabled.main+xml"}[main]  # fmt: skip
    part = "/word/document.xml" if main == "word" else "/xl/workbook.xml"
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="{part}" ContentType="{ct}"/></Types>'
    ).encode()


RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    b'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
DOCX_DOC = (
    '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
    'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>关于安全生产检查的通报</w:t></w:r></w:p></w:body></w:document>'
).encode()
XLSX_BOOK = (
    b'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
    b'main"><sheets><sheet name="Sheet1" sheetId="1"/></sheets></workbook>'
)


def docx_bytes(macro: bool = False, method: int = zipfile.ZIP_DEFLATED, broken: bool = False) -> bytes:
    members = {"[Content_Types].xml": _content_types("word", macro), "_rels/.rels": RELS,
               "word/document.xml": DOCX_DOC[:-12] if broken else DOCX_DOC}  # fmt: skip
    if macro:
        members["word/vbaProject.bin"] = ole_bytes(["VBA", "_VBA_PROJECT", "dir"])
    return zip_bytes(members, methods={"word/document.xml": method})


def xlsx_bytes() -> bytes:
    return zip_bytes({"[Content_Types].xml": _content_types("xl", False), "_rels/.rels": RELS,
                      "xl/workbook.xml": XLSX_BOOK})  # fmt: skip


def ole_bytes(names: list[str]) -> bytes:
    """A minimal compound file (MS-CFB v3, 512-byte sectors): header, one FAT sector, directory
    sectors holding a root entry and one empty stream per name."""
    entries = ["Root Entry", *names]
    per_sector = 4
    dir_sectors = (len(entries) + per_sector - 1) // per_sector
    fat = [0xFFFFFFFD] + [i + 2 for i in range(1, dir_sectors)] + [0xFFFFFFFE]
    fat += [0xFFFFFFFF] * (128 - len(fat))
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<III", header, 0x2C, 1, 1, 0)  # FAT sectors, first directory sector, txn
    struct.pack_into("<IIIII", header, 0x38, 4096, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
    difat = [0] + [0xFFFFFFFF] * 108
    struct.pack_into("<109I", header, 0x4C, *difat)
    directory = bytearray(512 * dir_sectors)
    for i, name in enumerate(entries):
        e = bytearray(128)
        raw = (name + "\0").encode("utf-16-le")
        e[: len(raw)] = raw
        struct.pack_into("<H", e, 0x40, len(raw))
        e[0x42] = 5 if i == 0 else 2
        struct.pack_into("<III", e, 0x44, 0xFFFFFFFF, 0xFFFFFFFF, 1 if i == 0 and len(entries) > 1 else 0xFFFFFFFF)
        struct.pack_into("<I", e, 0x74, 0xFFFFFFFE)
        directory[i * 128 : (i + 1) * 128] = e
    return bytes(header) + struct.pack("<128I", *fat) + bytes(directory)


def wav_bytes(ms: int = 100, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x01" * (rate * ms // 1000))
    return buf.getvalue()


def mp3_bytes(frames: int = 5) -> bytes:
    header = b"\xff\xfb\x90\x64"  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz: 417-byte frames
    frame = header + b"\x00" * (417 - 4)
    tag = b"ID3\x03\x00\x00" + bytes([0, 0, 0, 10]) + b"TIT2" + b"\x00" * 6
    return tag + frame * frames


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4_bytes(truncate: bool = False) -> bytes:
    data = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41") + _box(b"moov", _box(b"mvhd", b"\x00" * 100))
    data += _box(b"mdat", b"\x00" * 64)
    return data[:-20] if truncate else data


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ws_metadata(n: int, **over: Any) -> dict[str, Any]:
    md: dict[str, Any] = {
        "fonds_code": "Z001", "category": "WS", "year": 2024, "retention": "永久", "organisation": "BGS",
        "item_number": n, "responsible": "集团办公室", "title": f"关于港口调度工作的通知（第{n}号）",
        "date": "20240315", "document_number": f"港发〔2024〕{n}号", "pages": 1, "classification": "内部",
        "archival_code": f"Z001-WS·2024-Y-BGS-{n:04d}",
    }  # fmt: skip
    md.update(over)
    return {k: v for k, v in md.items() if v is not None}


def write_package(
    root: Path,
    items: list[tuple[str, bytes, dict[str, Any]]],
    kind: str = "csv",
    extra_files: dict[str, bytes] | None = None,
    row_over: dict[str, dict[str, Any]] | None = None,
    header: dict[str, Any] | None = None,
) -> Path:
    """Write files and a manifest (csv or json). row_over[name] overrides manifest row fields
    (sha256, size, format, time, name); a value None drops the field."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, data, md in items:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        row: dict[str, Any] = {"path": name, "sha256": sha256(data), "size": len(data)}
        row.update((row_over or {}).get(name, {}))
        row = {k: v for k, v in row.items() if v is not None}
        rows.append((row, md))
    for name, data in (extra_files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    if kind == "json":
        doc: dict[str, Any] = dict(header or {})
        doc["items"] = [dict(r, metadata=md) for r, md in rows]
        (root / "manifest.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    else:
        fields: list[str] = []
        flat = []
        for r, md in rows:
            d = dict(r)
            for k, v in md.items():
                d[k] = ";".join(v) if isinstance(v, list) else v
            flat.append(d)
            fields += [k for k in d if k not in fields]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(flat)
        (root / "manifest.csv").write_text(buf.getvalue(), encoding="utf-8")
    return root


def good_items(n: int = 3) -> list[tuple[str, bytes, dict[str, Any]]]:
    return [(f"doc-{i:04d}.pdf", pdf_bytes(1, text=f"doc {i}"), ws_metadata(i)) for i in range(1, n + 1)]


def zip_of(root: Path, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(root).as_posix())
    return buf.getvalue()
