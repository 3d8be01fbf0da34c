"""The node's HTTP API (FastAPI): assembles the routers, error handling and the anchoring schedule."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.exceptions import HTTPException as StarletteHTTPException

from anchor.errors import LedgerError
from node.anchoring import pages as anchoring_pages
from node.anchoring import routes as anchoring
from node.arrangement import manage_pages as arrangement_manage
from node.arrangement import pages as arrangement_pages
from node.arrangement import routes as arrangement
from node.audit import middleware as audit_middleware
from node.audit import pages as audit_pages
from node.audit import routes as audit_api
from node.audit.request import note_refusal
from node.core import web
from node.core.context import NodeContext
from node.core.errors import answer, redact_paths
from node.core.limits import BodyLimit
from node.core.openapi import install_openapi
from node.core.schemas import Health
from node.filing import pages as filing_pages
from node.filing import routes as packages
from node.ingest import pages as item_pages
from node.ingest import routes as items
from node.lending import pages as lending_pages
from node.lending import routes as loans
from node.preservation import pages as preservation_pages
from node.preservation import routes as preservation
from node.search import pages as search_pages
from node.search import routes as search
from node.search import service as search_service
from node.statistics import pages as statistics_pages
from node.trust import pages as verify_pages
from node.trust import root_routes as trust
from node.trust import routes as proofs
from node.users import auth_routes as auth
from node.users import pages as user_pages
from node.users import routes as users

logger = logging.getLogger(__name__)

# What the one error handler answers: our errors (LedgerError, NodeError's root too), the framework's refusals,
# and anything else (a bug: 500 internal_error, through Starlette's outermost middleware, which re-raises it
# for the server's log). Status and reason come from node/core/errors.py HTTP_ERRORS.
ANSWERED_ERRORS: tuple[type[Exception], ...] = (LedgerError, RequestValidationError, StarletteHTTPException, Exception)


def create_app(ctx: NodeContext, *, scheduler: bool = True) -> FastAPI:
    settings = ctx.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        sched: BackgroundScheduler | None = None
        if scheduler and settings.anchor_enabled and settings.contract_address:
            sched = BackgroundScheduler(daemon=True)
            # First run at once: reconcile with the chain on start (a crash may have left a tx in flight).
            sched.add_job(
                ctx.anchor_job, "interval", seconds=settings.anchor_interval_s, next_run_time=datetime.now(UTC),
                max_instances=1, coalesce=True, id="anchor",
            )  # fmt: skip
        if scheduler and settings.preservation_enabled:
            # Long-term preservation checks (node/preservation/service.py): first pass one interval after start.
            sched = sched or BackgroundScheduler(daemon=True)
            sched.add_job(
                ctx.preserver().job, "interval", seconds=settings.preservation_interval_s, max_instances=1,
                coalesce=True, id="preservation",
            )  # fmt: skip
        if scheduler and settings.extraction_enabled:
            # Text extraction for search (node/search/extraction.py): first pass at once (resumes after a crash).
            sched = sched or BackgroundScheduler(daemon=True)
            sched.add_job(
                ctx.extractor().job, "interval", seconds=settings.extraction_interval_s,
                next_run_time=datetime.now(UTC), max_instances=1, coalesce=True, id="extraction",
            )  # fmt: skip
        if scheduler and settings.search_enabled:
            # The search index catches up at once (after a crash or downtime), then every interval (node/search).
            sched = sched or BackgroundScheduler(daemon=True)
            sched.add_job(
                search_service.scheduled, "interval", args=[ctx], seconds=settings.search_interval_s,
                next_run_time=datetime.now(UTC), max_instances=1, coalesce=True, id="search",
            )  # fmt: skip
        if sched is not None:
            sched.start()
        ctx.filing_jobs().recover()  # filing jobs a stop interrupted: marked failed (node/filing/jobs.py)
        try:
            yield
        finally:
            if sched is not None:
                sched.shutdown(wait=False)
            audit_middleware.flush_anonymous(ctx)  # aggregated anonymous refusals still in memory
            search_service.flush_audit(ctx)  # aggregated searches still in memory
            ctx.close()

    app = FastAPI(
        title="archive-ledger node",
        version="0.1.0",
        description="Blockchain-anchored ledger for digital archives: ingest, proofs, verification.",
        lifespan=lifespan,
    )
    app.state.ctx = ctx

    async def error_answer(req: Request, exc: Exception) -> JSONResponse:
        """The one way an error becomes an answer: `{"error","detail"}` (ErrorBody), status and reason
        from node/core/errors.py, the server's absolute paths made relative to the data dir."""
        refusal = answer(exc)
        note_refusal(req, refusal.reason)  # for the audit event of a refused request
        if refusal.status >= 500 and isinstance(exc, LedgerError):
            logger.error("request failed: %s", exc)  # (any other exception: the server logs its traceback)
        body = {**refusal.body(), "detail": redact_paths(refusal.detail, settings.data_dir)}
        return JSONResponse(status_code=refusal.status, content=body, headers=refusal.headers or None)

    for kind in ANSWERED_ERRORS:
        app.add_exception_handler(kind, error_answer)

    @app.get("/health", tags=["node"], response_model=Health)
    def health() -> dict[str, Any]:
        with ctx.reader() as s:
            s.execute(select(1))
        return {"status": "ok", "chain": ctx.chain_status(), "contract": settings.contract_address or None}

    for router in (items.router, proofs.router, anchoring.router, auth.router, users.router, audit_api.router):
        app.include_router(router)
    app.include_router(loans.router)  # lending (issue 3)
    app.include_router(arrangement.router)  # volumes, boxes, moves, metadata versions (issue 4)
    app.include_router(preservation.router)  # long-term preservation checks (issue 4)
    app.include_router(packages.router)  # transfer packages and check reports (issue 4)
    app.include_router(trust.router)  # GET /trust: the node's trust root (issue 7)
    app.include_router(search.router)  # GET /search (issue 10)
    # Every non-streaming body is capped and JSON parsed within bounds (node/core/limits.py); inside the
    # audit middleware, so a refusal is an event.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth)
    # Every state-changing request and every content access becomes an audit event (node/audit/service.py).
    app.add_middleware(audit_middleware.AuditMiddleware, ctx=ctx)
    # The web UI (issue 11): pages beside each slice's routes, same require() and audit path (node/core/web.py).
    for router in (user_pages.router, lending_pages.router, audit_pages.router, anchoring_pages.router):
        app.include_router(router)
    for router in (search_pages.router, arrangement_pages.router, item_pages.router):  # borrowers' reading
        app.include_router(router)
    for router in (filing_pages.router, filing_pages.upload_router, arrangement_manage.router,
                   preservation_pages.router):  # the archivist's pages  # fmt: skip
        app.include_router(router)
    # the verify page (its upload router streams: no router-level CSRF, node/trust/pages.py) and 利用统计
    for router in (verify_pages.router, verify_pages.upload_router, statistics_pages.router):
        app.include_router(router)
    web.install(app)  # static files, security headers, HTML error pages for page requests
    install_openapi(app)  # error bodies, error statuses and multipart bodies in the spec (node/core/openapi.py)
    return app
