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

from anchor.anchorer import AnchorBusy, LogDiverged
from anchor.bundles import NotAnchoredYet
from anchor.errors import ChainUnavailable, LedgerError
from anchor.log import LogNotFound
from node.anchoring import pages as anchoring_pages
from node.anchoring import routes as anchoring
from node.arrangement import routes as arrangement
from node.audit import middleware as audit_middleware
from node.audit import pages as audit_pages
from node.audit import routes as audit_api
from node.core import web
from node.core.context import NodeContext
from node.core.deps import error_response
from node.core.errors import NodeError, redact_paths
from node.core.limits import BodyLimit
from node.core.openapi import install_openapi
from node.filing import routes as packages
from node.ingest import routes as items
from node.lending import pages as lending_pages
from node.lending import routes as loans
from node.preservation import routes as preservation
from node.trust import root_routes as trust
from node.trust import routes as proofs
from node.users import auth_routes as auth
from node.users import pages as user_pages
from node.users import routes as users

logger = logging.getLogger(__name__)

_STATUS_BY_ERROR: list[tuple[type[Exception], int, str]] = [
    (NotAnchoredYet, 409, "not_anchored"),
    (AnchorBusy, 409, "anchor_busy"),
    (LogNotFound, 404, "log_not_found"),
    (ChainUnavailable, 503, "chain_unavailable"),
    (LogDiverged, 500, "log_diverged"),
]
_HTTP_REASONS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


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
        if sched is not None:
            sched.start()
        try:
            yield
        finally:
            if sched is not None:
                sched.shutdown(wait=False)
            audit_middleware.flush_anonymous(ctx)  # aggregated anonymous refusals still in memory
            ctx.close()

    app = FastAPI(
        title="archive-ledger node",
        version="0.1.0",
        description="Blockchain-anchored ledger for digital archives: ingest, proofs, verification.",
        lifespan=lifespan,
    )
    app.state.ctx = ctx

    def shown(exc: Exception) -> str:
        """An error's message without the server's absolute paths (relative to the data dir)."""
        return redact_paths(str(exc), settings.data_dir)

    @app.exception_handler(NodeError)
    async def _node_error(req: Request, exc: NodeError) -> JSONResponse:
        req.state.error_reason = exc.reason  # for the audit event of a refused request
        answer = error_response(exc.status_code, exc.reason, shown(exc))
        answer.headers.update(getattr(exc, "headers", None) or {})  # e.g. Retry-After of a 429
        return answer

    @app.exception_handler(LedgerError)
    async def _ledger_error(_req: Request, exc: LedgerError) -> JSONResponse:
        for kind, status, reason in _STATUS_BY_ERROR:
            if isinstance(exc, kind):
                return error_response(status, reason, shown(exc))
        logger.error("request failed: %s", exc)
        return error_response(500, "ledger_error", shown(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return error_response(422, "invalid_input", problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Unknown routes, wrong methods, unparsable bodies: the same {"error","detail"} body as the rest."""
        reason = _HTTP_REASONS.get(exc.status_code, f"http_{exc.status_code}")
        answer = error_response(exc.status_code, reason, str(exc.detail))
        answer.headers.update(exc.headers or {})
        return answer

    @app.get("/health", tags=["node"])
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
    # Every non-streaming body is capped and JSON parsed within bounds (node/core/limits.py); inside the
    # audit middleware, so a refusal is an event.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth)
    # Every state-changing request and every content access becomes an audit event (node/audit/service.py).
    app.add_middleware(audit_middleware.AuditMiddleware, ctx=ctx)
    # The web UI (issue 11): pages beside each slice's routes, same require() and audit path (node/core/web.py).
    for router in (user_pages.router, lending_pages.router, audit_pages.router, anchoring_pages.router):
        app.include_router(router)
    web.install(app)  # static files, security headers, HTML error pages for page requests
    install_openapi(app)  # error bodies, error statuses and multipart bodies in the spec (node/core/openapi.py)
    return app
