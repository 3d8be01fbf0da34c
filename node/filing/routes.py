"""Transfer packages (issue 4): POST /packages files a ZIP (checked as a whole, all items or none),
GET /packages[/{id}] the package reports, GET /items/{id}/checks an item's check report."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from python_multipart.multipart import parse_options_header
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from node.audit.middleware import audited
from node.audit.request import request_audit
from node.core.context import NodeContext
from node.core.deps import check_fonds, get_ctx, require
from node.core.errors import InvalidInput, NotFound, PackageRejected, UploadTooLarge
from node.core.models import Item, ItemCheck, Package
from node.core.multipart import form_boundary, stream_form
from node.core.openapi import MULTIPART_PACKAGE
from node.core.principal import Principal
from node.core.types import Offset, QueryBool
from node.filing.checks.package import PackageError
from node.filing.jobs import upload_name
from node.filing.schemas import (
    REFILED_PACKAGE,
    TEXT_REPORT,
    FiledPackage,
    FilingJobView,
    ItemChecks,
    PackageList,
    PackageView,
)
from node.filing.service import FILED, Filer, package_items, package_view, report_from_dict

router = APIRouter(tags=["packages"])
Ctx = Annotated[NodeContext, Depends(get_ctx)]
ZIP_TYPES = (b"application/zip", b"application/x-zip-compressed", b"application/octet-stream")


FORM_FIELD_MAX = 1024  # a small form field beside the ZIP (the web form's CSRF token)
FORM_FIELDS_MAX = 16  # and how many of them


async def receive_package(
    request: Request, target: Path, max_bytes: int, *, fields: dict[str, str] | None = None,
    before_file: Callable[[], None] | None = None,
) -> str | None:  # fmt: skip
    """Stream the body into `target`: a raw ZIP (Content-Type application/zip) or a multipart form
    whose part `file` is the ZIP. Returns the file name the client gave, if any. Never held in memory.
    The web form (node/filing/pages.py) collects its small fields into `fields` (those before the ZIP)
    and checks them in `before_file`, called before the first byte of the package is written."""
    ctype, _ = parse_options_header(request.headers.get("content-type", ""))
    written = 0
    with target.open("wb") as out:

        def write(data: bytes | memoryview) -> None:
            nonlocal written
            written += len(data)
            if written > max_bytes:
                raise UploadTooLarge(f"package exceeds the node's upload limit of {max_bytes} bytes")
            out.write(data)

        if ctype in ZIP_TYPES:
            if before_file is not None:
                before_file()
            async for chunk in request.stream():
                write(chunk)
            return None
        boundary = form_boundary(request.headers.get("content-type", ""))
        if boundary is None:
            raise InvalidInput(
                "send the package as a ZIP (Content-Type: application/zip) or as multipart/form-data with a "
                "part 'file'", reason="not_a_package",
            )  # fmt: skip
        received: list[str | None] = []

        def open_part(name: str, filename: str | None) -> Any:
            if name not in ("file", "package") or received:
                if fields is not None and filename is None and not received:
                    return _field_sink(fields, name)
                return None  # other form fields are ignored; the first ZIP part counts
            if before_file is not None:
                before_file()
            received.append(filename)
            return write

        await stream_form(boundary, request.stream(), open_part)
        if not received:
            raise InvalidInput("missing form part 'file' (the package ZIP)", reason="missing_part")
        return received[0]


def _field_sink(fields: dict[str, str], name: str) -> Callable[[bytes | memoryview], None]:
    if name not in fields and len(fields) >= FORM_FIELDS_MAX:
        raise InvalidInput(f"more than {FORM_FIELDS_MAX} form fields before the package", reason="invalid_input")
    fields[name] = ""
    raw = bytearray()

    def sink(data: bytes | memoryview) -> None:
        raw.extend(data)
        if len(raw) > FORM_FIELD_MAX:
            raise InvalidInput(f"form field {name!r} is too long", reason="invalid_input")
        fields[name] = raw.decode("utf-8", "replace")

    return sink


@asynccontextmanager
async def stored_upload(
    request: Request, ctx: NodeContext, *, fields: dict[str, str] | None = None,
    before_file: Callable[[], None] | None = None,
) -> AsyncIterator[tuple[Path, str | None]]:  # fmt: skip
    """The uploaded package in a temporary file beside the blob store and the file name the client gave:
    streamed and bounded by the node's upload limit (a body that declares more is refused before a byte is
    read). The file is removed when the block ends, whatever happened: a refused upload leaves nothing."""
    limit = ctx.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:  # (64 KiB of multipart framing)
        raise UploadTooLarge(f"package exceeds the node's upload limit of {limit} bytes")
    fd, tmp_name = tempfile.mkstemp(dir=ctx.blobs.tmp_dir, prefix="upload-package-", suffix=".zip")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp, await receive_package(request, tmp, limit, fields=fields, before_file=before_file)
    finally:
        tmp.unlink(missing_ok=True)


def submit_job(request: Request, ctx: NodeContext, principal: Principal, package: Path, name: str) -> str:
    """Hand a stored package to a background filing job (POST /packages?async=true and the filing page).
    The request's one audit event is the job's, written when it files or refuses the package
    (node/filing/jobs.py)."""
    audit = request_audit(request)
    job_id = ctx.filing_jobs().submit(package, name=name, principal=principal, source_ip=audit.source_ip,
                                      filer=filer_for(request, ctx), audit=audit.part())  # fmt: skip
    audit.recorded_elsewhere()
    return job_id


def filer_for(request: Request, ctx: NodeContext) -> Filer:
    """The context's Filer; tests may set app.state.filing_config (a CheckConfig), filing_policy_file
    and filing_hook to replace its parts."""
    state = request.app.state
    return ctx.filer(
        config=getattr(state, "filing_config", None), policy_file=getattr(state, "filing_policy_file", None),
        hook=getattr(state, "filing_hook", None),
    )  # fmt: skip


def _answer(ctx: NodeContext, package_id: str, duplicate: bool) -> JSONResponse:
    with ctx.reader() as s:
        row = s.get(Package, package_id)
        assert row is not None
        body = {**package_view(row), "duplicate": duplicate, "items": package_items(s, row.id)}
    if row.status == FILED:
        return JSONResponse(status_code=200 if duplicate else 201, content=body)
    blocking = body["report"].get("blocking") or []
    detail = f"package rejected by the four-properties checks: {len(blocking)} blocking result(s); nothing was filed"
    raise PackageRejected(detail, extra=body)  # 422 package_rejected, the package and its report in the body


@router.post("/packages", status_code=201, openapi_extra=MULTIPART_PACKAGE, response_model=FiledPackage,
             responses=REFILED_PACKAGE)
async def file_package(
    request: Request, ctx: Ctx, principal: Annotated[Principal, Depends(require("items:ingest"))],
    name: str | None = None, async_: Annotated[QueryBool, Query(alias="async")] = False,
) -> JSONResponse:  # fmt: skip
    """A transfer package as a ZIP (directory or BagIt bag inside, with manifest.csv/json): checked,
    then filed atomically. 201 filed, 200 the same package was filed before (the original is
    answered), 422 `package_rejected` (the report says why; nothing filed) or `package_unreadable`.
    `async=true`: 202 at once with a job (stored, then checked and filed in the background, as the web
    UI's filing page does); poll GET /packages/jobs/{id} until `finished`; the one audit event is
    written when the job files or refuses the package."""
    async with stored_upload(request, ctx) as (package, filename):
        if async_:
            job_id = submit_job(request, ctx, principal, package, name or upload_name(filename))
            return JSONResponse(status_code=202, content=ctx.filing_jobs().get(job_id, principal),
                                headers={"Location": f"/packages/jobs/{job_id}"})  # fmt: skip
        filer = filer_for(request, ctx)
        who = f"{principal.kind}:{principal.name}"
        where = request.client.host if request.client else None

        def transaction(package_id: str, details: dict[str, Any]):  # type: ignore[no-untyped-def]
            return audited(ctx, request, f"/packages/{package_id}", details, fonds=next(iter(fonds_seen), None))

        fonds_seen: list[str] = []

        def allowed(fonds: str) -> None:
            check_fonds(principal, fonds)
            fonds_seen.append(fonds)

        def run() -> Any:
            try:
                return filer.file(package, who=who, where=where, name=name or filename or "package.zip",
                                  transaction=transaction, fonds_allowed=allowed)  # fmt: skip
            except PackageError as exc:
                raise InvalidInput(f"the package cannot be opened: {exc}", reason="package_unreadable") from exc

        outcome = await run_in_threadpool(run)
    request_audit(request).declare(package_id=outcome.package_id, duplicate=outcome.duplicate)
    return _answer(ctx, outcome.package_id, outcome.duplicate)


@router.get("/packages/jobs/{job_id}", response_model=FilingJobView)
def get_filing_job(
    job_id: str, ctx: Ctx, principal: Annotated[Principal, Depends(require("items:ingest"))]
) -> dict[str, Any]:  # fmt: skip
    """A background filing job (`POST /packages?async=true`): its stage and items checked of total; once
    `finished`, `package_id` (GET /packages/{id}: FILED or REJECTED and the report) or a FAILED job's `reason`."""
    return ctx.filing_jobs().get(job_id, principal)


def _load_package(ctx: NodeContext, principal: Principal, package_id: str) -> Package:
    with ctx.reader() as s:
        row = s.get(Package, package_id)
        if row is None:
            raise NotFound(f"no package {package_id}", reason="package_not_found")
        for fonds in json.loads(row.fonds or "[]"):
            check_fonds(principal, fonds)
        return row


@router.get("/packages", response_model=PackageList)
def list_packages(
    ctx: Ctx, principal: Annotated[Principal, Depends(require("items:read"))], status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Offset = 0,
) -> dict[str, Any]:  # fmt: skip
    query = select(Package)
    if status is not None:
        query = query.where(Package.status == status.upper())
    with ctx.reader() as s:
        if principal.fonds is not None:  # a fonds-limited caller: count and page only its packages
            scope = principal.fonds
            ids = [pid for pid, fonds in s.execute(query.with_only_columns(Package.id, Package.fonds))
                   if set(json.loads(fonds or "[]")) <= scope]  # fmt: skip
            query = query.where(Package.id.in_(ids))
        total = s.scalar(select(func.count()).select_from(query.subquery()))
        rows = s.scalars(query.order_by(Package.created_at.desc(), Package.id).limit(limit).offset(offset)).all()
        return {"total": total, "packages": [package_view(r, with_report=False) for r in rows]}


@router.get("/packages/{package_id}", response_model=PackageView, responses=TEXT_REPORT)
def get_package(
    package_id: str, ctx: Ctx, principal: Annotated[Principal, Depends(require("items:read"))],
    format: str = "json",
) -> Response:  # fmt: skip
    """The package and its report; `?format=text` the readable report."""
    row = _load_package(ctx, principal, package_id)
    if format == "text":
        report = report_from_dict(json.loads(row.report_json))
        head = f"package {row.id}: {row.status} ({row.name}, digest {row.digest})\n"
        return PlainTextResponse(head + report.to_text() + "\n")
    with ctx.reader() as s:
        return JSONResponse({**package_view(row), "items": package_items(s, row.id)})


@router.get("/items/{item_id}/checks", response_model=ItemChecks, responses=TEXT_REPORT)
def get_item_checks(
    item_id: str, ctx: Ctx, principal: Annotated[Principal, Depends(require("items:read"))], format: str = "json"
) -> Response:
    """The item's four-properties check report at filing; `digest` is `checks_sha256` in its record."""
    with ctx.reader() as s:
        item = s.get(Item, item_id)
        if item is None:
            raise NotFound(f"no item {item_id}", reason="item_not_found")
        check_fonds(principal, item.fonds_code)
        row = s.get(ItemCheck, item_id)
        if row is None:
            raise NotFound(f"item {item_id} was not filed through a package: it has no check report",
                           reason="no_check_report")  # fmt: skip
        report = json.loads(row.report_json)
        if format == "text":
            return PlainTextResponse(report_from_dict({"package": "", "items": [report]}).items[0].to_text() + "\n")
        return JSONResponse({"item_id": item_id, "package_id": row.package_id, "digest": row.report_sha256,
                             "report": report})  # fmt: skip
