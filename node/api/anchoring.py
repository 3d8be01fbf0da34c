"""Checkpoints, anchoring on demand, node status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, select

from anchor.anchorer import rollback_view
from anchor.log import MerkleLog
from anchor.models import ChainRollback, Checkpoint, CheckpointStatus, Log, Submission
from node.api.deps import get_ctx, require
from node.context import NodeContext
from node.preservation import existing_preserver, status_section

router = APIRouter()
Ctx = Annotated[NodeContext, Depends(get_ctx)]


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


@router.get("/checkpoints", tags=["anchoring"], dependencies=[Depends(require("status:read"))])
def list_checkpoints(
    ctx: Ctx, fonds: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    with ctx.reader() as s:
        query = select(Checkpoint, Log, Submission).join(Log).outerjoin(Submission)
        if fonds is not None:
            query = query.where(Log.fonds_code == fonds)
        rows = s.execute(query.order_by(Checkpoint.id.desc()).limit(limit)).all()
        return {"checkpoints": [checkpoint_view(cp, log, sub) for cp, log, sub in rows]}


@router.post("/anchor", tags=["anchoring"], dependencies=[Depends(require("anchor:run"))])
def anchor_now(ctx: Ctx) -> dict[str, Any]:
    """Checkpoint every log with new records now and wait for confirmation."""
    return ctx.anchor_now(wait=True).to_dict()


@router.get("/status", tags=["node"], dependencies=[Depends(require("status:read"))])
def status(ctx: Ctx) -> dict[str, Any]:
    settings = ctx.settings
    with ctx.reader() as s:
        logs = []
        last_rollback: tuple[ChainRollback, str] | None = None
        for log in MerkleLog(s).all_logs():
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
        preservation = status_section(s, existing_preserver(ctx), settings)  # long-term checks, open alerts
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
    }
