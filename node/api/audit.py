"""The audit trail over HTTP (audit:read) and the middleware that makes every state-changing request
and every content access an audit event, whatever its outcome."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node import audit
from node.api.deps import Principal, get_ctx, require, route_actions
from node.api.types import Seq
from node.context import NodeContext

logger = logging.getLogger(__name__)

router = APIRouter(tags=["audit"], prefix="/audit", dependencies=[Depends(require("audit:read"))])
Ctx = Annotated[NodeContext, Depends(get_ctx)]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Public computations that change nothing (an outside auditor's verification) are not events.
NOT_AUDITED = frozenset({("POST", "/verify")})
AUDITED_READS = frozenset({"/items/{item_id}/content", "/audit/export"})
EVENT_NAMES = {"/auth/login": "auth:login", "/auth/logout": "auth:logout", "/me/password": "auth:password"}


def source_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@contextmanager
def audited(
    ctx: NodeContext, request: Request, principal: Principal | None, action: str, target: str,
    details: dict[str, Any] | None = None, fonds: str | None = None,
) -> Iterator[Session]:  # fmt: skip
    """A write transaction whose audit event (outcome ok) commits with it. If the block raises, the
    transaction rolls back and the middleware records the failure instead."""
    with ctx.sessions() as s, s.begin():
        yield s
        route = request.scope.get("route")
        base = {"method": request.method, "route": getattr(route, "path", request.url.path)}
        audit.record_event(s, principal, action, target, "ok", source_ip(request), {**base, **(details or {})},
                           fonds, default_fonds=ctx.settings.default_fonds)  # fmt: skip
        request.state.audit_recorded = True


def outcome_of(status: int) -> str:
    if status in (401, 403):
        return "denied"
    return "ok" if status < 400 else "failed"


class AuditMiddleware:
    """Pure ASGI (uploads stream through untouched). The event is written before the response starts,
    so a client never sees an answer whose event is not committed yet."""

    def __init__(self, app: ASGIApp, ctx: NodeContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        done = {"recorded": False}

        async def record(status: int) -> None:
            if done["recorded"]:
                return
            done["recorded"] = True
            if scope["state"].get("audit_recorded") or not self.audited(scope):
                return
            try:
                await run_in_threadpool(self.record, scope, status)
            except Exception:  # never turn an answer into a 500 because of the trail; but say so loudly
                logger.exception("could not write the audit event of %s %s", scope["method"], scope["path"])

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                await record(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException:
            await record(500)
            raise

    @staticmethod
    def audited(scope: Scope) -> bool:
        method = scope["method"]
        route = scope.get("route")
        template = getattr(route, "path", scope["path"])
        if (method, template) in NOT_AUDITED:
            return False
        return method in WRITE_METHODS or (method == "GET" and template in AUDITED_READS)

    def record(self, scope: Scope, status: int) -> None:
        state = scope["state"]
        route = scope.get("route")
        template = getattr(route, "path", None)
        actions = route_actions(route) if route is not None else []
        action = actions[0] if actions else EVENT_NAMES.get(template or "", f"http:{scope['method']}")
        details: dict[str, Any] = {"method": scope["method"], "route": template, "status": status}
        if state.get("error_reason"):
            details["reason"] = state["error_reason"]
        details.update(state.get("audit_details") or {})
        client = scope.get("client")
        with self.ctx.sessions() as s, s.begin():
            audit.record_event(
                s, state.get("principal"), action, scope["path"], outcome_of(status), client[0] if client else None,
                details, state.get("audit_fonds"), default_fonds=self.ctx.settings.default_fonds,
            )  # fmt: skip


# -- routes ------------------------------------------------------------------------------------------
@router.get("/events")
def list_events(
    ctx: Ctx,
    principal_id: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    fonds: str | None = None,
    since: Annotated[str | None, Query(description="ISO time, inclusive (UTC, e.g. 2026-11-25T08:00:00Z)")] = None,
    until: Annotated[str | None, Query(description="ISO time, exclusive")] = None,
    after_seq: Seq = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> dict[str, Any]:
    with ctx.reader() as s:
        rows = audit.query_events(s, principal_id=principal_id, action=action, outcome=outcome, fonds=fonds,
                                  since=since, until=until, after_seq=after_seq, limit=limit)  # fmt: skip
        return {"events": [audit.event_view(r) for r in rows]}


@router.get("/export")
def export_events(
    ctx: Ctx, format: Literal["csv", "json"] = "json", since: str | None = None, until: str | None = None
) -> Response:
    """Every event (in a time window if given), as CSV or JSON, for archiving outside the node."""
    with ctx.reader() as s:
        rows = audit.query_events(s, since=since, until=until, limit=None)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        if format == "csv":
            body, media = audit.to_csv(rows), "text/csv; charset=utf-8"
        else:
            import json

            body = json.dumps({"events": [audit.event_view(r) for r in rows]}, ensure_ascii=False, indent=1)
            media = "application/json"
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.{format}"'}
    )


@router.get("/verify")
def verify_trail(ctx: Ctx) -> dict[str, Any]:
    """Recompute the chain, match events and log records both ways, check checkpoint roots on chain."""
    reader = None
    chain_note = None
    if ctx.settings.contract_address:
        try:
            from anchor.chain import Web3ChainReader

            reader = Web3ChainReader(ctx.chain().w3)
        except Exception as exc:
            chain_note = f"chain not checked: {exc}"
    with ctx.reader() as s:
        report = audit.verify_audit(s, reader, ctx.settings.contract_address or None)
    if chain_note and not report.get("chain_error"):
        report["chain_error"] = chain_note
    return report
