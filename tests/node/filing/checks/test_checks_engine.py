"""Four-properties checks: every failing check has a package that trips exactly that check.

Each case builds a small package of good items plus the one defect, runs the engine, and asserts the
set of failing codes (item-level and package-level) and the message."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from node.filing.checks.antivirus import VirusScanner
from node.filing.checks.engine import CheckConfig, check_package, default_process
from node.filing.checks.model import PackageReport
from node.filing.checks.package import load_package
from node.filing.checks.policy import apply, load_policy
from tests.helpers.checks_builders import (
    EICAR,
    ELF_HEADER,
    docx_bytes,
    good_items,
    image_bytes,
    ole_bytes,
    pdf_bytes,
    set_zip_encryption_flag,
    sha256,
    write_package,
    ws_metadata,
)

needs_clamav = pytest.mark.skipif(shutil.which("clamscan") is None, reason="ClamAV not installed (make deps-system)")


def run(root: Path, existing: Any = None, process: dict[str, Any] | None = None, **cfg: Any) -> PackageReport:
    with load_package(root) as pkg:
        report = check_package(
            pkg.items, package=pkg.name, manifest=pkg.facts, package_files=pkg.files, existing=existing,
            config=CheckConfig(**cfg), process=process if process is not None else default_process(),
        )  # fmt: skip
    apply(report, load_policy("Z001"))
    return report


def failures(report: PackageReport) -> dict[tuple[str, str], str]:
    """{(item path or '' for the package, code): message} of every failed result."""
    return {(item or "", r.code): r.message for item, r in report.all_results() if r.outcome == "fail"}


def assert_only(report: PackageReport, item: str, code: str, *fragments: str) -> str:
    got = failures(report)
    assert set(got) == {(item, code)}, report.to_text()
    message = got[(item, code)]
    for fragment in fragments:
        assert fragment in message, message
    return message


def package(tmp_path: Path, extra: list[tuple[str, bytes, dict[str, Any]]] | None = None, n: int = 2,
            **kw: Any) -> Path:  # fmt: skip
    """n good PDFs numbered 1..n, then the extra items (numbered on by the caller)."""
    return write_package(tmp_path / "pkg", good_items(n) + (extra or []), **kw)


# -- good packages -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["csv", "json"])
def test_good_package_passes_every_check(tmp_path: Path, kind: str) -> None:
    extra = [
        ("photo.png", image_bytes("PNG"), ws_metadata(4, pages=None)),
        ("scan.tif", image_bytes("TIFF", frames=2), ws_metadata(5, pages=2)),
        ("photo.jpg", image_bytes("JPEG"), ws_metadata(6, pages=1)),
        ("notice.txt", "关于港口调度的通知\n".encode("gb18030"), ws_metadata(7, pages=None)),
        ("data.xml", "<?xml version='1.0'?><r>档案</r>".encode(), ws_metadata(8, pages=None)),
        ("note.docx", docx_bytes(), ws_metadata(9, pages=None, attachments=["att/附件1.pdf"])),
    ]
    root = package(tmp_path, extra, n=3, kind=kind, extra_files={"att/附件1.pdf": pdf_bytes()})
    report = run(root)
    assert failures(report) == {}, report.to_text()
    assert report.blocking == []
    assert report.outcome == "pass"
    assert {i.format for i in report.items} == {"pdf", "png", "tiff", "jpeg", "txt", "xml", "docx"}
    assert report.items[0].by_code("USAB-PARSE")[0].message.endswith("1 page(s) readable")
    text = report.to_text()
    assert "NOT BLOCKED" in text and report.digest() in text


def test_good_package_as_zip_and_bagit(tmp_path: Path) -> None:
    import bagit

    root = package(tmp_path, n=3)
    zpath = tmp_path / "pkg.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted(root.rglob("*")):
            zf.write(p, p.relative_to(root).as_posix())
    assert failures(run(zpath)) == {}

    bag_dir = tmp_path / "bag"
    shutil.copytree(root, bag_dir)
    (bag_dir / "manifest.csv").rename(tmp_path / "manifest.csv")
    bagit.make_bag(str(bag_dir), checksums=["sha256"])
    shutil.move(tmp_path / "manifest.csv", bag_dir / "manifest.csv")  # a tag file at the bag root
    report = run(bag_dir)
    assert failures(report) == {}, report.to_text()
    assert len(report.items) == 3

    (bag_dir / "data" / "doc-0002.pdf").write_bytes(pdf_bytes(1, text="altered"))
    report = run(bag_dir)
    assert ("doc-0002.pdf", "AUTH-DIGEST") in failures(report), report.to_text()


def test_report_digest_is_sha256_of_rfc8785_json(tmp_path: Path) -> None:
    import hashlib

    from verifier.records import canonical_bytes

    report = run(package(tmp_path, n=1))
    item = report.items[0]
    assert item.digest() == hashlib.sha256(canonical_bytes(item.to_dict())).hexdigest()
    as_json = json.loads(json.dumps(report.to_dict(), ensure_ascii=False))
    assert hashlib.sha256(canonical_bytes(as_json)).hexdigest() == report.digest()
    assert as_json["items"][0]["digest"] == item.digest()


# -- authenticity --------------------------------------------------------------------------------
def test_digest_mismatch(tmp_path: Path) -> None:
    root = package(tmp_path, row_over={"doc-0002.pdf": {"sha256": sha256(b"other")}})
    assert_only(run(root), "doc-0002.pdf", "AUTH-DIGEST", "SHA-256 mismatch", sha256(b"other"))


def test_digest_missing(tmp_path: Path) -> None:
    root = package(tmp_path, row_over={"doc-0001.pdf": {"sha256": None}})
    assert_only(run(root), "doc-0001.pdf", "AUTH-DIGEST", "declared no SHA-256")


def test_size_mismatch(tmp_path: Path) -> None:
    items = good_items(2)
    total = sum(len(d) for _, d, _ in items)
    root = write_package(tmp_path / "p", items, kind="json", header={"item_count": 2, "total_bytes": total},
                         row_over={"doc-0002.pdf": {"size": 3}})  # fmt: skip
    assert_only(run(root), "doc-0002.pdf", "AUTH-ATTR-SIZE", "declared 3 bytes")


def test_name_differs_from_declared(tmp_path: Path) -> None:
    root = package(tmp_path, row_over={"doc-0001.pdf": {"name": "C:\\OA\\通知.pdf"}})
    assert_only(run(root), "doc-0001.pdf", "AUTH-ATTR-NAME", "differs from the declared name '通知.pdf'")


def test_pdf_renamed_txt_is_caught_by_content(tmp_path: Path) -> None:
    root = package(tmp_path, [("disguised.txt", pdf_bytes(1), ws_metadata(3))])
    report = run(root)
    assert_only(report, "disguised.txt", "AUTH-ATTR-FORMAT", "the name ends .txt but the content is PDF")
    assert report.items[2].format == "pdf"


def test_declared_format_differs(tmp_path: Path) -> None:
    root = package(tmp_path, row_over={"doc-0001.pdf": {"format": "image/jpeg"}})
    assert_only(run(root), "doc-0001.pdf", "AUTH-ATTR-FORMAT", "declared format JPEG but the content is PDF")


def test_time_in_future_fails_but_only_warns_by_policy(tmp_path: Path) -> None:
    root = package(tmp_path, row_over={"doc-0001.pdf": {"time": "2999-01-01T00:00:00Z"}})
    report = run(root)
    assert_only(report, "doc-0001.pdf", "AUTH-ATTR-TIME", "is in the future")
    assert report.blocking == []


@pytest.mark.parametrize(
    ("over", "code", "fragment"),
    [
        ({"classification": 1}, "AUTH-META-TYPE", "密级 (classification) must be text, got int 1"),
        ({"title": "长" * 501}, "AUTH-META-LENGTH", "题名 (title) is 501 characters, at most 500 allowed"),
        ({"classification": "绝对机密"}, "AUTH-META-RANGE", "密级 (classification) '绝对机密' is not one of"),
        ({"date": "20240231"}, "AUTH-META-RANGE", "'20240231' is not a calendar date"),
        ({"title": "通知\u202e文件"}, "AUTH-META-CHARS", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ({"responsible": "办公室\x07"}, "AUTH-META-CHARS", "U+0007"),
        ({"responsible": None}, "INTEG-REQUIRED", "required field 责任者 (responsible) is missing"),
        ({"archival_code": "Z001-WS·2024-Y-BGS-0009"}, "AUTH-REFCODE", "number 9 in the code but 3 in the metadata"),
        ({"archival_code": "Z001-WS-2024-Y-BGS-3"}, "AUTH-REFCODE", "does not follow the rule"),
        ({"pages": 5}, "AUTH-META-LINK", "metadata says 5 page(s), the content has 1"),
    ],
)
def test_metadata_checks(tmp_path: Path, over: dict[str, Any], code: str, fragment: str) -> None:
    root = package(tmp_path, [("doc-0003.pdf", pdf_bytes(1, text="three"), ws_metadata(3, **over))], kind="json")
    assert_only(run(root), "doc-0003.pdf", code, fragment)


def test_unknown_category_has_no_scheme(tmp_path: Path) -> None:
    md = ws_metadata(1, category="XX", archival_code=None)
    root = write_package(tmp_path / "p", [("a.pdf", pdf_bytes(), md)], kind="json")
    assert_only(run(root), "a.pdf", "AUTH-META-SCHEME", "no metadata scheme for category 'XX'")


def test_csv_values_are_typed_by_the_scheme(tmp_path: Path) -> None:
    root = package(tmp_path, [("doc-0003.pdf", pdf_bytes(), ws_metadata(3, year="二〇二四", archival_code=None))])
    report = run(root)
    got = failures(report)
    assert ("doc-0003.pdf", "AUTH-META-TYPE") in got, report.to_text()
    assert "年度 (year) must be an integer, got str '二〇二四'" in got[("doc-0003.pdf", "AUTH-META-TYPE")]


def test_duplicates_within_package_and_against_archive(tmp_path: Path) -> None:
    dup = ws_metadata(3, document_number="港发〔2024〕1号")
    root = package(tmp_path, [("doc-0003.pdf", pdf_bytes(1, text="x"), dup)])
    assert_only(run(root), "doc-0003.pdf", "AUTH-DUPLICATE", "document number '港发〔2024〕1号' also in doc-0001.pdf")

    root2 = write_package(tmp_path / "p2", good_items(2))
    archive = {("archival_code", "Z001-WS·2024-Y-BGS-0002"): "item-42"}
    report = run(root2, existing=lambda kind, value: archive.get((kind, value)))
    assert_only(report, "doc-0002.pdf", "AUTH-DUPLICATE",
                "reference code 'Z001-WS·2024-Y-BGS-0002' already in the archive (item item-42)")  # fmt: skip


def test_title_and_date_duplicate(tmp_path: Path) -> None:
    same = ws_metadata(3, title="关于港口调度工作的通知（第1号）", date="2024-03-15")
    root = package(tmp_path, [("doc-0003.pdf", pdf_bytes(1, text="y"), same)])
    assert_only(run(root), "doc-0003.pdf", "AUTH-DUPLICATE", "title and date", "also in doc-0001.pdf")


def test_manifest_lists_a_path_twice(tmp_path: Path) -> None:
    items = good_items(2)
    root = write_package(tmp_path / "p", items, kind="json", header={"item_count": 2})
    doc = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    doc["items"].append(doc["items"][0])
    (root / "manifest.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert_only(run(root), "", "AUTH-MANIFEST", "doc-0001.pdf listed twice")


# -- integrity -----------------------------------------------------------------------------------
def test_unlisted_file_breaks_the_count(tmp_path: Path) -> None:
    root = package(tmp_path, extra_files={"stray.pdf": pdf_bytes()})
    assert_only(run(root), "", "INTEG-COUNT", "1 file(s) not in the manifest: stray.pdf")


def test_missing_file_breaks_the_count(tmp_path: Path) -> None:
    root = package(tmp_path, n=3)
    (root / "doc-0003.pdf").unlink()
    got = failures(run(root))  # the declared total then differs as well
    assert set(got) == {("", "INTEG-COUNT"), ("", "INTEG-BYTES")}
    assert "1 listed file(s) missing: doc-0003.pdf" in got[("", "INTEG-COUNT")]


def test_total_bytes_differ(tmp_path: Path) -> None:
    root = write_package(tmp_path / "p", good_items(2), kind="json", header={"item_count": 2, "total_bytes": 7})
    assert_only(run(root), "", "INTEG-BYTES", "manifest declares 7 bytes in total")


def test_gap_in_numbering_is_caught(tmp_path: Path) -> None:
    root = package(tmp_path, [("doc-0004.pdf", pdf_bytes(1, text="4"), ws_metadata(4))])
    report = run(root)
    assert_only(report, "", "INTEG-NUMBERING", "Z001/WS/2024/Y/BGS not continuous from 1: gap(s): 3")
    assert report.blocking and report.blocking[0]["code"] == "INTEG-NUMBERING"


def test_numbering_repeat_and_expected_start(tmp_path: Path) -> None:
    items = good_items(2)
    with load_package(write_package(tmp_path / "p", items)) as pkg:
        report = check_package(pkg.items, package="p", manifest=pkg.facts, expected_start=lambda scope: 5,
                               process=default_process())  # fmt: skip
    msg = {r.code: r.message for r in report.results if r.outcome == "fail"}["INTEG-NUMBERING"]
    assert "not continuous from 5" in msg and "repeated: 1-2" in msg


def test_missing_attachment(tmp_path: Path) -> None:
    md = ws_metadata(3, attachments=["附件1.pdf", "附件2.pdf"])
    root = package(tmp_path, [("doc-0003.pdf", pdf_bytes(1, text="z"), md)], extra_files={"附件1.pdf": pdf_bytes()})
    assert_only(run(root), "doc-0003.pdf", "INTEG-ATTACH", "missing from the package: 附件2.pdf")


# -- usability -----------------------------------------------------------------------------------
def test_format_not_allowed(tmp_path: Path) -> None:
    root = package(tmp_path, [("anim.gif", image_bytes("GIF"), ws_metadata(3, pages=None))])
    assert_only(run(root), "anim.gif", "USAB-FORMAT", "format GIF is not on the allowed list")


def test_unknown_binary(tmp_path: Path) -> None:
    root = package(tmp_path, [("blob.dat", bytes(range(256)) * 4, ws_metadata(3, pages=None))])
    assert_only(run(root), "blob.dat", "USAB-FORMAT", "format not identified by content")


@pytest.mark.parametrize(
    ("name", "data", "fragment"),
    [
        ("broken.png", image_bytes("PNG", (200, 200))[:120], "PNG does not parse"),
        ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", "PDF does not parse"),
        ("broken.ofd", None, "OFD does not parse: ValueError: Doc_0/Pages/Page_0/Content.xml: XML not well-formed"),
        ("broken.docx", docx_bytes(broken=True), "word/document.xml: XML not well-formed"),
        ("broken.xml", b"<?xml version='1.0'?><a><b></a>", "XML does not parse"),
        ("bomb.xml", b"<?xml version='1.0'?><!DOCTYPE l [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;'>]><l>&b;</l>",
         "EntitiesForbidden"),
    ],
)  # fmt: skip
def test_file_does_not_parse(tmp_path: Path, name: str, data: bytes | None, fragment: str) -> None:
    from tests.helpers.checks_builders import ofd_bytes

    data = ofd_bytes(broken_xml=True) if data is None else data
    root = package(tmp_path, [(name, data, ws_metadata(3, pages=None))])
    assert_only(run(root), name, "USAB-PARSE", fragment)


def test_ofd_parses(tmp_path: Path) -> None:
    from tests.helpers.checks_builders import ofd_bytes

    root = package(tmp_path, [("notice.ofd", ofd_bytes(), ws_metadata(3, pages=None))])
    report = run(root)
    assert failures(report) == {}
    assert report.items[2].by_code("USAB-PARSE")[0].message.startswith("OFD: 1 document(s)")


@pytest.mark.parametrize(
    ("name", "data", "fragment"),
    [
        ("secret.pdf", pdf_bytes(1, password="s3cret"), "PDF trailer has /Encrypt /Standard"),
        ("secret.docx", ole_bytes(["EncryptionInfo", "EncryptedPackage"]), "EncryptionInfo/EncryptedPackage"),
        ("locked.docx", set_zip_encryption_flag(docx_bytes()), "has the encryption flag set"),
    ],
)
def test_encrypted_files(tmp_path: Path, name: str, data: bytes, fragment: str) -> None:
    root = package(tmp_path, [(name, data, ws_metadata(3, pages=None))])
    assert_only(run(root), name, "USAB-ENCRYPTED", "encrypted or password-protected", fragment)


def test_unknown_compression(tmp_path: Path) -> None:
    root = package(tmp_path, [("bz.docx", docx_bytes(method=zipfile.ZIP_BZIP2), ws_metadata(3, pages=None))])
    assert_only(run(root), "bz.docx", "USAB-COMPRESSION", "word/document.xml: bzip2")


# -- security ------------------------------------------------------------------------------------
@needs_clamav
def test_eicar_is_caught(tmp_path: Path) -> None:
    root = package(tmp_path, [("readme.txt", EICAR, ws_metadata(3, pages=None))])
    report = run(root)
    assert_only(report, "readme.txt", "SEC-VIRUS", "virus found: ArchiveLedger.Test.EICAR")
    assert report.blocking[0]["code"] == "SEC-VIRUS"


@needs_clamav
def test_eicar_inside_a_docx_is_caught(tmp_path: Path) -> None:
    from tests.helpers.checks_builders import zip_bytes

    data = zip_bytes({"[Content_Types].xml": docx_bytes() and b"<Types/>", "word/document.xml": b"<d/>",
                      "word/media/x.txt": EICAR})  # fmt: skip
    root = package(tmp_path, [("infected.docx", data, ws_metadata(3, pages=None))])
    assert ("infected.docx", "SEC-VIRUS") in failures(run(root))


def test_no_clamav_is_a_skip_that_blocks_by_default(tmp_path: Path) -> None:
    scanner = VirusScanner(clamscan="no-such-clamscan-binary")
    report = run(package(tmp_path, n=1), scanner=scanner)
    assert failures(report) == {}
    virus = report.items[0].by_code("SEC-VIRUS")[0]
    assert virus.outcome == "skip" and "ClamAV not installed" in virus.message
    assert [b["code"] for b in report.blocking or []] == ["SEC-VIRUS"]


def test_executable_refused(tmp_path: Path) -> None:
    root = package(tmp_path, [("tool.bin", ELF_HEADER, ws_metadata(3, pages=None))])
    assert_only(run(root), "tool.bin", "SEC-EXECUTABLE", "executable content refused: ELF header")


def test_executable_inside_zip_refused(tmp_path: Path) -> None:
    from tests.helpers.checks_builders import zip_bytes

    data = zip_bytes({"OFD.xml": b"<OFD/>", "Doc_0/run.exe": b"MZ" + b"\x00" * 100})
    root = package(tmp_path, [("trojan.ofd", data, ws_metadata(3, pages=None))])
    got = failures(run(root))
    assert "Doc_0/run.exe" in got[("trojan.ofd", "SEC-EXECUTABLE")]


@pytest.mark.parametrize(
    ("name", "data", "fragment"),
    [
        ("macro.docm", docx_bytes(macro=True), "word/vbaProject.bin"),
        ("legacy.doc", ole_bytes(["WordDocument", "Macros", "VBA", "_VBA_PROJECT"]), "VBA macros"),
    ],
)
def test_macros_refused(tmp_path: Path, name: str, data: bytes, fragment: str) -> None:
    root = package(tmp_path, [(name, data, ws_metadata(3, pages=None))])
    assert_only(run(root), name, "SEC-MACRO", "macros refused", fragment)


def test_process_not_recorded_warns_only(tmp_path: Path) -> None:
    report = run(package(tmp_path, n=1), process={"who": "archivist"})
    assert_only(report, "", "SEC-PROCESS", "no when, where")
    assert report.blocking == []
