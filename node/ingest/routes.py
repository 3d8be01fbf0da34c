"""Items: ingest (streamed multipart), metadata, content."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from anchor.models import Log
from node.audit.request import request_audit
from node.core.context import NodeContext
from node.core.deps import check_fonds, current_principal, get_ctx, require
from node.core.errors import NotFound, UploadTooLarge
from node.core.models import Item, ItemPlacement
from node.core.openapi import MULTIPART_ITEM
from node.core.principal import Principal
from node.core.schemas import ItemView
from node.core.types import Offset, YearFilter
from node.ingest.schemas import CONTENT_ANSWER, RESENT_ITEM, FiledItem, ItemList
from node.ingest.service import file_item, find_duplicate, item_view, kept_only_if_filed, receive_upload
from node.lending.access import authorize_content

router = APIRouter(tags=["items"])
Ctx = Annotated[NodeContext, Depends(get_ctx)]


def load_item(ctx: NodeContext, item_id: str) -> tuple[Item, Log]:
    with ctx.reader() as s:
        item = s.get(Item, item_id)
        if item is None:
            raise NotFound(f"no item {item_id}", reason="item_not_found")
        return item, s.get(Log, item.log_pk)  # type: ignore[return-value]


@router.post("/items", status_code=201, openapi_extra=MULTIPART_ITEM, response_model=FiledItem, responses=RESENT_ITEM)
async def create_item(
    request: Request, ctx: Ctx, principal: Annotated[Principal, Depends(require("items:ingest"))]
) -> JSONResponse:
    """Multipart upload: part `file` (the bytes) and part `metadata` (JSON). Streamed, never held in
    memory; a resent file (same fonds, bytes and source_path) returns the existing item with 200."""
    settings = ctx.settings
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_upload_bytes + settings.max_metadata_bytes:
        raise UploadTooLarge(f"upload exceeds {settings.max_upload_bytes} bytes")
    upload = await receive_upload(
        request.headers.get("content-type", ""),
        request.stream(),
        ctx.blobs,
        max_file=settings.max_upload_bytes,
        max_metadata=settings.max_metadata_bytes,
        fonds_allowed=lambda fonds: check_fonds(principal, fonds),
    )
    event = request_audit(request)

    def persist() -> tuple[int, dict[str, Any]]:
        digest = upload.blob.commit()
        with ctx.sessions() as s, s.begin():
            dup = find_duplicate(s, upload.metadata, digest)
            item = dup or file_item(s, upload.metadata, digest, upload.blob.size, upload.filename)
            # The request's audit event commits with the item (node/audit/request.py).
            details = {"status": 200 if dup else 201, "duplicate": dup is not None, "content_sha256": digest}
            event.record(s, target=f"/items/{item.id}", details=details, fonds=item.fonds_code)
            return (200 if dup else 201), {**item_view(item, s.get(Log, item.log_pk)), "duplicate": dup is not None}

    with kept_only_if_filed(upload, ctx.blobs, ctx.reader):
        status, body = await run_in_threadpool(persist)
    return JSONResponse(status_code=status, content=body)


@router.get("/items", response_model=ItemList)
def list_items(
    ctx: Ctx,
    principal: Annotated[Principal, Depends(require("items:read"))],
    fonds: str | None = None,
    category: str | None = None,
    year: YearFilter = None,
    content_sha256: str | None = None,
    source_path: str | None = None,
    volume: str | None = None,  # items arranged in this volume (node/arrangement/service.py)
    box: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    query = select(Item)
    for column, value in (
        (Item.fonds_code, fonds), (Item.category, category), (Item.year, year),
        (Item.content_sha256, content_sha256), (Item.source_path, source_path),
    ):  # fmt: skip
        if value is not None:
            query = query.where(column == value)
    if volume is not None or box is not None:
        query = query.join(ItemPlacement, ItemPlacement.item_id == Item.id)
        query = query.where(ItemPlacement.volume_id == volume) if volume is not None else query
        query = query.where(ItemPlacement.box_id == box) if box is not None else query
    if principal.fonds is not None:
        query = query.where(Item.fonds_code.in_(sorted(principal.fonds)))
    with ctx.reader() as s:
        total = s.scalar(select(func.count()).select_from(query.subquery()))
        rows = s.scalars(query.order_by(Item.created_at, Item.id).limit(limit).offset(offset)).all()
        return {"total": total, "items": [item_view(i) for i in rows]}


@router.get("/items/{item_id}", response_model=ItemView)
def get_item(item_id: str, ctx: Ctx, principal: Annotated[Principal, Depends(require("items:read"))]) -> dict[str, Any]:
    item, log = load_item(ctx, item_id)
    check_fonds(principal, item.fonds_code)
    return item_view(item, log)


@router.get("/items/{item_id}/content", openapi_extra={"x-action": "items:content"}, response_class=FileResponse,
            responses=CONTENT_ANSWER)
def get_content(
    item_id: str, request: Request, ctx: Ctx, principal: Annotated[Principal, Depends(current_principal)]
) -> FileResponse:
    """The stored bytes. Who may: node/lending/access.py (items:content, or a borrower's valid permit)."""
    item, _ = load_item(ctx, item_id)
    audit = request_audit(request)
    audit.declare(fonds=item.fonds_code)
    access = authorize_content(ctx, principal, item, audit=audit)
    path = ctx.blobs.path_for(item.content_sha256)
    if not path.exists():
        raise NotFound(f"the stored file of item {item_id} is missing", reason="blob_missing")
    headers = {"X-Content-SHA256": item.content_sha256}
    if access is not None and access.loan_id:  # a borrower: where the certificate of this loan is
        headers |= {"X-Loan-Id": access.loan_id, "X-Permit-Id": access.permit_id or "",
                    "Link": f'</loans/{access.loan_id}/certificates>; rel="certificate"'}  # fmt: skip
    headers["Content-Disposition"] = content_disposition(item.filename, item.id)
    return FileResponse(path, media_type="application/octet-stream", headers=headers)


def safe_filename(name: str | None, fallback: str) -> str:
    """The stored file name fit for a header: its last path segment only (no '../', no folders),
    without control, format or private-use characters, not '.' or '..'; `fallback` when nothing is left."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] not in "CZ" or c == " ").strip()
    if base in ("", ".", ".."):
        return fallback
    return base[:255]


def content_disposition(name: str | None, fallback: str) -> str:
    """attachment with an ASCII `filename` and, for other names, RFC 6266 / RFC 5987 `filename*`."""
    clean = safe_filename(name, fallback)
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in clean)
    header = f'attachment; filename="{ascii_name}"'
    if ascii_name != clean:
        header += f"; filename*=UTF-8''{quote(clean, safe='')}"
    return header
