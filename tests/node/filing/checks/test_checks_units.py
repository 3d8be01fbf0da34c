"""Four-properties checks: formats, parsers, reference codes, metadata schemes, policy, clamd, CLI."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from node.filing.checks import codes, formats, metadata, parsers
from node.filing.checks.antivirus import VirusScanner
from node.filing.checks.model import CheckResult, PackageReport, failed, passed, skipped
from node.filing.checks.policy import Policy, blocking, load_policy
from tests.helpers.checks_builders import (
    EICAR,
    ELF_HEADER,
    docx_bytes,
    good_items,
    image_bytes,
    mp3_bytes,
    mp4_bytes,
    ofd_bytes,
    pdf_bytes,
    wav_bytes,
    write_package,
    ws_metadata,
    xlsx_bytes,
)


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (pdf_bytes(), "pdf"), (ofd_bytes(), "ofd"), (image_bytes("JPEG"), "jpeg"), (image_bytes("TIFF"), "tiff"),
        (image_bytes("PNG"), "png"), ("纯文本".encode(), "txt"), ("纯文本".encode("gb18030"), "txt"),
        (b"<?xml version='1.0'?><a/>", "xml"), (docx_bytes(), "docx"), (xlsx_bytes(), "xlsx"),
        (mp3_bytes(), "mp3"), (mp4_bytes(), "mp4"), (wav_bytes(), "wav"), (docx_bytes(macro=True), "docm"),
        (ELF_HEADER, "elf"), (b"MZ" + b"\0" * 62, "pe"), (b"\xcf\xfa\xed\xfe" + b"\0" * 28, "macho"),
        (b"#!/bin/sh\nrm -rf /\n", "script"), (b"\x00\x01\x02\x03" * 8, None),
    ],
)  # fmt: skip
def test_identify_by_content(tmp_path: Path, data: bytes, fmt: str | None) -> None:
    info = formats.identify(_file(tmp_path, "x.bin", data))
    assert info.format == fmt
    assert bool(info.executable) == (fmt in formats.EXECUTABLE_FORMATS)


@pytest.mark.parametrize(
    ("data", "fmt", "fragment"),
    [
        (wav_bytes(250), "wav", "WAV PCM 1 ch, 8000 Hz, 16-bit, 250 ms"),
        (mp4_bytes(), "mp4", "MP4 boxes: ftyp, moov, mdat"),
        (mp3_bytes(), "mp3", "MPEG audio frames found at offset 20"),
        (xlsx_bytes(), "xlsx", "XLSX: 3 XML part(s) well-formed"),
        ("第一行\n第二行".encode("gb18030"), "txt", "text decodes as gb18030 (7 characters)"),
    ],
)
def test_parsers_accept(tmp_path: Path, data: bytes, fmt: str, fragment: str) -> None:
    result = parsers.parse(_file(tmp_path, "f", data), fmt)
    assert result.ok and fragment in result.message, result.message


@pytest.mark.parametrize(
    ("data", "fmt", "fragment"),
    [
        (wav_bytes()[:60], "wav", "truncated"),
        (mp4_bytes(truncate=True), "mp4", "bad size"),
        (
            b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10 + b"\xff\xfb\x90\x64" + b"\x00" * 800,
            "mp3",
            "not followed",
        ),
        (b"\xff\xfe\x00\x00", "txt", "does not decode"),
    ],
)
def test_parsers_refuse(tmp_path: Path, data: bytes, fmt: str, fragment: str) -> None:
    result = parsers.parse(_file(tmp_path, "f", data), fmt)
    assert not result.ok and fragment in result.message, result.message


def test_pdf_page_count(tmp_path: Path) -> None:
    result = parsers.parse(_file(tmp_path, "a.pdf", pdf_bytes(3)), "pdf")
    assert result.ok and result.details["pages"] == 3


# -- reference codes -----------------------------------------------------------------------------
def test_reference_code_rules() -> None:
    rule = codes.rule_for("Z001", "WS")
    assert rule.format("Z001", "WS", 2024, "永久", 1, "BGS") == "Z001-WS·2024-Y-BGS-0001"
    assert rule.format("Z001", "WS", 2024, "30年", 12) == "Z001-WS·2024-D30-0012"
    parsed = rule.parse("Z001-WS·2024-D10-BGS-0105")
    assert parsed == dict(fonds="Z001", category="WS", year=2024, retention="D10", organisation="BGS", number=105)
    assert rule.parse("Z001-WS·2024-Y-0003")["organisation"] is None
    with pytest.raises(codes.CodeError, match="does not follow the rule"):
        rule.parse("Z001-WS-2024-Y-BGS-0001")
    with pytest.raises(codes.CodeError, match="does not fit 4 digits"):
        rule.format("Z001", "WS", 2024, "Y", 10000)
    assert codes.rule_for("Z001", "ZP").format("Z001", "ZP", 2024, "Y", 7) == "Z001-ZP·2024-Y-0007"
    assert codes.rule_for("Z001", "RS").width == 5


def test_next_number_never_reissues_and_continuity() -> None:
    assert codes.next_number([]) == 1
    assert codes.next_number([], start=5) == 5
    assert codes.next_number([1, 2, 4]) == 5  # the gap at 3 is not refilled
    assert codes.gaps_and_repeats([1, 2, 2, 5], start=1) == ([3, 4], [2])
    assert codes.gaps_and_repeats([3, 4], start=1) == ([1, 2], [])
    assert codes.compress_ranges([1, 2, 3, 7, 9, 10]) == "1-3, 7, 9-10"


# -- metadata schemes ----------------------------------------------------------------------------
def test_every_category_has_a_scheme_with_required_fields() -> None:
    schemes = metadata.load_schemes()
    assert set(schemes) >= {"WS", "KJ", "JJ", "RS", "ZP", "YX"}
    ws = schemes["WS"]
    for name in ("fonds_code", "year", "retention", "organisation", "item_number", "document_number",
                 "responsible", "title", "date", "pages", "classification", "remarks"):  # fmt: skip
        assert name in ws.fields
    assert {f.name for f in ws.required()} >= {"fonds_code", "year", "retention", "item_number", "title", "date"}


def test_metadata_is_nfc_normalised_before_measuring() -> None:
    scheme = metadata.load_schemes()["WS"]
    decomposed = "e\u0301" * 500  # 1000 code points, 500 characters after NFC
    results = metadata.validate(ws_metadata(1, title=decomposed), scheme)
    assert all(r.outcome == "pass" for r in results), [r.message for r in results if r.outcome != "pass"]


def test_other_category_scheme_validates() -> None:
    kj = metadata.load_schemes()["KJ"]
    md = {"fonds_code": "Z001", "year": 2024, "retention": "30年", "item_number": 1, "responsible": "财务部",
          "title": "2024年3月记账凭证", "date": "20240331", "record_type": "凭证", "period": "202413"}  # fmt: skip
    bad = [r for r in metadata.validate(md, kj) if r.outcome == "fail"]
    assert [(r.code, r.details["field"]) for r in bad] == [("AUTH-META-RANGE", "period")]


# -- policy --------------------------------------------------------------------------------------
def test_policy_most_specific_pattern_wins(tmp_path: Path) -> None:
    report = PackageReport("p", results=[failed("SEC-PROCESS", "x"), failed("USAB-FORMAT", "y"),
                                         skipped("SEC-VIRUS", "z"), passed("AUTH-DIGEST", "ok")])  # fmt: skip
    default = load_policy("Z001")
    assert [b["code"] for b in blocking(report, default)] == ["USAB-FORMAT", "SEC-VIRUS"]
    lenient = Policy("Z002", block=("SEC-*", "AUTH-*"), warn=("SEC-PROCESS",), block_on_skip=())
    assert blocking(report, lenient) == []
    p = tmp_path / "policy.json"
    p.write_text('{"default": {"block": ["*"]}, "fonds": {"Z009": {"warn": ["USAB-*"]}}}', encoding="utf-8")
    assert [b["code"] for b in blocking(report, load_policy("Z009", p))] == ["SEC-PROCESS", "SEC-VIRUS"]


def test_check_result_family_from_code() -> None:
    assert CheckResult.make("INTEG-COUNT", "pass", "ok").family == "integrity"
    with pytest.raises(ValueError):
        CheckResult.make("FOO-BAR", "pass", "ok")
    with pytest.raises(ValueError):
        CheckResult("AUTH-DIGEST", "authenticity", "maybe", "x")


# -- clamd over a socket (a fake clamd speaking INSTREAM) ----------------------------------------
def test_clamd_instream_protocol(tmp_path: Path) -> None:
    sock_path = str(tmp_path / "clamd.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(4)

    def serve() -> None:
        for _ in range(2):
            conn, _ = server.accept()
            with conn:
                buf = b""
                while not buf.startswith(b"zINSTREAM\0") or not buf.endswith(b"\0\0\0\0"):
                    buf += conn.recv(65536)
                body, pos = b"", len(b"zINSTREAM\0")
                while True:
                    (n,) = struct.unpack(">I", buf[pos : pos + 4])
                    pos += 4
                    if n == 0:
                        break
                    body += buf[pos : pos + n]
                    pos += n
                conn.sendall(b"stream: Eicar-Test-Signature FOUND\0" if EICAR in body else b"stream: OK\0")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    scanner = VirusScanner(clamd_socket=sock_path)
    results = scanner.scan_many([_file(tmp_path, "e.txt", EICAR), _file(tmp_path, "ok.txt", b"hello")])
    t.join(5)
    server.close()
    assert [r.status for r in results.values()] == ["infected", "clean"]
    assert next(iter(results.values())).signature == "Eicar-Test-Signature"
    assert VirusScanner(clamd_socket=str(tmp_path / "none.sock")).scan(tmp_path / "ok.txt").status == "error"


# -- CLI -----------------------------------------------------------------------------------------
def test_cli_checks_exit_codes(tmp_path: Path) -> None:
    from cli import app

    runner = CliRunner()
    good = write_package(tmp_path / "good", good_items(2))
    result = runner.invoke(app, ["checks", str(good)])
    assert result.exit_code == 0, result.output
    assert "NOT BLOCKED" in result.output

    gap = write_package(tmp_path / "gap", [*good_items(1), ("doc-0003.pdf", pdf_bytes(), ws_metadata(3))])
    result = runner.invoke(app, ["checks", str(gap)])
    assert result.exit_code == 1
    assert (
        "INTEG-NUMBERING (package): numbering of Z001/WS/2024/Y/BGS not continuous from 1: gap(s): 2" in result.output
    )

    result = runner.invoke(app, ["checks", str(gap), "--json"])
    import json

    data = json.loads(result.output)
    assert data["blocking"][0]["code"] == "INTEG-NUMBERING" and len(data["digest"]) == 64

    result = runner.invoke(app, ["checks", str(tmp_path / "nothing-here")])
    assert result.exit_code == 2
