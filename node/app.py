"""The node's HTTP API (FastAPI). Routes stay thin: parsing and status codes here, work elsewhere."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from anchor.anchorer import AnchorBusy, LogDiverged
from anchor.bundles import NotAnchoredYet, proof_bundle
from anchor.chain import Web3ChainReader
from anchor.errors import ChainUnavailable, LedgerError
from anchor.log import LogNotFound, MerkleLog
from anchor.models import Checkpoint, CheckpointStatus, Log, Submission
from node.context import NodeContext
from node.errors import NodeError, NotFound, Unauthorized
from node.ingest import file_item, find_duplicate, receive_upload
from node.models import Item
from node.settings import Settings
from verifier.certificate import issue_certificate
from verifier.verify import verify_bundle

logger = logging.getLogger(__name__)

_STATUS_BY_ERROR: list[tuple[type[Exception], int, str]] = [
    (NotAnchoredYet, 409, "not_anchored"),
    (AnchorBusy, 409, "anchor_busy"),
    (LogNotFound, 404, "log_not_found"),
    (ChainUnavailable, 503, "chain_unavailable"),
    (LogDiverged, 500, "log_diverged"),
]


def _error(status: int, reason: str, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": reason, "detail": detail})


def item_view(item: Item, log: Log | None = None) -> dict[str, Any]:
    return {
        "id": item.id,
        "fonds": item.fonds_code,
        "title": item.title,
        "category": item.category,
        "year": item.year,
        "retention": item.retention,
        "archival_code": item.archival_code,
        "metadata": json.loads(item.metadata_json),
        "content_sha256": item.content_sha256,
        "size": item.size,
        "filename": item.filename,
        "source_path": item.source_path,
        "leaf_index": item.leaf_index,
        "log_id": log.log_id.hex() if log else None,
        "created_at": item.created_at.isoformat(),
    }


class VerifyRequest(BaseModel):
    bundle: dict[str, Any]
    content_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    certificate: bool = False


def create_app(ctx: NodeContext, *, scheduler: bool = True) -> FastAPI:
    settings: Settings = ctx.settings

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
            sched.start()
        try:
            yield
        finally:
            if sched is not None:
                sched.shutdown(wait=False)
            ctx.close()

    app = FastAPI(
        title="archive-ledger node",
        version="0.1.0",
        description="Blockchain-anchored ledger for digital archives: ingest, proofs, verification.",
        lifespan=lifespan,
    )
    app.state.ctx = ctx

    @app.exception_handler(NodeError)
    async def _node_error(_req: Request, exc: NodeError) -> JSONResponse:
        return _error(exc.status_code, exc.reason, str(exc))

    @app.exception_handler(LedgerError)
    async def _ledger_error(_req: Request, exc: LedgerError) -> JSONResponse:
        for kind, status, reason in _STATUS_BY_ERROR:
            if isinstance(exc, kind):
                return _error(status, reason, str(exc))
        logger.error("request failed: %s", exc)
        return _error(500, "ledger_error", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _error(422, "invalid_input", problems)

    def require_api_key(request: Request) -> None:
        auth = request.headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
        if not key or not ctx.api_key_valid(key):
            raise Unauthorized("a valid API key is required (Authorization: Bearer <key>)")

    auth = [Depends(require_api_key)]

    def load_item(item_id: str) -> tuple[Item, Log]:
        with ctx.sessions() as s:
            item = s.get(Item, item_id)
            if item is None:
                raise NotFound(f"no item {item_id}", reason="item_not_found")
            return item, s.get(Log, item.log_pk)  # type: ignore[return-value]

    @app.get("/health", tags=["node"])
    def health() -> dict[str, Any]:
        with ctx.sessions() as s:
            s.execute(select(1))
        return {"status": "ok", "chain": ctx.chain_status(), "contract": settings.contract_address or None}

    @app.post("/items", tags=["items"], dependencies=auth, status_code=201)
    async def create_item(request: Request) -> JSONResponse:
        """Multipart upload: part `file` (the bytes) and part `metadata` (JSON). Streamed, never
        held in memory; a resent file (same fonds, bytes and source_path) returns the existing item."""
        declared = request.headers.get("content-length")
        if (
            declared
            and declared.isdigit()
            and int(declared) > settings.max_upload_bytes + settings.max_metadata_bytes
        ):
            return _error(413, "upload_too_large", f"upload exceeds {settings.max_upload_bytes} bytes")
        upload = await receive_upload(
            request.headers.get("content-type", ""),
            request.stream(),
            ctx.blobs,
            max_file=settings.max_upload_bytes,
            max_metadata=settings.max_metadata_bytes,
        )

        def persist() -> tuple[int, dict[str, Any]]:
            digest = upload.blob.commit()
            with ctx.sessions() as s, s.begin():
                dup = find_duplicate(s, upload.metadata, digest)
                if dup is not None:
                    return 200, {**item_view(dup, s.get(Log, dup.log_pk)), "duplicate": True}
                item = file_item(s, upload.metadata, digest, upload.blob.size, upload.filename)
                return 201, {**item_view(item, s.get(Log, item.log_pk)), "duplicate": False}

        try:
            status, body = await run_in_threadpool(persist)
        except BaseException:
            upload.blob.discard()
            raise
        return JSONResponse(status_code=status, content=body)

    @app.get("/items", tags=["items"], dependencies=auth)
    def list_items(
        fonds: str | None = None,
        category: str | None = None,
        year: int | None = None,
        content_sha256: str | None = None,
        source_path: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        query = select(Item)
        for column, value in (
            (Item.fonds_code, fonds), (Item.category, category), (Item.year, year),
            (Item.content_sha256, content_sha256), (Item.source_path, source_path),
        ):  # fmt: skip
            if value is not None:
                query = query.where(column == value)
        with ctx.sessions() as s:
            total = s.scalar(select(func.count()).select_from(query.subquery()))
            rows = s.scalars(query.order_by(Item.created_at, Item.id).limit(limit).offset(offset)).all()
            return {"total": total, "items": [item_view(i) for i in rows]}

    @app.get("/items/{item_id}", tags=["items"], dependencies=auth)
    def get_item(item_id: str) -> dict[str, Any]:
        item, log = load_item(item_id)
        return item_view(item, log)

    @app.get("/items/{item_id}/content", tags=["items"], dependencies=auth)
    def get_content(item_id: str) -> FileResponse:
        item, _ = load_item(item_id)
        path = ctx.blobs.path_for(item.content_sha256)
        if not path.exists():
            raise NotFound(f"the stored file of item {item_id} is missing", reason="blob_missing")
        return FileResponse(
            path,
            media_type="application/octet-stream",
            filename=item.filename or item.id,
            headers={"X-Content-SHA256": item.content_sha256},
        )

    @app.get("/items/{item_id}/proof", tags=["proofs"])
    def get_proof(item_id: str, against: Literal["first", "latest"] = "first") -> dict[str, Any]:
        """The proof bundle. 409 while no confirmed checkpoint covers the item."""
        with ctx.sessions() as s:
            item = s.get(Item, item_id)
            if item is None:
                raise NotFound(f"no item {item_id}", reason="item_not_found")
            return proof_bundle(s, s.get(Log, item.log_pk), item.leaf_index, against)  # type: ignore[arg-type]

    @app.get("/checkpoints", tags=["anchoring"], dependencies=auth)
    def list_checkpoints(
        fonds: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> dict[str, Any]:
        with ctx.sessions() as s:
            query = select(Checkpoint, Log, Submission).join(Log).outerjoin(Submission)
            if fonds is not None:
                query = query.where(Log.fonds_code == fonds)
            rows = s.execute(query.order_by(Checkpoint.id.desc()).limit(limit)).all()
            return {"checkpoints": [_checkpoint_view(cp, log, sub) for cp, log, sub in rows]}

    @app.get("/status", tags=["node"], dependencies=auth)
    def status() -> dict[str, Any]:
        with ctx.sessions() as s:
            logs = []
            for log in MerkleLog(s).all_logs():
                last = s.execute(
                    select(Checkpoint, Submission)
                    .outerjoin(Submission)
                    .where(Checkpoint.log_pk == log.id, Checkpoint.status == CheckpointStatus.CONFIRMED)
                    .order_by(Checkpoint.tree_size.desc())
                    .limit(1)
                ).first()
                anchored = last[0].tree_size if last else 0
                logs.append(
                    {
                        "fonds": log.fonds_code,
                        "log_id": log.log_id.hex(),
                        "size": log.size,
                        "anchored_size": anchored,
                        "pending_records": log.size - anchored,
                        "last_checkpoint": _checkpoint_view(last[0], log, last[1]) if last else None,
                    }
                )
        return {
            "logs": logs,
            "chain": ctx.chain_status(),
            "contract": settings.contract_address or None,
            "anchoring": {
                "enabled": settings.anchor_enabled,
                "interval_s": settings.anchor_interval_s,
                "consecutive_failures": ctx.schedule.failures,
                "last_error": ctx.schedule.last_error,
            },
        }

    @app.post("/anchor", tags=["anchoring"], dependencies=auth)
    def anchor_now() -> dict[str, Any]:
        """Checkpoint every log with new records now and wait for confirmation."""
        return ctx.anchor_now(wait=True).to_dict()

    @app.post("/verify", tags=["proofs"])
    def verify(body: VerifyRequest) -> dict[str, Any]:
        """Verify a proof bundle against this node's chain; optionally as a signed certificate."""
        try:
            reader = Web3ChainReader(ctx.chain().w3)
        except ChainUnavailable:
            reader = None
        result = verify_bundle(
            body.bundle,
            content_sha256=body.content_sha256.lower() if body.content_sha256 else None,
            chain=reader,
            confirmations=ctx.profile.confirmations,
            expected_chain_id=ctx.profile.chain_id,
            expected_contract=settings.contract_address or None,
        )
        answer: dict[str, Any] = {"result": result.to_dict()}
        if body.certificate:
            answer["certificate"] = issue_certificate(
                result,
                body.bundle,
                ctx.verifier_key,
                datetime.now(UTC),
                issuer=f"archive-ledger node {settings.host}",
            )
        return answer

    @app.get("/verifier/key", tags=["proofs"])
    def verifier_key() -> dict[str, str]:
        return {"algorithm": "Ed25519", "public_key": ctx.verifier_key.verify_key.encode().hex()}

    return app


def _checkpoint_view(cp: Checkpoint, log: Log, sub: Submission | None) -> dict[str, Any]:
    return {
        "fonds": log.fonds_code,
        "log_id": log.log_id.hex(),
        "tree_size": cp.tree_size,
        "previous_size": cp.previous_size,
        "root": cp.root.hex(),
        "status": cp.status.value,
        "tx_hash": sub.tx_hash if sub else None,
        "block_number": sub.block_number if sub else None,
        "chain_id": sub.chain_id if sub else None,
        "contract": sub.contract if sub else None,
    }
