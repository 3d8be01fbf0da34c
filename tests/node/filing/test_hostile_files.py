"""Hostile files (issue 8, points 3, 4, 8 and 9 for files, uploads and packages): decompression bombs
with the server process's memory measured, ZIPs with a corrupt CRC or lying sizes, absurd manifest
numbers, refused and failed uploads leaving nothing on disk, a hostile stored file name, server paths
in error bodies, a re-sent package with an extra unsafe row, symbolic links in a directory package,
and the modes of the data dir, config.toml and ganache.log."""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from node.core.models import Item
from tests.helpers.checks_builders import docx_bytes, pdf_bytes, sha256, write_package, ws_metadata
from tests.helpers.ganache_fixture import ganache_url  # noqa: F401  (module-scoped fixture)

MiB = 1024**2
RSS_BOUND = 150 * MiB


# -- building hostile ZIPs (streamed: nothing large is ever written or held) ------------------------------
def _deflated_member(zf: zipfile.ZipFile, name: str, size: int, head: bytes = b"", tail: bytes = b"") -> None:
    """A member of `size` bytes (head, spaces, tail) written as a deflate stream in 1 MiB chunks."""
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w", force_zip64=True) as member:
        member.write(head)
        left = size - len(head) - len(tail)
        chunk = b" " * MiB
        while left > 0:
            member.write(chunk[: min(left, MiB)])
            left -= MiB
        member.write(tail)


def bomb_docx(path: Path, inflated: int = 1100 * MiB) -> Path:
    """A DOCX whose [Content_Types].xml inflates to `inflated` bytes (about 1 MiB compressed)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        _deflated_member(
            zf, "[Content_Types].xml", inflated,
            head=b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">',
            tail=b"</Types>",
        )  # fmt: skip
        zf.writestr("_rels/.rels", b'<?xml version="1.0"?><Relationships/>')
        zf.writestr("word/document.xml", b'<?xml version="1.0"?><document/>')
    return path


def package_zip(files: dict[str, bytes], manifest: dict[str, Any] | None = None,
                compression: int = zipfile.ZIP_DEFLATED) -> bytes:  # fmt: skip
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        if manifest is not None:
            zf.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False))
    return buf.getvalue()


def manifest_for(files: dict[str, bytes], **md_over: Any) -> dict[str, Any]:
    rows = [{"path": name, "sha256": sha256(data), "size": len(data), "metadata": ws_metadata(n, **md_over)}
            for n, (name, data) in enumerate(files.items(), 1)]  # fmt: skip
    return {"items": rows}


def corrupt_zip(kind: str) -> bytes:
    """A package ZIP whose one document member has a wrong CRC or a central directory lying about its size."""
    data = pdf_bytes(1, text="honest")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest_for({"doc.pdf": data})))
        if kind == "crc":
            zf.writestr("doc.pdf", data)
            zf.filelist[-1].CRC ^= 0x5A5A5A5A
        elif kind == "smaller":  # declares fewer bytes than it inflates to
            zf.writestr("doc.pdf", data)
            zf.filelist[-1].file_size = 100
        else:  # declares more than it holds
            zf.writestr("doc.pdf", data)
            zf.filelist[-1].file_size = len(data) * 50
    return buf.getvalue()


def leftovers(data_dir: Path) -> list[str]:
    """Files under the node's temporary places (blobs/tmp, <data>/tmp)."""
    out = []
    for d in (data_dir / "blobs" / "tmp", data_dir / "tmp"):
        if d.exists():
            out += [str(p.relative_to(data_dir)) for p in d.rglob("*")]
    return out


def blob_names(data_dir: Path) -> set[str]:
    return {p.name for p in (data_dir / "blobs").glob("??/??/*")}


def post_zip(client: Any, data: bytes, **kw: Any) -> Any:
    return client.post("/packages", content=data, headers={"Content-Type": "application/zip"}, **kw)


def item_form(content: bytes, metadata: dict[str, Any], filename: str = "doc.pdf", metadata_first: bool = False
              ) -> tuple[bytes, str]:  # fmt: skip
    """A multipart body with parts `file` and `metadata`, in the order asked."""
    boundary = "hostile-boundary-7d1"
    file_part = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n").encode() + content + b"\r\n"  # fmt: skip
    md_part = (f'--{boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n'
               f"{json.dumps(metadata, ensure_ascii=False)}\r\n").encode()  # fmt: skip
    parts = [md_part, file_part] if metadata_first else [file_part, md_part]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


ITEM_MD = {"fonds": "Z001", "title": "hostile", "category": "WS", "year": 2024, "retention": "permanent"}


# == a real server: memory of the server process measured ==================================================
@dataclass
class Served:
    server: Any
    data: Path
    tmp: Path

    @property
    def client(self) -> Any:
        return self.server.client()


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {key} in /proc/{pid}/status")


class RssWatch:
    """The server process's RSS sampled every 10 ms during a block (and its high-water mark)."""

    def __init__(self, pid: int, watch_dirs: tuple[Path, ...] = ()) -> None:
        self.pid, self.watch_dirs = pid, watch_dirs
        self.peak = self.before = 0
        self.disk_peak = 0
        self._stop = threading.Event()

    def _disk(self) -> int:
        total = 0
        for d in self.watch_dirs:
            for p in d.rglob("*") if d.exists() else ():
                with contextlib.suppress(OSError):  # a temp file may go while we look
                    total += p.stat().st_size if p.is_file() else 0
        return total

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _status(self.pid, "VmRSS"))
            if self.watch_dirs:
                self.disk_peak = max(self.disk_peak, self._disk())
            time.sleep(0.01)

    def __enter__(self) -> RssWatch:
        self.before = _status(self.pid, "VmRSS")
        self.hwm_before = _status(self.pid, "VmHWM")
        self.peak = self.before
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        hwm = _status(self.pid, "VmHWM")
        if hwm > self.hwm_before:  # a new high-water mark was set during the block
            self.peak = max(self.peak, hwm)

    @property
    def growth(self) -> int:
        return self.peak - self.before


@pytest.fixture(scope="module")
def served(ganache_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:  # noqa: F811
    from tests.helpers.e2e_support import NodeServer, clean_env, init_node

    tmp = tmp_path_factory.mktemp("hostile")
    url = ganache_url
    if True:
        env = clean_env(tmp, ARCHIVE_LEDGER_PRESERVATION_RATE_MB_S="1000")
        data = tmp / "node"
        init_node(data, url, env)
        server = NodeServer(data, env, tmp / "server.log").start()
        try:
            # warm up: the libraries the checks use are imported before anything is measured
            warm = {"doc-0001.pdf": pdf_bytes(1, text="warm"), "doc-0002.docx": docx_bytes()}
            r = post_zip(server.client(), package_zip(warm, manifest_for(warm, archival_code=None)))
            assert r.status_code in (201, 422), r.text
            assert server.client().post("/preservation/run", json={"from_start": True}).status_code == 200
            yield Served(server, data, tmp)
        finally:
            server.stop()
            print(f"--- server log tail\n{server.log_tail()}")


@pytest.mark.e2e
@pytest.mark.ganache
def test_docx_bomb_at_filing_is_refused_within_memory_and_time(served: Served) -> None:
    bomb = bomb_docx(served.tmp / "bomb.docx")
    assert bomb.stat().st_size < 3 * MiB
    data = bomb.read_bytes()
    files = {"bomb.docx": data}
    with RssWatch(served.server.pid) as rss:
        started = time.monotonic()
        # stored: deflating the DOCX again would shrink it 1000:1 and the package itself would be refused
        r = post_zip(served.client, package_zip(files, manifest_for(files), zipfile.ZIP_STORED))
        took = time.monotonic() - started
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "package_rejected"
    blocking = {b["code"]: b["message"] for b in body["report"]["blocking"]}
    assert "USAB-BOMB" in blocking and "Content_Types" in blocking["USAB-BOMB"], blocking
    print(f"DOCX bomb filed: RSS {rss.before / MiB:.0f} MiB +{rss.growth / MiB:.1f} MiB, {took:.1f} s")
    assert rss.growth < RSS_BOUND, f"server RSS grew by {rss.growth / MiB:.0f} MiB"
    assert took < 30, f"filing the bomb took {took:.1f} s"
    assert leftovers(served.data) == []


@pytest.mark.e2e
@pytest.mark.ganache
def test_docx_bomb_in_a_preservation_pass_is_bounded_and_does_not_wedge(served: Served) -> None:
    bomb = served.tmp / "bomb.docx"
    if not bomb.exists():
        bomb_docx(bomb)
    body, ctype = item_form(bomb.read_bytes(), {**ITEM_MD, "title": "a bomb"}, filename="bomb.docx")
    up = served.client.post("/items", content=body, headers={"Content-Type": ctype})
    assert up.status_code in (200, 201), up.text
    item_id = up.json()["id"]
    for _ in range(2):  # twice: the pass completes and the next one is not stuck on the item
        with RssWatch(served.server.pid) as rss:
            started = time.monotonic()
            r = served.client.post("/preservation/run", json={"from_start": True})
            took = time.monotonic() - started
        assert r.status_code == 200, r.text
        assert r.json()["cycle_complete"] is True
        assert rss.growth < RSS_BOUND, f"server RSS grew by {rss.growth / MiB:.0f} MiB"
        assert took < 30, f"the pass took {took:.1f} s"
    alerts = served.client.get("/preservation/alerts").json()
    alerts = alerts["alerts"] if isinstance(alerts, dict) else alerts
    mine = [a for a in alerts if a["item_id"] == item_id]
    assert mine and mine[0]["kind"] == "unusable" and "bomb" in mine[0]["message"], (alerts, r.json())


def pdf_with_big_pages(pages: int = 8, inflated: int = 60 * MiB) -> bytes:
    """A PDF whose every page's content stream is a Flate stream inflating to `inflated` bytes."""
    import zlib

    from pypdf import PdfWriter
    from pypdf.generic import NameObject, StreamObject

    writer = PdfWriter()
    compressed = zlib.compress(b"% " + b" " * (inflated - 2), 9)
    for _ in range(pages):
        page = writer.add_blank_page(100, 100)
        stream = StreamObject()
        stream._data = compressed
        stream[NameObject("/Filter")] = NameObject("/FlateDecode")
        page[NameObject("/Contents")] = writer._add_object(stream)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


@pytest.mark.e2e
@pytest.mark.ganache
def test_pdf_content_streams_are_inflated_without_being_kept(served: Served) -> None:
    data = pdf_with_big_pages()  # 8 x 60 MiB of page content: pypdf kept all of it (480 MiB) before
    files = {"doc-0001.pdf": data}
    with RssWatch(served.server.pid) as rss:
        r = post_zip(served.client, package_zip(files, manifest_for(files, pages=8), zipfile.ZIP_STORED))
    assert r.status_code in (201, 422), r.text
    parse = [x for x in r.json()["report"]["items"][0]["results"] if x["code"] == "USAB-PARSE"]
    assert parse[0]["outcome"] == "pass", parse
    assert rss.growth < RSS_BOUND, f"server RSS grew by {rss.growth / MiB:.0f} MiB"


@pytest.mark.e2e
@pytest.mark.ganache
def test_zip_package_expanding_to_2_gib_is_refused_without_writing_it(served: Served) -> None:
    path = served.tmp / "expands.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        _deflated_member(zf, "big.txt", 2048 * MiB)
        zf.writestr("manifest.json", json.dumps({"items": [{"path": "big.txt", "sha256": "0" * 64}]}))
    assert path.stat().st_size < 4 * MiB
    free_before = os.statvfs(served.data).f_bavail
    watch = (served.data / "tmp", served.data / "blobs" / "tmp")
    with RssWatch(served.server.pid, watch) as rss:
        r = post_zip(served.client, path.read_bytes())
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "package_unreadable" and "decompression bomb" in r.json()["detail"]
    # nothing beyond the upload itself was written while it was refused, and nothing is left
    assert rss.disk_peak <= path.stat().st_size + MiB, f"{rss.disk_peak} bytes in the node's temp dirs"
    assert leftovers(served.data) == []
    assert (free_before - os.statvfs(served.data).f_bavail) * os.statvfs(served.data).f_frsize < 64 * MiB
    assert rss.growth < RSS_BOUND


# == in process ===========================================================================================
def test_zip_member_with_a_corrupt_crc_is_a_422(api: Any, node_data: Path) -> None:
    r = post_zip(api, corrupt_zip("crc"))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "package_unreadable" and "doc.pdf" in r.json()["detail"]
    assert leftovers(node_data) == []


@pytest.mark.parametrize("kind", ["smaller", "larger"])
def test_zip_member_with_lying_sizes_is_a_422(api: Any, node_data: Path, kind: str) -> None:
    r = post_zip(api, corrupt_zip(kind))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "package_unreadable" and "doc.pdf" in r.json()["detail"]
    assert leftovers(node_data) == []


def test_docx_with_a_corrupt_crc_inside_a_package_blocks(api: Any) -> None:
    good = docx_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info, src.read(info))
        out.filelist[-1].CRC ^= 1
    files = {"doc-0001.docx": buf.getvalue()}
    r = post_zip(api, package_zip(files, manifest_for(files)))
    assert r.status_code == 422 and r.json()["error"] == "package_rejected", r.text
    codes = {b["code"] for b in r.json()["report"]["blocking"]}
    assert "USAB-PARSE" in codes, codes


@pytest.mark.parametrize("field", ["pages", "item_number", "year"])
def test_absurd_manifest_numbers_fail_a_check_not_the_node(api: Any, node_ctx: Any, field: str) -> None:
    files = {"doc-0001.pdf": pdf_bytes(1, text="pages")}
    manifest = manifest_for(files, **{field: 10**30})
    manifest["items"][0]["size"] = 10**30 if field == "pages" else manifest["items"][0]["size"]
    r = post_zip(api, package_zip(files, manifest))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "package_rejected"
    blocking = r.json()["report"]["blocking"]
    # A range check names the field; a manifest.json integer longer than the bounded parser takes
    # (20 digits, node/core/limits.py) fails the manifest as a whole: either way a check, not a 500.
    assert any(
        (b["code"] == "AUTH-META-RANGE" and field in b["message"])
        or (b["code"] == "AUTH-MANIFEST" and "integer of 31 digits" in b["message"])
        for b in blocking
    ), blocking
    again = api.get(f"/packages/{r.json()['id']}")  # the stored report reads back
    assert again.status_code == 200
    with node_ctx.reader() as s:
        assert s.scalar(select(func.count()).select_from(Item)) == 0


def test_non_finite_manifest_numbers_fail_a_check(api: Any) -> None:
    files = {"doc-0001.pdf": pdf_bytes(1, text="nan")}
    text = json.dumps(manifest_for(files, pages=1)).replace('"pages": 1', '"pages": NaN')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("doc-0001.pdf", files["doc-0001.pdf"])
        zf.writestr("manifest.json", text)
    r = post_zip(api, buf.getvalue())
    assert r.status_code == 422 and r.json()["error"] == "package_rejected", r.text


def test_package_needing_more_than_the_free_disk_is_refused_before_expanding(api: Any, node_ctx: Any) -> None:
    node_ctx.settings = node_ctx.settings.model_copy(update={"package_min_free_bytes": 10**18})
    files = {"doc-0001.pdf": pdf_bytes(1)}
    r = post_zip(api, package_zip(files, manifest_for(files)))
    assert r.status_code == 422 and "free disk" in r.json()["detail"], r.text
    assert leftovers(node_ctx.settings.data_dir) == []


# -- leftovers ----------------------------------------------------------------------------------------
def _fonds_limited_key(ctx: Any) -> str:
    from node.core.roles import Action
    from node.users import service as users

    with ctx.sessions() as s, s.begin():
        _row, key = users.create_api_key(s, "Z999 only", [a.value for a in Action], ["Z999"], allowed=frozenset(Action))
    return key


@pytest.mark.parametrize("metadata_first", [True, False])
def test_upload_refused_with_403_leaves_nothing(api: Any, node_ctx: Any, node_data: Path, metadata_first: bool
                                                 ) -> None:  # fmt: skip
    key = _fonds_limited_key(node_ctx)
    content = b"for another fonds " * 1000
    body, ctype = item_form(content, ITEM_MD, metadata_first=metadata_first)
    r = api.post("/items", content=body, headers={"Content-Type": ctype, "Authorization": f"Bearer {key}"})
    assert r.status_code == 403 and r.json()["error"] == "fonds_forbidden", r.text
    assert leftovers(node_data) == []
    assert sha256(content) not in blob_names(node_data)


def test_upload_refused_with_413_leaves_nothing(api: Any, node_ctx: Any, node_data: Path) -> None:
    node_ctx.settings = node_ctx.settings.model_copy(update={"max_upload_bytes": 1000})
    body, ctype = item_form(b"x" * 5000, ITEM_MD)
    r = api.post("/items", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 413, r.text
    assert leftovers(node_data) == [] and blob_names(node_data) == set()


def test_upload_refused_after_its_blob_was_written_leaves_no_blob(api: Any, node_data: Path) -> None:
    first, ctype = item_form(b"first", {**ITEM_MD, "archival_code": "Z001-WS-0001"})
    assert api.post("/items", content=first, headers={"Content-Type": ctype}).status_code == 201
    before = blob_names(node_data)
    # the same archival code again: refused (422) inside the transaction, after the blob was stored
    second, ctype = item_form(b"second, other bytes", {**ITEM_MD, "archival_code": "Z001-WS-0001"})
    r = api.post("/items", content=second, headers={"Content-Type": ctype})
    assert r.status_code == 422 and r.json()["error"] == "duplicate_archival_code", r.text
    assert blob_names(node_data) == before and leftovers(node_data) == []


def test_package_filing_that_fails_midway_leaves_no_blob(api: Any, node_data: Path, tmp_path: Path) -> None:
    def fail_at_transaction(stage: str) -> None:
        if stage == "transaction":
            raise RuntimeError("injected failure after the blobs were stored")

    api.app.state.filing_hook = fail_at_transaction
    files = {"doc-0001.pdf": pdf_bytes(1, text="midway 1"), "doc-0002.pdf": pdf_bytes(1, text="midway 2")}
    with pytest.raises(RuntimeError, match="injected"):
        post_zip(api, package_zip(files, manifest_for(files, archival_code=None)))
    assert blob_names(node_data) == set() and leftovers(node_data) == []
    api.app.state.filing_hook = None


def test_temporary_dirs_are_emptied_at_start(node_data: Path, chain_client: Any) -> None:
    from node.core.context import NodeContext
    from node.core.settings import load_settings

    (node_data / "tmp" / "archive-ledger-checks-x").mkdir(parents=True)
    (node_data / "tmp" / "archive-ledger-checks-x" / "big.bin").write_bytes(b"x" * 100)
    (node_data / "blobs" / "tmp").mkdir(parents=True, exist_ok=True)
    (node_data / "blobs" / "tmp" / "upload-package-1.zip").write_bytes(b"x")
    ctx = NodeContext.build(load_settings(node_data), chain_client=chain_client)
    ctx.close()
    assert leftovers(node_data) == []


# -- what the node shows -----------------------------------------------------------------------------------
def test_content_disposition_never_echoes_a_hostile_stored_name(api: Any, node_ctx: Any) -> None:
    body, ctype = item_form(b"hostile name", ITEM_MD, filename="../../../../etc/passwd")
    up = api.post("/items", content=body, headers={"Content-Type": ctype})
    assert up.status_code == 201, up.text
    item_id = up.json()["id"]
    assert up.json()["filename"] == "../../../../etc/passwd"  # stored as sent; sanitised where it is sent
    cases = (
        ("../../../../etc/passwd", 'filename="passwd"', None),
        ("..\\..\\boot.ini", 'filename="boot.ini"', None),
        ('evil"\r\nX-Injected: 1;.pdf', 'filename="evil_X-Injected: 1_.pdf"',
         "filename*=UTF-8''evil%22X-Injected%3A%201%3B.pdf"),
        ("/abs/档案 2024.pdf", 'filename="__ 2024.pdf"', "filename*=UTF-8''%E6%A1%A3%E6%A1%88%202024.pdf"),
        ("..", f'filename="{item_id}"', None),
        ("\u202egnp.exe", 'filename="gnp.exe"', None),
    )
    for stored, plain, star in cases:
        with node_ctx.sessions() as s, s.begin():
            s.get(Item, item_id).filename = stored
        r = api.get(f"/items/{item_id}/content")
        assert r.status_code == 200 and r.content == b"hostile name"
        cd = r.headers["content-disposition"]
        assert cd.startswith("attachment; ") and plain in cd, (stored, cd)
        assert "/" not in cd.split("filename*")[0] and ".." not in cd and "\r" not in cd and "\n" not in cd, cd
        assert (star in cd) if star else ("filename*" not in cd), (stored, cd)


def test_error_bodies_show_no_absolute_server_paths(api: Any, node_data: Path) -> None:
    answers = [
        post_zip(api, b"PK\x03\x04 not really a zip"),
        post_zip(api, b"plain garbage"),
        post_zip(api, corrupt_zip("crc")),
        api.get("/items/does-not-exist/content"),
    ]
    for r in answers:
        assert 400 <= r.status_code < 500, r.text
        assert str(node_data) not in r.text and str(node_data.resolve()) not in r.text, r.text
        assert "/tmp/" not in r.text and "/blobs/" not in r.text, r.text


# -- re-sent packages and symbolic links ------------------------------------------------------------------
def test_resent_package_with_an_extra_unsafe_row_is_checked_not_answered_filed(api: Any) -> None:
    files = {"doc-0001.pdf": pdf_bytes(1, text="resent")}
    manifest = manifest_for(files)
    first = post_zip(api, package_zip(files, manifest))
    assert first.status_code == 201, first.text
    again = post_zip(api, package_zip(files, manifest))
    assert again.status_code == 200 and again.json()["duplicate"] is True  # the same package: recognised
    bigger = dict(manifest, items=[*manifest["items"], {"path": "../../../../etc/passwd", "sha256": "0" * 64}])
    r = post_zip(api, package_zip(files, bigger))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "package_rejected" and r.json()["duplicate"] is False
    manifest_results = [b for b in r.json()["report"]["blocking"] if b["code"] == "AUTH-MANIFEST"]
    assert manifest_results and "unsafe" in manifest_results[0]["message"]


def test_checks_never_follow_a_symlink_out_of_a_directory_package(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli import app

    secret = tmp_path / "outside" / "secret.pdf"
    secret.parent.mkdir()
    secret.write_bytes(pdf_bytes(1, text="server secret"))
    root = write_package(tmp_path / "pkg", [("doc-0001.pdf", pdf_bytes(1, text="inside"), ws_metadata(1))])
    (root / "doc-0002.pdf").symlink_to(secret)
    (root / "linked").symlink_to(secret.parent, target_is_directory=True)
    rows = (root / "manifest.csv").read_text(encoding="utf-8").splitlines()
    header = rows[0].split(",")
    for name in ("doc-0002.pdf", "linked/secret.pdf"):
        cells = dict(zip(header, rows[1].split(","), strict=True))
        cells.update(path=name, sha256=sha256(secret.read_bytes()), size=str(secret.stat().st_size))
        rows.append(",".join(cells[h] for h in header))
    (root / "manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    result = CliRunner().invoke(app, ["checks", str(root), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert sorted(i["path"] for i in report["items"]) == ["doc-0001.pdf"]  # the linked ones were not read
    assert sha256(secret.read_bytes()) not in json.dumps([i.get("sha256") for i in report["items"]])
    manifest_fail = [r for r in report["results"] if r["code"] == "AUTH-MANIFEST" and r["outcome"] == "fail"]
    assert manifest_fail and "symbolic link" in manifest_fail[0]["message"]


def test_filing_a_directory_package_with_a_symlink_is_rejected(node_ctx: Any, tmp_path: Path) -> None:
    from node.filing.service import Filer

    secret = tmp_path / "secret.txt"
    secret.write_text("not for the archive")
    root = write_package(tmp_path / "pkg", [("doc-0001.pdf", pdf_bytes(1, text="dir"), ws_metadata(1))])
    (root / "extra.txt").symlink_to(secret)
    outcome = Filer(node_ctx.sessions, node_ctx.blobs, reader=node_ctx.reader).file(root, who="t", where=None)
    assert outcome.status == "REJECTED"
    assert any(b["code"] == "AUTH-MANIFEST" and "symbolic link" in b["message"] for b in outcome.report["blocking"])


# -- file modes ------------------------------------------------------------------------------------------
def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_data_dir_and_config_are_owner_only_when_created(node_data: Path) -> None:
    assert _mode(node_data) == 0o700
    assert _mode(node_data / "config.toml") == 0o600


def test_existing_loose_modes_are_tightened_at_start(node_data: Path, chain_client: Any) -> None:
    from node.core.context import NodeContext
    from node.core.settings import load_settings

    log = node_data / "ganache.log"
    log.write_text("old chain log\n")
    os.chmod(node_data, 0o755)
    os.chmod(node_data / "config.toml", 0o644)
    os.chmod(log, 0o644)
    NodeContext.build(load_settings(node_data), chain_client=chain_client).close()
    assert (_mode(node_data), _mode(node_data / "config.toml"), _mode(log)) == (0o700, 0o600, 0o600)


def test_ganache_log_is_owner_only(tmp_path: Path) -> None:
    from anchor.devchain import open_log

    old_mask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh" / "ganache.log"
        fresh.parent.mkdir()
        with open_log(fresh) as f:
            f.write(b"started\n")
        loose = tmp_path / "ganache.log"
        loose.write_text("older log\n")
        os.chmod(loose, 0o644)
        with open_log(loose) as f:
            f.write(b"again\n")
    finally:
        os.umask(old_mask)
    assert _mode(fresh) == 0o600 and _mode(loose) == 0o600
    assert loose.read_text() == "older log\nagain\n"


def test_csv_manifest_with_5000_digit_numbers_fails_a_check(api: Any, tmp_path: Path) -> None:
    huge = "9" * 5000  # more digits than Python turns into an int by default
    root = write_package(tmp_path / "pkg", [("doc-0001.pdf", pdf_bytes(1), ws_metadata(1, item_number=huge,
                         pages=huge, archival_code=None))], row_over={"doc-0001.pdf": {"size": huge}})  # fmt: skip
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in root.iterdir():
            zf.write(p, p.name)
    r = post_zip(api, buf.getvalue())
    assert r.status_code == 422 and r.json()["error"] == "package_rejected", r.text
    codes = {b["code"] for b in r.json()["report"]["blocking"]}
    assert {"AUTH-MANIFEST", "AUTH-META-TYPE"} <= codes, codes


def test_upload_failing_with_a_500_leaves_no_blob(api: Any, node_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import node.ingest.routes as items_api

    def broken_file_item(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected: the database went away after the blob was stored")

    monkeypatch.setattr(items_api, "file_item", broken_file_item)
    body, ctype = item_form(b"bytes that never become an item", ITEM_MD)
    with pytest.raises(RuntimeError, match="injected"):
        api.post("/items", content=body, headers={"Content-Type": ctype})
    assert blob_names(node_data) == set() and leftovers(node_data) == []


def test_zip_with_too_many_entries_is_refused_before_its_directory_is_built(api: Any, node_ctx: Any,
                                                                          tmp_path: Path) -> None:  # fmt: skip
    from node.filing.checks.engine import CheckConfig, ItemInput, check_item
    from node.filing.checks.ziplimits import ZipLimits

    many = tmp_path / "many.docx"
    with zipfile.ZipFile(io.BytesIO(docx_bytes())) as src, zipfile.ZipFile(many, "w") as out:
        for info in src.infolist():
            out.writestr(info, src.read(info))
        for n in range(200):
            out.writestr(f"customXml/item{n}.xml", b"<a/>")
    report = check_item(ItemInput(many, "many.docx", sha256(many.read_bytes())),
                        CheckConfig(limits=ZipLimits(max_entries=100)))  # fmt: skip
    bomb = [r for r in report.results if r.code == "USAB-BOMB"]
    assert bomb[0].outcome == "fail" and "entries" in bomb[0].message, bomb

    node_ctx.settings = node_ctx.settings.model_copy(update={"package_max_entries": 20})
    files = {f"doc-{n:04d}.pdf": pdf_bytes(1, text=str(n)) for n in range(1, 31)}
    r = post_zip(api, package_zip(files, manifest_for(files)))
    assert r.status_code == 422 and "entries" in r.json()["detail"], r.text
    assert leftovers(node_ctx.settings.data_dir) == []


def test_a_large_ole_file_is_identified_without_reading_it_whole(tmp_path: Path) -> None:
    import tracemalloc

    from node.filing.checks import formats
    from tests.helpers.checks_builders import ole_bytes

    big = tmp_path / "big.doc"
    with big.open("wb") as f:
        f.write(ole_bytes(["EncryptionInfo", "EncryptedPackage"]))
        f.truncate(512 * MiB)  # sparse: 512 MiB of file, nothing on disk
    tracemalloc.start()
    try:
        info = formats.identify(big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.format == "ooxml-encrypted"
    assert peak < 16 * MiB, f"{peak / MiB:.0f} MiB allocated to identify a 512 MiB OLE file"


def test_a_member_in_a_compression_method_zipfile_cannot_read_is_refused(tmp_path: Path) -> None:
    """Deflate64 (method 9) and the like, which zipfile cannot read: the package is refused as unreadable
    (PackageError) before anything is written."""
    import zipfile as zf

    from node.core.errors import PackageError
    from node.filing.checks.package import load_package

    path = tmp_path / "deflate64.zip"
    with zf.ZipFile(path, "w", zf.ZIP_STORED) as z:
        z.writestr("pkg/manifest.csv", "path,sha256\n")
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):  # local header, central directory
        at = raw.index(signature)
        raw[at + offset : at + offset + 2] = (9).to_bytes(2, "little")
    path.write_bytes(bytes(raw))
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(PackageError, match="compression method") as info:
        load_package(path, tmp_root=work)
    assert str(info.value) == (
        "ZIP entry 'pkg/manifest.csv' uses compression method 9, which cannot be read "
        "(use one of: stored, deflate, bzip2, lzma)"
    )
    assert list(work.iterdir()) == []
