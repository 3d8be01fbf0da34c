"""Web page of anchoring (issue 11): the checkpoint browser per fonds log (size, root, tx, block, time),
status:read as GET /checkpoints beside it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from anchor.models import Checkpoint, Log, Submission
from node.anchoring.routes import _scoped_logs, checkpoint_view
from node.core import web
from node.core.context import NodeContext
from node.core.deps import get_ctx, require
from node.core.principal import Principal

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(web.page_session), Depends(web.check_csrf)], tags=["pages"]
)
Ctx = Annotated[NodeContext, Depends(get_ctx)]
StatusReader = Annotated[Principal, Depends(require("status:read"))]
PAGE = 100


@router.get("/checkpoint-log")
def checkpoints(
    request: Request, ctx: Ctx, principal: StatusReader, fonds: Annotated[str, Query(max_length=80)] = "",
) -> Response:  # fmt: skip
    """The newest checkpoints, of one fonds log (an item log, or `<fonds>/audit`) or of all."""
    with ctx.reader() as s:
        logs = [log.fonds_code for log in s.scalars(_scoped_logs(select(Log), principal).order_by(Log.fonds_code))]
        query = _scoped_logs(select(Checkpoint, Log, Submission).join(Log).outerjoin(Submission), principal)
        if fonds:
            query = query.where(Log.fonds_code == fonds)
        rows = s.execute(query.order_by(Checkpoint.id.desc()).limit(PAGE)).all()
        shown = [{**checkpoint_view(cp, log, sub), "time": cp.created_at} for cp, log, sub in rows]
    return web.render(request, "anchoring/checkpoints.html", checkpoints=shown, logs=logs, fonds=fonds)
