"""Proof bundles: everything an auditor needs to check one record against the chain."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from anchor.errors import NotAnchoredYet
from anchor.log import MerkleLog
from anchor.models import Checkpoint, CheckpointStatus, Log
from verifier.bundle import Anchor, ProofBundle


def covering_checkpoint(
    session: Session, log: Log, leaf_index: int, against: Literal["first", "latest"] = "first"
) -> Checkpoint:
    """The first confirmed checkpoint that covers the leaf (its proof never changes) or the newest."""
    order = Checkpoint.tree_size.asc() if against == "first" else Checkpoint.tree_size.desc()
    cp = session.scalar(
        select(Checkpoint)
        .where(
            Checkpoint.log_pk == log.id,
            Checkpoint.status == CheckpointStatus.CONFIRMED,
            Checkpoint.tree_size > leaf_index,
        )
        .order_by(order)
        .limit(1)
    )
    if cp is None:
        raise NotAnchoredYet(
            f"record {leaf_index} of fonds {log.fonds_code} is not anchored yet: wait for the next "
            "checkpoint to be confirmed (or run `archive-ledger anchor`)"
        )
    return cp


def proof_bundle(
    session: Session, log: Log, leaf_index: int, against: Literal["first", "latest"] = "first"
) -> dict[str, Any]:
    merkle = MerkleLog(session)
    cp = covering_checkpoint(session, log, leaf_index, against)
    entry = merkle.entry(log, leaf_index)
    sub = cp.submission
    assert sub is not None and sub.block_number is not None
    return ProofBundle(
        record=merkle.record(log, leaf_index),
        leaf_hash=bytes(entry.leaf_hash),
        leaf_index=leaf_index,
        tree_size=cp.tree_size,
        inclusion_path=tuple(bytes(h) for h in merkle.inclusion_proof(log, leaf_index, cp.tree_size)),
        root=bytes(cp.root),
        log_id=bytes(log.log_id),
        anchor=Anchor(
            chain_id=sub.chain_id,
            contract=sub.contract,
            tx_hash=sub.tx_hash,
            block_number=sub.block_number,
        ),
    ).to_json()
