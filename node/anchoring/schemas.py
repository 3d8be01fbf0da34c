"""Response models of the anchoring routes (checkpoints, POST /anchor, GET /status)."""

from __future__ import annotations

from pydantic import Field

from node.core.schemas import Answer, ChainStatus
from node.preservation.schemas import PreservationStatus
from node.search.schemas import ExtractionStatus


class CheckpointView(Answer):
    """A checkpoint and (once submitted) the transaction that anchored it."""

    fonds: str
    log_id: str
    tree_size: int
    previous_size: int
    root: str
    status: str = Field(description="PENDING, SUBMITTED or CONFIRMED")
    tx_hash: str | None
    block_number: int | None
    block_hash: str | None
    chain_id: int | None
    contract: str | None


class CheckpointList(Answer):
    checkpoints: list[CheckpointView]


class Rollback(Answer):
    """Confirmed checkpoints a chain lost (a reorg or a reset), noticed on reconcile and anchored again."""

    fonds: str
    detected_at: str | None
    chain_size: int
    lost_sizes: list[int]
    lost_checkpoints: int
    tx_hashes: list[str]
    reason: str | None
    reanchored_at: str | None


class NewCheckpoint(Answer):
    log_id: str
    tree_size: int
    root: str


class Submission(Answer):
    tx_hash: str
    nonce: int
    logs: int


class AnchorReport(Answer):
    """What one anchoring run did (anchor/anchorer.py, AnchorReport)."""

    reconciled: list[str] = Field(description="transactions found confirmed on reconcile")
    submitted: Submission | None
    confirmed: list[str]
    checkpoints: list[NewCheckpoint]
    rollbacks: list[Rollback]


class LogStatus(Answer):
    fonds: str
    log_id: str
    size: int
    anchored_size: int
    pending_records: int
    lost_checkpoints: int
    chain_rollbacks: int
    last_checkpoint: CheckpointView | None


class AnchoringStatus(Answer):
    enabled: bool
    interval_s: float
    consecutive_failures: int
    last_error: str | None
    chain_rollbacks: int
    lost_checkpoints: int
    last_rollback: Rollback | None


class NodeStatus(Answer):
    logs: list[LogStatus]
    chain: ChainStatus
    contract: str | None
    anchoring: AnchoringStatus
    preservation: PreservationStatus
    extraction: ExtractionStatus
