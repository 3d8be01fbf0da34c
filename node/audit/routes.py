"""The audit trail over HTTP (audit:read): events, export, verification."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from node.audit import service as audit
from node.audit.middleware import flush_anonymous
from node.audit.schemas import EXPORT_ANSWER, EventList, TrailReport
from node.core.context import NodeContext
from node.core.deps import get_ctx, require
from node.core.types import Seq

router = APIRouter(tags=["audit"], prefix="/audit", dependencies=[Depends(require("audit:read"))])
Ctx = Annotated[NodeContext, Depends(get_ctx)]


# -- routes ------------------------------------------------------------------------------------------
@router.get("/events", response_model=EventList)
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
    flush_anonymous(ctx)  # aggregated anonymous refusals pending in memory become events first
    with ctx.reader() as s:
        rows = audit.query_events(s, principal_id=principal_id, action=action, outcome=outcome, fonds=fonds,
                                  since=since, until=until, after_seq=after_seq, limit=limit)  # fmt: skip
        return {"events": [audit.event_view(r) for r in rows]}


@router.get("/export", response_class=Response, responses=EXPORT_ANSWER)
def export_events(
    ctx: Ctx, format: Literal["csv", "json"] = "json", since: str | None = None, until: str | None = None
) -> Response:
    """Every event (in a time window if given), as CSV or JSON, for archiving outside the node."""
    flush_anonymous(ctx)
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


@router.get("/verify", response_model=TrailReport)
def verify_trail(ctx: Ctx) -> dict[str, Any]:
    """Recompute the chain, match events and log records both ways, check checkpoint roots on chain."""
    # The anchored roots are read from the trust root's ArchiveAnchor (the config's for a pre-trust-root node).
    contract = ctx.trust_root.anchor_address if ctx.trust_root is not None else ctx.settings.contract_address
    reader = next(iter(ctx.chain_readers()), None) if contract else None
    chain_note = "chain not checked: the node's chain cannot be reached" if contract and reader is None else None
    with ctx.reader() as s:
        report = audit.verify_audit(s, reader, contract or None)
    if chain_note and not report.get("chain_error"):
        report["chain_error"] = chain_note
    return report
