"""Ingest: a multipart upload streams into the blob store while hashed; then, in one DB
transaction, the item row and its ledger record are written together (or not at all)."""

from __future__ import annotations

import contextlib
import json
import unicodedata
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from anchor.log import MerkleLog
from anchor.models import Log
from node.core.blobstore import BlobStore, BlobWriter
from node.core.errors import InvalidInput, UploadTooLarge
from node.core.limits import BodyRefused, loads_bounded
from node.core.models import Item
from node.core.multipart import form_boundary, stream_form
from node.core.types import JsonScalar
from verifier.records import metadata_digest, new_record

RETENTION_ALIASES = {
    "permanent": "permanent", "y": "permanent", "永久": "permanent",
    "30y": "30y", "d30": "30y", "30年": "30y",
    "10y": "10y", "d10": "10y", "10年": "10y",
}  # fmt: skip


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    return value


class ItemMetadata(BaseModel):
    """Archival metadata sent with a file; text is NFC-normalised before anything is hashed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    fonds: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    title: str = Field(min_length=1, max_length=1000)
    category: str = Field(min_length=1, max_length=64)
    year: int = Field(ge=1000, le=2999)
    retention: str
    archival_code: str | None = Field(default=None, min_length=1, max_length=128)
    source_path: str = Field(default="", max_length=2000)
    extra: dict[str, JsonScalar] = Field(default_factory=dict, max_length=1000)

    @field_validator("title", "category", "archival_code", "source_path", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        return _nfc(value)

    @field_validator("retention", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> str:
        key = _nfc(str(value)).strip().lower()
        if key not in RETENTION_ALIASES:
            raise ValueError("retention must be permanent (永久, Y), 30y (30年, D30) or 10y (10年, D10)")
        return RETENTION_ALIASES[key]

    @field_validator("extra", mode="before")
    @classmethod
    def _extra(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {_nfc(k): _nfc(v) for k, v in value.items()}
        return value

    def archival(self) -> dict[str, Any]:
        """The metadata that is digested into the record (source_path is transport, not archival)."""
        return self.model_dump(exclude={"source_path"}, exclude_none=True)


def parse_metadata(raw: bytes) -> ItemMetadata:
    try:
        data = loads_bounded(raw)  # bounded depth and numbers (node/core/limits.py)
    except BodyRefused as exc:
        raise type(exc)(f"metadata refused: {exc}") from exc  # the same kind, so the same answer as a JSON body
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"metadata is not valid UTF-8 JSON: {exc}", reason="metadata_not_json") from exc
    if not isinstance(data, dict):
        raise InvalidInput("metadata must be a JSON object", reason="metadata_not_object")
    try:
        return ItemMetadata.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'metadata'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidInput(f"invalid metadata: {problems}", reason="metadata_invalid") from exc


@dataclass
class Upload:
    blob: BlobWriter
    metadata: ItemMetadata
    filename: str | None


async def receive_upload(
    content_type: str, body: AsyncIterator[bytes], blobs: BlobStore, *, max_file: int, max_metadata: int,
    fonds_allowed: Callable[[str], None] | None = None,
) -> Upload:  # fmt: skip
    """Parse multipart/form-data as it arrives: part `file` goes to a blob writer, part `metadata`
    (JSON) into a bounded buffer. Anything else, or a missing part, is refused and nothing is kept.
    `fonds_allowed(fonds)` raises to refuse the metadata's fonds: asked as soon as the metadata is
    known (before the file's first byte is written when the metadata part comes first), and at the end."""
    boundary = form_boundary(content_type)
    if boundary is None:
        raise InvalidInput("expected multipart/form-data with parts 'file' and 'metadata'", reason="not_multipart")
    writer = blobs.writer(max_file)
    metadata = bytearray()
    seen: dict[str, str | None] = {}

    def add_metadata(data: memoryview) -> None:
        metadata.extend(data)
        if len(metadata) > max_metadata:
            raise UploadTooLarge(f"metadata exceeds {max_metadata} bytes", reason="metadata_too_large")

    def open_part(name: str, filename: str | None) -> Callable[[memoryview], None]:
        if name not in ("file", "metadata") or name in seen:
            raise InvalidInput(f"unexpected form part {name!r}", reason="bad_form_part")
        if name == "file" and "metadata" in seen and fonds_allowed is not None:
            fonds_allowed(parse_metadata(bytes(metadata)).fonds)  # refused before the file touches the disk
        seen[name] = filename
        return writer.write if name == "file" else add_metadata

    try:
        await stream_form(boundary, body, open_part)
        missing = [n for n in ("file", "metadata") if n not in seen]
        if missing:
            raise InvalidInput(f"missing form part(s): {', '.join(missing)}", reason="missing_part")
        meta = parse_metadata(bytes(metadata))
        if fonds_allowed is not None:
            fonds_allowed(meta.fonds)
        return Upload(writer, meta, seen["file"])
    except BaseException:
        writer.discard()
        raise


@contextmanager
def kept_only_if_filed(upload: Upload, blobs: BlobStore, reader: Callable[[], Session]) -> Iterator[Upload]:
    """The one place a refused or failed upload is deleted: whatever is raised inside the block (a
    403, a 422, a database error, a 500), the temporary file goes, and a blob this upload created
    goes too unless an item row refers to it."""
    try:
        yield upload
    except BaseException:
        upload.blob.discard()
        if upload.blob.created:
            drop_unreferenced(blobs, reader, [upload.blob.sha256])
        raise


def drop_unreferenced(blobs: BlobStore, reader: Callable[[], Session], digests: list[str]) -> None:
    """Remove those blobs no item row refers to."""
    with contextlib.suppress(Exception), reader() as s:
        kept = set(s.scalars(select(Item.content_sha256).where(Item.content_sha256.in_(digests))))
        for sha in digests:
            if sha not in kept:
                blobs.remove(sha)


def find_duplicate(session: Session, meta: ItemMetadata, content_sha256: str) -> Item | None:
    """Same fonds, same bytes, same source path: a resent upload, not a new item."""
    return session.scalar(
        select(Item).where(
            Item.fonds_code == meta.fonds,
            Item.content_sha256 == content_sha256,
            Item.source_path == meta.source_path,
        )
    )


def file_item(
    session: Session, meta: ItemMetadata, content_sha256: str, size: int, filename: str | None
) -> Item:
    """Write the item row and append its record to the fonds' log in the caller's transaction."""
    if meta.archival_code and session.scalar(select(Item.id).where(Item.archival_code == meta.archival_code)):
        raise InvalidInput(
            f"archival code {meta.archival_code!r} is already used", reason="duplicate_archival_code"
        )
    item_id = uuid.uuid4().hex
    archival = meta.archival()
    record = new_record(
        type="item.ingested",
        fonds=meta.fonds,
        item_id=item_id,
        content_sha256=content_sha256,
        size=size,
        metadata_sha256=metadata_digest(archival),
        time=datetime.now(UTC),
    )
    merkle = MerkleLog(session)
    log = merkle.get_or_create(meta.fonds)  # one (locking) lookup of the log, used for the append and the row
    (leaf,) = merkle.append_to(log, [record])
    item = Item(
        id=item_id,
        fonds_code=meta.fonds,
        title=meta.title,
        category=meta.category,
        year=meta.year,
        retention=meta.retention,
        archival_code=meta.archival_code,
        metadata_json=json.dumps(archival, ensure_ascii=False, sort_keys=True),
        content_sha256=content_sha256,
        size=size,
        filename=filename,
        source_path=meta.source_path,
        log_pk=log.id,
        leaf_index=leaf.index,
    )
    session.add(item)
    session.flush()
    return item


def item_view(item: Item, log: Log | None = None) -> dict[str, Any]:
    """An item as the API shows it (GET /items/{id}, lists, volumes)."""
    return {
        "id": item.id,
        "fonds": item.fonds_code,
        "title": item.title,
        "category": item.category,
        "year": item.year,
        "retention": item.retention,
        "archival_code": item.archival_code,
        "metadata": json.loads(item.metadata_json),
        "content_sha256": item.content_sha256,
        "size": item.size,
        "filename": item.filename,
        "source_path": item.source_path,
        "leaf_index": item.leaf_index,
        "log_id": log.log_id.hex() if log else None,
        "created_at": item.created_at.isoformat(),
    }
