"""Long-term preservation checks over HTTP: run a pass now (anchor:run), read alerts and runs (status:read)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from node.audit.request import request_audit
from node.core.context import NodeContext
from node.core.deps import audit_as, get_ctx, require
from node.core.errors import NotFound
from node.core.models import PreservationRun
from node.core.principal import Principal
from node.core.types import Bool, QueryBool
from node.preservation.schemas import AlertList, RunList, RunReportAnswer, RunResult
from node.preservation.service import list_alerts, run_summary_fields, scoped_report

router = APIRouter(tags=["preservation"], prefix="/preservation")
Ctx = Annotated[NodeContext, Depends(get_ctx)]
StatusReader = Annotated[Principal, Depends(require("status:read"))]


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_start: Bool = False  # ignore the cursor and start at the first item
    max_items: int | None = Field(default=None, ge=1, le=10**9)
    max_seconds: float | None = Field(default=None, gt=0, le=86400 * 7, allow_inf_nan=False)


@router.post("/run", dependencies=[Depends(audit_as("preservation:run"))], response_model=RunResult)
async def run_now(
    request: Request, ctx: Ctx, principal: Annotated[Principal, Depends(require("anchor:run"))],
    body: RunRequest | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One pass now (from the cursor unless from_start), at the configured rate; the pass and each
    alert are audit events of their own, and the pass is a `preservation.run` record. A fonds-limited
    caller's pass checks only its fonds (and writes only to their logs), with a cursor of its own."""
    body = body or RunRequest()
    source_ip = request.client.host if request.client else None
    result = await run_in_threadpool(
        ctx.preserver().run, trigger="manual", principal=principal, source_ip=source_ip,
        from_start=body.from_start, max_items=body.max_items, max_seconds=body.max_seconds, fonds=principal.fonds,
        event=request_audit(request),
    )  # fmt: skip
    return result


@router.get("/alerts", response_model=AlertList)
def alerts(
    ctx: Ctx, principal: Annotated[Principal, Depends(require("status:read"))], all: QueryBool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:  # fmt: skip
    """Open alerts (all=true: resolved ones too), newest first."""
    with ctx.reader() as s:
        return {"alerts": list_alerts(s, open_only=not all, fonds=principal.fonds, limit=limit)}


@router.get("/runs", response_model=RunList)
def runs(ctx: Ctx, principal: StatusReader, limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> dict[str, Any]:
    """The newest passes; a fonds-limited caller sees those that checked its fonds, with its counts only."""
    found: list[dict[str, Any]] = []
    with ctx.reader() as s:
        query = select(PreservationRun).order_by(PreservationRun.started_at.desc())
        for r in s.scalars(query.limit(limit if principal.fonds is None else 50 * limit)):
            report = scoped_report(json.loads(r.report_json or "{}"), principal.fonds)
            if report is not None or (principal.fonds is None):
                found.append(run_summary_fields(r.id, r.trigger, r.started_at, r.finished_at, report or {},
                                                r.report_sha256))  # fmt: skip
            if len(found) >= limit:
                break
        return {"runs": found}


@router.get("/runs/{run_id}", response_model=RunReportAnswer)
def run_report(run_id: str, ctx: Ctx, principal: StatusReader) -> dict[str, Any]:
    """The full report of a pass; SHA-256 of its RFC 8785 bytes is the `preservation.run` record's content_sha256.
    A fonds-limited caller gets the report filtered to its fonds (`filtered: true`), 404 if it checked none."""
    with ctx.reader() as s:
        row = s.get(PreservationRun, run_id)
        report = scoped_report(json.loads(row.report_json or "{}"), principal.fonds) if row is not None else None
        if row is None or report is None:
            raise NotFound(f"no preservation run {run_id}", reason="run_not_found")
        return {"report": report, "report_sha256": row.report_sha256}
