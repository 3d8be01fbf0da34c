"""The preservation alerts page (issue 11, the archivist): open alerts (GET /preservation/alerts) with
their severity, item and reason, and "run checks now" (POST /preservation/run: the same route function,
so the same role, pass and audit events)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from node.core import web
from node.core.context import NodeContext
from node.core.deps import audit_as, get_ctx, require
from node.core.principal import Principal
from node.preservation import routes as api
from node.preservation.service import list_alerts

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(web.page_session), Depends(web.check_csrf)], tags=["pages"]
)
Ctx = Annotated[NodeContext, Depends(get_ctx)]
# Severity of an alert kind (node/preservation/service.py): the archive lost or changed something it must
# keep (critical), or a file may no longer be usable (warning).
CRITICAL = frozenset({"record_mismatch", "item_row_mismatch", "blob_missing", "content_mismatch", "log_root_mismatch"})


def severity(kind: str) -> str:
    return "critical" if kind in CRITICAL else "warning"


@router.get("/preservation-alerts")
def alerts(
    request: Request, ctx: Ctx, principal: Annotated[Principal, Depends(require("status:read"))],
    all: bool = False, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:  # fmt: skip
    """Open alerts, newest first (all=true: resolved ones too)."""
    with ctx.reader() as s:
        found = list_alerts(s, open_only=not all, fonds=principal.fonds, limit=limit)
    for alert in found:
        alert["severity"] = severity(alert["kind"])
    return web.render(request, "preservation/alerts.html", alerts=found, all=all,
                      may_run=principal.may("anchor:run"))  # fmt: skip


@router.post("/preservation-alerts/run", dependencies=[Depends(audit_as("preservation:run"))])
async def run_now(
    request: Request, ctx: Ctx, principal: Annotated[Principal, Depends(require("anchor:run"))]
) -> Response:  # fmt: skip
    """One pass now, from the cursor (POST /preservation/run with no body); its event is the pass's."""
    result = await api.run_now(request, ctx, principal, api.RunRequest())  # a pass already running: 409 page
    notice = "preservation.ran_new" if result.get("new_alerts") else "preservation.ran"
    return web.redirect("/preservation-alerts", notice)
