"""Checkpoints, anchoring on demand, node status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, select

from anchor.anchorer import rollback_view
from anchor.log import MerkleLog
from anchor.models import ChainRollback, Checkpoint, CheckpointStatus, Log, Submission
from node.anchoring.schemas import AnchorReport, CheckpointList, NodeStatus
from node.core.context import NodeContext
from node.core.deps import get_ctx, require, sees_log
from node.core.principal import Principal
from node.preservation.service import status_section
from node.search.extraction import status_section as extraction_section

router = APIRouter()
Ctx = Annotated[NodeContext, Depends(get_ctx)]
StatusReader = Annotated[Principal, Depends(require("status:read"))]


def checkpoint_view(cp: Checkpoint, log: Log, sub: Submission | None) -> dict[str, Any]:
    return {
        "fonds": log.fonds_code,
        "log_id": log.log_id.hex(),
        "tree_size": cp.tree_size,
        "previous_size": cp.previous_size,
        "root": cp.root.hex(),
        "status": cp.status.value,
        "tx_hash": sub.tx_hash if sub else None,
        "block_number": sub.block_number if sub else None,
        "block_hash": sub.block_hash if sub else None,
        "chain_id": sub.chain_id if sub else None,
        "contract": sub.contract if sub else None,
    }


def _scoped_logs(query: Any, principal: Principal) -> Any:
    """Only the logs of a fonds-limited principal's fonds (and their audit logs)."""
    if principal.fonds is None:
        return query
    codes = sorted(principal.fonds) + [f + "/audit" for f in sorted(principal.fonds)]
    return query.where(Log.fonds_code.in_(codes))


@router.get("/checkpoints", tags=["anchoring"], response_model=CheckpointList)
def list_checkpoints(
    ctx: Ctx, principal: StatusReader, fonds: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    with ctx.reader() as s:
        query = _scoped_logs(select(Checkpoint, Log, Submission).join(Log).outerjoin(Submission), principal)
        if fonds is not None:
            query = query.where(Log.fonds_code == fonds)
        rows = s.execute(query.order_by(Checkpoint.id.desc()).limit(limit)).all()
        return {"checkpoints": [checkpoint_view(cp, log, sub) for cp, log, sub in rows]}


@router.post("/anchor", tags=["anchoring"], response_model=AnchorReport)
def anchor_now(ctx: Ctx, principal: Annotated[Principal, Depends(require("anchor:run"))]) -> dict[str, Any]:
    """Checkpoint every log with new records now and wait for confirmation. (Anchoring is node-wide and
    adds no records; a fonds-limited caller is told only about its own fonds' checkpoints.)"""
    answer = ctx.anchor_now(wait=True).to_dict()
    if principal.fonds is not None:
        with ctx.reader() as s:
            mine = {log.log_id.hex() for log in s.scalars(_scoped_logs(select(Log), principal))}
        answer["checkpoints"] = [cp for cp in answer.get("checkpoints") or [] if cp.get("log_id") in mine]
        answer["reconciled"] = []  # transactions of the node's other fonds: not theirs to see
        answer["rollbacks"] = [r for r in answer.get("rollbacks") or [] if sees_log(principal, r.get("fonds", ""))]
        if answer.get("submitted"):
            answer["submitted"] = {**answer["submitted"], "logs": len(answer["checkpoints"])}
    return answer


@router.get("/status", tags=["node"], response_model=NodeStatus)
def status(ctx: Ctx, principal: StatusReader) -> dict[str, Any]:
    """The node's logs and schedules; a fonds-limited caller sees only its own fonds' logs and alerts."""
    settings = ctx.settings
    with ctx.reader() as s:
        logs = []
        last_rollback: tuple[ChainRollback, str] | None = None
        for log in MerkleLog(s).all_logs():
            if not sees_log(principal, log.fonds_code):
                continue
            last = s.execute(
                select(Checkpoint, Submission)
                .outerjoin(Submission)
                .where(Checkpoint.log_pk == log.id, Checkpoint.status == CheckpointStatus.CONFIRMED)
                .order_by(Checkpoint.tree_size.desc())
                .limit(1)
            ).first()
            anchored = last[0].tree_size if last else 0
            # Checkpoints the chain lost in a rollback wait as PENDING until anchored again.
            lost = s.scalar(
                select(func.count()).where(Checkpoint.log_pk == log.id, Checkpoint.status == CheckpointStatus.PENDING)
            )
            rollbacks = list(
                s.scalars(select(ChainRollback).where(ChainRollback.log_pk == log.id).order_by(ChainRollback.id))
            )
            if rollbacks and (last_rollback is None or rollbacks[-1].id > last_rollback[0].id):
                last_rollback = (rollbacks[-1], log.fonds_code)
            logs.append(
                {
                    "fonds": log.fonds_code,
                    "log_id": log.log_id.hex(),
                    "size": log.size,
                    "anchored_size": anchored,
                    "pending_records": log.size - anchored,
                    "lost_checkpoints": lost or 0,
                    "chain_rollbacks": len(rollbacks),
                    "last_checkpoint": checkpoint_view(last[0], log, last[1]) if last else None,
                }
            )
        last_rollback_view = rollback_view(*last_rollback) if last_rollback else None
        preservation = status_section(s, ctx.preserver_if_built(), settings, fonds=principal.fonds)  # open alerts
        extraction = extraction_section(s, ctx.extractor_if_built(), settings, ocr=ctx.ocr(), fonds=principal.fonds)
    return {
        "logs": logs,
        "chain": ctx.chain_status(),
        "contract": settings.contract_address or None,
        "anchoring": {
            "enabled": settings.anchor_enabled,
            "interval_s": settings.anchor_interval_s,
            "consecutive_failures": ctx.schedule.failures,
            "last_error": ctx.schedule.last_error,
            # A chain that forgot anchored checkpoints (reorg, reset): noticed on reconcile, anchored again.
            "chain_rollbacks": sum(log["chain_rollbacks"] for log in logs),
            "lost_checkpoints": sum(log["lost_checkpoints"] for log in logs),
            "last_rollback": last_rollback_view,
        },
        "preservation": preservation,
        "extraction": extraction,  # text extraction for search (issue 10)
    }
