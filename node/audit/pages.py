"""Web pages of the audit trail (issue 11): the trail browser (filter by actor, action, outcome, time;
newest first, paged) and "verify audit trail" with its result. audit:read, as GET /audit/*."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from node.audit import service as audit
from node.audit.middleware import flush_anonymous
from node.audit.routes import verify_trail
from node.core import web
from node.core.context import NodeContext
from node.core.deps import get_ctx, require
from node.core.models import AuditEvent
from node.users import service as users

router = APIRouter(
    include_in_schema=False,
    dependencies=[Depends(web.page_session), Depends(web.check_csrf), Depends(require("audit:read"))],
    tags=["pages"],
)
Ctx = Annotated[NodeContext, Depends(get_ctx)]
PAGE = 100
Filter = Annotated[str, Query(max_length=200)]


def _time(value: str) -> str | None:
    """A date or time from the filter form (2026-11-29 or 2026-11-29T08:00) as the trail's ISO form."""
    value = value.strip()
    if not value:
        return None
    return value + ("T00:00:00" if len(value) == 10 else "") + ("" if value.endswith("Z") else "Z")


@router.get("/audit-trail")
def trail(
    request: Request, ctx: Ctx, actor: Filter = "", action: Filter = "", outcome: Filter = "", since: Filter = "",
    until: Filter = "", page: Annotated[int, Query(ge=0, le=100000)] = 0,
) -> Response:  # fmt: skip
    """`actor`: a username (or a principal id, e.g. an API key's)."""
    flush_anonymous(ctx)  # aggregated anonymous refusals pending in memory become events first
    filters = {"actor": actor, "action": action, "outcome": outcome, "since": since, "until": until}
    with ctx.reader() as s:
        query = _filtered(s, filters).order_by(AuditEvent.seq.desc())
        rows = s.scalars(query.limit(PAGE + 1).offset(page * PAGE)).all()
        events = [_row(r) for r in rows[:PAGE]]
    return web.render(request, "audit/trail.html", events=events, filters=filters, outcomes=audit.OUTCOMES,
                      page=page, more=len(rows) > PAGE)  # fmt: skip


def _filtered(s: Any, filters: dict[str, str]) -> Any:
    query = select(AuditEvent)
    actor = filters["actor"].strip()
    if actor:
        user = users.by_username(s, actor)
        query = query.where(AuditEvent.principal_id == (user.id if user is not None else actor))
    if filters["action"].strip():
        query = query.where(AuditEvent.action == filters["action"].strip())
    if filters["outcome"] in audit.OUTCOMES:
        query = query.where(AuditEvent.outcome == filters["outcome"])
    if _time(filters["since"]):
        query = query.where(AuditEvent.time >= _time(filters["since"]))
    if _time(filters["until"]):
        query = query.where(AuditEvent.time < _time(filters["until"]))
    return query


@router.get("/audit-trail/export")
def export(
    ctx: Ctx, actor: Filter = "", action: Filter = "", outcome: Filter = "", since: Filter = "", until: Filter = "",
) -> Response:  # fmt: skip
    """The filtered events as CSV (GET /audit/export's columns), oldest first: an audited read like it."""
    flush_anonymous(ctx)
    filters = {"actor": actor, "action": action, "outcome": outcome, "since": since, "until": until}
    with ctx.reader() as s:
        body = audit.to_csv(s.scalars(_filtered(s, filters).order_by(AuditEvent.seq)).all())
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="audit-{stamp}.csv"'})  # fmt: skip


def _row(row: AuditEvent) -> dict[str, Any]:
    details = json.loads(row.details_json or "{}")
    return {
        "seq": row.seq, "time": row.time, "actor": row.principal_name or "", "kind": row.principal_kind or "",
        "action": row.action, "target": row.target, "outcome": row.outcome, "ip": row.source_ip or "",
        "reason": details.get("reason") or details.get("decision") or "",
        "details": json.dumps(details, ensure_ascii=False, sort_keys=True)[:400],
    }  # fmt: skip


@router.get("/audit-trail/verify")
def verify(request: Request, ctx: Ctx) -> Response:
    """GET /audit/verify's check (the chain, both ways, the anchored roots), shown as a page."""
    report = verify_trail(ctx)
    return web.render(request, "audit/verify.html", report=report)
