"""Web pages of filing (issue 11, the archivist): upload a transfer package, watch its checks run as a
background job (a progress bar polled with htmx), read the per-item report with its check codes, and
print it. Same limits, checks, role and audit event as POST /packages (node/filing/routes.py); the job
itself is node/filing/jobs.py.

The upload is the one page form that is not parsed by `web.check_csrf`: that would read the whole body
(the package) before the route runs. It streams like the API instead, and its CSRF token, a form field
placed before the file, is checked before the first byte of the package is written."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from node.core import web
from node.core.context import NodeContext
from node.core.deps import get_ctx, require
from node.core.errors import Forbidden
from node.core.principal import Principal
from node.filing.jobs import upload_name
from node.filing.routes import _load_package, stored_upload, submit_job
from node.filing.service import FILED

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(web.page_session), Depends(web.check_csrf)], tags=["pages"]
)
# The upload: the session, not check_csrf (the token is checked as the form streams in, see the module doc).
upload_router = APIRouter(include_in_schema=False, dependencies=[Depends(web.page_session)], tags=["pages"])
Ctx = Annotated[NodeContext, Depends(get_ctx)]
Filing = Annotated[Principal, Depends(require("items:ingest"))]
Reader = Annotated[Principal, Depends(require("items:read"))]


@router.get("/filing")
def filing(request: Request, ctx: Ctx, principal: Filing) -> Response:
    """The upload form and the caller's recent filing jobs."""
    return web.render(request, "filing/filing.html", jobs=ctx.filing_jobs().recent(principal),
                      max_mb=ctx.settings.max_upload_bytes // (1024 * 1024))  # fmt: skip


def _csrf_guard(request: Request, fields: dict[str, str]) -> Any:
    """check_csrf's rule for the streamed upload: a cookie session (or an anonymous form) must have sent
    the token before the file; a bearer caller without a cookie carries no ambient authority."""

    def check() -> None:
        if not request.cookies.get(web.SESSION_COOKIE) and request.headers.get("authorization"):
            return
        sent = fields.get(web.CSRF_FIELD)
        expected = web.csrf_token(request) if getattr(request.state, "session_token", None) else None
        if not sent or not expected or not hmac.compare_digest(sent, expected):
            raise Forbidden("the form's CSRF token is missing or wrong: reload the page and try again",
                            reason="csrf_failed")  # fmt: skip

    return check


@upload_router.post("/filing")
async def upload(request: Request, ctx: Ctx, principal: Filing) -> Response:
    """Store the package (streamed, bounded by the node's upload limit) and answer at once with its job's
    page; the checks and the filing run in the background (node/filing/jobs.py)."""
    fields: dict[str, str] = {}
    async with stored_upload(request, ctx, fields=fields, before_file=_csrf_guard(request, fields)) as (
        package, filename
    ):
        job_id = submit_job(request, ctx, principal, package, upload_name(filename))
    return web.redirect(f"/filing/jobs/{job_id}")


@router.get("/filing/jobs/{job_id}")
def job_page(job_id: str, request: Request, ctx: Ctx, principal: Filing) -> Response:
    """The job: its progress bar while it runs (polled), then its package's report."""
    job = ctx.filing_jobs().get(job_id, principal)
    package = _package(ctx, principal, job["package_id"]) if job["package_id"] else None
    return web.render(request, "filing/job.html", job=job, package=package)


@router.get("/filing/jobs/{job_id}/progress")
def job_progress(job_id: str, request: Request, ctx: Ctx, principal: Filing) -> Response:
    """The progress fragment htmx swaps in every second; once the job is done the page reloads (HX-Redirect)
    to show the report."""
    job = ctx.filing_jobs().get(job_id, principal)
    answer = web.render(request, "filing/progress.html", job=job)
    if job["finished"] and request.headers.get("hx-request"):
        answer.headers["HX-Redirect"] = f"/filing/jobs/{job_id}"
    return answer


@router.get("/filing/packages/{package_id}")
def package_page(package_id: str, request: Request, ctx: Ctx, principal: Reader) -> Response:
    """A package's report (GET /packages/{id}): per item its check codes, pass or fail."""
    return web.render(request, "filing/package.html", package=_package(ctx, principal, package_id))


@router.get("/filing/packages/{package_id}/print")
def package_print(package_id: str, request: Request, ctx: Ctx, principal: Reader) -> Response:
    """The report alone, laid out for paper."""
    return web.render(request, "filing/print.html", package=_package(ctx, principal, package_id))


def _package(ctx: NodeContext, principal: Principal, package_id: str) -> dict[str, Any]:
    """The package, its report and, per item of the report, what it became (archival code, item id)."""
    from node.filing.service import package_items, package_view

    row = _load_package(ctx, principal, package_id)
    with ctx.reader() as s:
        view = package_view(row)
        filed = package_items(s, row.id)
    by_path = {f["source_path"].split("/", 1)[-1]: f for f in filed}
    report = view["report"]
    items = []
    for item in report.get("items", []):
        results = item.get("results", [])
        items.append({
            "path": item["path"], "format": item.get("format"), "size": item.get("size"), "sha256": item.get("sha256"),
            "outcome": item.get("outcome"), "failed": [r for r in results if r["outcome"] == "fail"],
            "results": results, "filed": by_path.get(item["path"]),
        })  # fmt: skip
    return {**view, "filed": row.status == FILED, "items": items, "results": report.get("results", []),
            "blocking": report.get("blocking") or [], "summary": report.get("summary", {}),
            "process": {k: v for k, v in report.get("process", {}).items() if isinstance(v, str | int)}}
