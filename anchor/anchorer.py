"""Anchoring, crash-safe: checkpoints go PENDING -> SUBMITTED (raw tx stored before sending) ->
CONFIRMED, and every run first reconciles the database with the chain.

Reconcile also notices a chain that forgot (a reorg deeper than the confirmations, a dev chain reset,
validators restored from a backup): when the contract's head for a log is behind its CONFIRMED
checkpoints, or the block that anchored the newest one has another hash now, the lost checkpoints go
back to PENDING (a `ChainRollback` row, a warning, the `on_rollback` hook) and are anchored again at the
same sizes, so the proofs already handed out verify again.

Whatever point a process dies at (before signing, after storing the tx, after sending, before
confirmation), the next run finds the stored transaction, resends the very same bytes if the chain
lacks it, adopts checkpoints the contract already holds, and so ends with exactly one checkpoint on
chain per batch. Re-sending an identical checkpoint is a no-op in the contract, never a duplicate.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import ChainClient, SignedTx, decode_revert, translate_errors
from anchor.chain.contracts import ArchiveAnchor
from anchor.errors import AnchorBusy, ChainError, LogDiverged, NonceTooLow
from anchor.log import MerkleLog
from anchor.models import (
    ChainRollback,
    Checkpoint,
    CheckpointStatus,
    Lease,
    Log,
    Submission,
    SubmissionStatus,
    utcnow,
)

logger = logging.getLogger(__name__)

LEASE_NAME = "anchorer"
LEASE_TTL = timedelta(minutes=10)


@dataclass
class AnchorReport:
    """What one run did; printed by `archive-ledger anchor` and returned by POST /anchor."""

    reconciled: list[str] = field(default_factory=list)
    submitted: dict[str, Any] | None = None
    confirmed: list[str] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    rollbacks: list[dict[str, Any]] = field(default_factory=list)  # confirmed checkpoints the chain lost

    def to_dict(self) -> dict[str, Any]:
        return {
            "reconciled": self.reconciled,
            "submitted": self.submitted,
            "confirmed": self.confirmed,
            "checkpoints": self.checkpoints,
            "rollbacks": self.rollbacks,
        }


def rollback_view(row: ChainRollback, fonds_code: str) -> dict[str, Any]:
    """A detected loss as GET /status, the audit event and the anchor report show it."""
    return {
        "fonds": fonds_code,
        "detected_at": _naive_utc(row.detected_at).isoformat() if row.detected_at else None,
        "chain_size": row.chain_size,
        "lost_sizes": [int(x) for x in row.lost_sizes.split(",") if x],
        "lost_checkpoints": row.lost_count,
        "tx_hashes": [x for x in row.tx_hashes.split(",") if x],
        "reason": row.reason,
        "reanchored_at": _naive_utc(row.reanchored_at).isoformat() if row.reanchored_at else None,
    }


def _owner_alive(owner: str) -> bool:
    """A lease held by a dead process on this host (killed mid-run) is stale at once."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _hex(value: Any) -> str:
    raw = bytes(value) if isinstance(value, bytes | bytearray) else bytes.fromhex(str(value).removeprefix("0x"))
    return "0x" + raw.hex()


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


class Anchorer:
    """Anchors every log with new records in one `anchorMany` transaction."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: ChainClient,
        account: Any,
        contract_address: str,
        *,
        confirmations: int,
        wait_timeout_s: float,
        on_rollback: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.account = account
        self.anchor = ArchiveAnchor(client, contract_address)
        self.contract = self.anchor.contract  # the web3 contract (tests read its counters)
        self.contract_address = self.anchor.address
        self.confirmations = confirmations
        self.wait_timeout_s = wait_timeout_s
        self.on_rollback = on_rollback  # e.g. the node's audit event; called after the loss is recorded
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"

    # -- the lease ----------------------------------------------------------------------------
    @contextmanager
    def lease(self) -> Iterator[None]:
        now = _naive_utc(utcnow())
        with self.sessions() as s, s.begin():
            row = s.get(Lease, LEASE_NAME)
            if row is None:
                s.add(Lease(name=LEASE_NAME, owner=self.owner, expires_at=now + LEASE_TTL))
            elif row.owner != self.owner and _naive_utc(row.expires_at) > now and _owner_alive(row.owner):
                raise AnchorBusy(f"anchoring is already running ({row.owner}); try again shortly")
            else:
                row.owner, row.expires_at = self.owner, now + LEASE_TTL
        try:
            yield
        finally:
            with self.sessions() as s, s.begin():
                row = s.get(Lease, LEASE_NAME)
                if row is not None and row.owner == self.owner:
                    s.delete(row)

    # -- one run ------------------------------------------------------------------------------
    def run(self, *, wait: bool = True) -> AnchorReport:
        """Reconcile, submit one checkpoint per log with new records, and (if asked) confirm."""
        report = AnchorReport()
        # The chain client maps network failures to ChainUnavailable where it talks to the node; this
        # is the net under it, so no raw connection error ever leaves a run (POST /anchor answers 503).
        with translate_errors(self.client.where), self.lease():
            self.reconcile(report)
            submission_id = self.submit(report)
            if submission_id is not None and wait:
                self.confirm(submission_id, report)
        return report

    # -- reconcile ----------------------------------------------------------------------------
    def reconcile(self, report: AnchorReport | None = None) -> None:
        report = report if report is not None else AnchorReport()
        with self.sessions() as s, s.begin():
            in_flight = list(
                s.scalars(
                    select(Submission)
                    .where(Submission.status == SubmissionStatus.SUBMITTED)
                    .order_by(Submission.id)
                )
            )
        for sub in in_flight:
            self._reconcile_submission(sub.id, report)
        lost: list[dict[str, Any]] = []
        hashes: dict[int, str | None] = {}  # block number -> hash now; one anchorMany serves many logs
        with self.sessions() as s, s.begin():
            for log in MerkleLog(s).all_logs():
                size, root, block = self.anchor.latest(log.log_id)
                loss = self._detect_rollback(s, log, size, bytes(root), report, hashes)
                if loss is not None:
                    lost.append(loss)
                self._adopt_chain_head(s, log, size, bytes(root), block, report)
        if lost:
            # Our own transactions after the lost block are gone too: take nonces from the chain again.
            self.client.nonce_manager(self.account.address).resync()
        for loss in lost:  # recorded (committed) first, so a failing hook never hides the loss
            report.rollbacks.append(loss)
            if self.on_rollback is not None:
                try:
                    self.on_rollback(loss)
                except Exception:
                    logger.exception("recording the chain rollback of fonds %s failed", loss["fonds"])

    def _detect_rollback(
        self, s: Session, log: Log, head_size: int, head_root: bytes, report: AnchorReport,
        hashes: dict[int, str | None],
    ) -> dict[str, Any] | None:
        """Whether the chain still holds the log's CONFIRMED checkpoints; if not, put the lost ones
        back to PENDING (re-anchored by the next submit) and record the loss."""
        confirmed = select(Checkpoint).where(
            Checkpoint.log_pk == log.id, Checkpoint.status == CheckpointStatus.CONFIRMED
        )  # only the newest and those above the chain's head are read, not the log's whole history
        newest = s.scalar(confirmed.order_by(Checkpoint.tree_size.desc()).limit(1))
        if newest is None:
            return None
        lost = list(s.scalars(confirmed.where(Checkpoint.tree_size > head_size).order_by(Checkpoint.tree_size)))
        reason: str  # why they are lost, once some are
        if lost:
            reason = (
                f"the contract's head for fonds {log.fonds_code} is at size {head_size}, behind its confirmed "
                f"checkpoint at size {newest.tree_size}"
            )
        else:
            sub = newest.submission
            if sub is not None and sub.block_number is not None:
                if sub.block_number not in hashes:
                    hashes[sub.block_number] = self.client.block_hash(sub.block_number)
                now = hashes[sub.block_number]
                if sub.block_hash is None:  # confirmed before block hashes were kept (migration 0007)
                    sub.block_hash = now
                if now != sub.block_hash:
                    held = self.anchor.root_at(log.log_id, newest.tree_size)
                    if held == newest.root:  # mined again in another block: still anchored, note where
                        block = self.anchor.anchored_at_block(log.log_id, newest.tree_size)
                        sub.block_number, sub.block_hash = block, self.client.block_hash(block)
                        report.reconciled.append(f"{sub.tx_hash}: re-mined in block {block}")
                        logger.warning("anchor transaction %s moved to block %s (chain reorganised)",
                                       sub.tx_hash, block)  # fmt: skip
                        return None
                    lost = [newest]
                    reason = (
                        f"block {sub.block_number} that anchored fonds {log.fonds_code} at size "
                        f"{newest.tree_size} now has hash {now or 'none'} (was {sub.block_hash})"
                    )
        if not lost:
            at_head = s.scalar(confirmed.where(Checkpoint.tree_size == head_size))
            if at_head is not None and at_head.root != head_root:
                raise LogDiverged(
                    f"the chain holds root {head_root.hex()} for fonds {log.fonds_code} at size {head_size}, "
                    f"but this node confirmed {at_head.root.hex()}: point the node at the right chain/contract"
                )
            return None
        subs = {cp.submission for cp in lost if cp.submission is not None}
        for sub in subs:
            sub.status = SubmissionStatus.FAILED
            sub.error = f"lost in a chain rollback: {reason}"
        for cp in lost:
            cp.status, cp.submission_id = CheckpointStatus.PENDING, None
        row = ChainRollback(
            log_pk=log.id,
            chain_size=head_size,
            lost_sizes=",".join(str(cp.tree_size) for cp in lost),
            lost_count=len(lost),
            reason=reason,
            tx_hashes=",".join(sorted(sub.tx_hash for sub in subs)),
        )
        s.add(row)
        s.flush()
        logger.warning(
            "CHAIN ROLLBACK: %d confirmed checkpoint(s) of fonds %s (sizes %s) are no longer on chain (%s); "
            "anchoring them again", len(lost), log.fonds_code, row.lost_sizes, reason,
        )  # fmt: skip
        report.reconciled.append(f"{log.fonds_code}: {len(lost)} checkpoint(s) lost in a chain rollback")
        return rollback_view(row, log.fonds_code)

    def _reconcile_submission(self, submission_id: int, report: AnchorReport) -> None:
        with self.sessions() as s, s.begin():
            sub = s.get(Submission, submission_id)
            assert sub is not None
            receipt = self.client.receipt(sub.tx_hash)
            if receipt is None and not self.client.transaction_known(sub.tx_hash):
                if sub.raw_tx is None:
                    self._fail(s, sub, "transaction unknown to the chain and no signed copy kept")
                    report.reconciled.append(f"{sub.tx_hash}: dropped")
                    return
                try:
                    self.client.broadcast(SignedTx(sub.raw_tx, sub.tx_hash, sub.nonce or 0, sub.sender))
                    report.reconciled.append(f"{sub.tx_hash}: re-sent")
                except NonceTooLow as e:
                    # Its nonce went to another transaction: this one can never be mined. The reason names
                    # the nonce and the key, so the operator can find the transaction that took it.
                    self._fail(s, sub, f"{e}; checkpoints rebuilt")
                    report.reconciled.append(f"{sub.tx_hash}: replaced")
                return
            if receipt is None:
                return
            if receipt["status"] != 1:
                name, args = decode_revert(self.client.revert_data(sub.tx_hash, receipt), self.contract.abi)
                self._fail(s, sub, f"reverted: {name or 'unknown reason'}{tuple(args) if args else ''}")
                report.reconciled.append(f"{sub.tx_hash}: reverted")
                return
            if self.client.confirmations_of(receipt) >= self.confirmations:
                self._mark_confirmed(s, sub, receipt)
                report.reconciled.append(f"{sub.tx_hash}: confirmed")

    def _fail(self, s: Session, sub: Submission, reason: str) -> None:
        logger.warning("anchor transaction %s failed: %s", sub.tx_hash, reason)
        sub.status, sub.error = SubmissionStatus.FAILED, reason
        for cp in s.scalars(select(Checkpoint).where(Checkpoint.submission_id == sub.id)):
            s.delete(cp)  # rebuilt from the log on the next submit

    def _mark_confirmed(self, s: Session, sub: Submission, receipt: Any) -> None:
        sub.status = SubmissionStatus.CONFIRMED
        sub.block_number = int(receipt["blockNumber"])
        sub.block_hash = _hex(receipt["blockHash"])
        sub.gas_used = int(receipt["gasUsed"])
        sub.confirmed_at = utcnow()
        sub.raw_tx = None
        logs = set()
        for cp in s.scalars(select(Checkpoint).where(Checkpoint.submission_id == sub.id)):
            cp.status = CheckpointStatus.CONFIRMED
            logs.add(cp.log_pk)
        self._close_rollbacks(s, logs)

    @staticmethod
    def _close_rollbacks(s: Session, log_pks: set[int]) -> None:
        """A log's losses are repaired once none of its checkpoints waits to be anchored again."""
        s.flush()
        for log_pk in log_pks:
            waiting = s.scalar(
                select(func.count()).where(Checkpoint.log_pk == log_pk, Checkpoint.status == CheckpointStatus.PENDING)
            )
            if waiting:
                continue
            for row in s.scalars(
                select(ChainRollback).where(ChainRollback.log_pk == log_pk, ChainRollback.reanchored_at.is_(None))
            ):
                row.reanchored_at = utcnow()
                logger.warning("fonds %s: the checkpoints lost in a chain rollback are anchored again",
                               row.log.fonds_code)  # fmt: skip

    def _adopt_chain_head(
        self, s: Session, log: Log, size: int, root: bytes, block: int, report: AnchorReport
    ) -> None:
        """If the contract holds a newer checkpoint than we know of, it must be ours: adopt it."""
        if size == 0:
            return
        known = s.scalar(select(Checkpoint).where(Checkpoint.log_pk == log.id, Checkpoint.tree_size == size))
        if known is not None and known.status == CheckpointStatus.CONFIRMED:
            return
        if known is not None and known.status == CheckpointStatus.SUBMITTED:
            return  # its own submission is still being confirmed
        if size > log.size or MerkleLog(s).root(log, size) != bytes(root):
            raise LogDiverged(
                f"the chain holds checkpoint (size {size}, root {bytes(root).hex()}) for fonds "
                f"{log.fonds_code} that this database cannot reproduce: restore the database from a "
                "backup that includes it, or point the node at the right chain/contract"
            )
        tx_hash = self._find_anchor_tx(log.log_id, size, block)
        sub = s.scalar(select(Submission).where(Submission.tx_hash == tx_hash))
        if sub is None:
            sub = Submission(
                tx_hash=tx_hash,
                chain_id=self.client.profile.chain_id,
                contract=self.contract_address,
                status=SubmissionStatus.CONFIRMED,
            )  # its block and time are set below, as for a known one
            s.add(sub)
            s.flush()
        # (A transaction thought lost in a rollback that the chain mined again is confirmed after all.)
        sub.status, sub.error, sub.raw_tx = SubmissionStatus.CONFIRMED, None, None
        sub.block_number, sub.block_hash = block, self.client.block_hash(block)
        sub.confirmed_at = sub.confirmed_at or utcnow()
        if known is None:
            previous = self._last_anchored_size(s, log, below=size)
            known = Checkpoint(log_pk=log.id, tree_size=size, root=bytes(root), previous_size=previous)
            s.add(known)
        known.status, known.submission_id = CheckpointStatus.CONFIRMED, sub.id
        # Waiting checkpoints below the adopted one are covered by it (the chain holds a later root).
        for older in s.scalars(
            select(Checkpoint).where(
                Checkpoint.log_pk == log.id,
                Checkpoint.status == CheckpointStatus.PENDING,
                Checkpoint.tree_size < size,
            )
        ):
            s.delete(older)
        self._close_rollbacks(s, {log.id})
        report.reconciled.append(f"{log.fonds_code}@{size}: adopted from chain")

    def _find_anchor_tx(self, log_id: bytes, size: int, block: int) -> str:
        events = self.anchor.checkpoint_events(log_id, size, block, block)
        if not events:
            raise ChainError(f"no CheckpointAnchored event in block {block} for size {size}")
        return "0x" + bytes(events[0]["transactionHash"]).hex()

    @staticmethod
    def _last_anchored_size(s: Session, log: Log, *, below: int | None = None) -> int:
        query = select(func.max(Checkpoint.tree_size)).where(
            Checkpoint.log_pk == log.id,
            Checkpoint.status.in_([CheckpointStatus.SUBMITTED, CheckpointStatus.CONFIRMED]),
        )
        if below is not None:
            query = query.where(Checkpoint.tree_size < below)
        return s.scalar(query) or 0

    # -- submit -------------------------------------------------------------------------------
    def submit(self, report: AnchorReport | None = None) -> int | None:
        """Sign one anchorMany for every log with new records; store it, then send it."""
        report = report if report is not None else AnchorReport()
        signed: SignedTx | None = None
        try:
            with self.sessions() as s, s.begin():
                inputs, pending = self._new_checkpoints(s)
                if not inputs:
                    return None
                signed = self.client.prepare(self.account, self.anchor.anchor_many(inputs))
                # A dropped transaction (never on chain, no signed copy) is rebuilt byte for byte when
                # nothing changed since: the same hash, so its FAILED row is taken up again.
                sub = s.scalar(select(Submission).where(Submission.tx_hash == signed.tx_hash))
                if sub is None:
                    sub = Submission(tx_hash=signed.tx_hash)
                    s.add(sub)
                sub.raw_tx, sub.nonce, sub.sender = signed.raw, signed.nonce, self.account.address
                sub.chain_id, sub.contract = self.client.profile.chain_id, self.contract_address
                sub.status, sub.error = SubmissionStatus.SUBMITTED, None
                s.flush()
                for cp in pending:
                    cp.status, cp.submission_id = CheckpointStatus.SUBMITTED, sub.id
                submission_id = sub.id
        except BaseException:
            if signed is not None:
                self.client.release(signed)  # never stored, so never sent: its nonce is free again
            raise
        report.submitted = {
            "tx_hash": signed.tx_hash, "nonce": signed.nonce, "logs": len({log_id for log_id, *_ in inputs}),
        }  # fmt: skip
        report.checkpoints = [
            {"log_id": log_id.hex(), "tree_size": size, "root": root.hex()}
            for log_id, size, root, _ in inputs
        ]
        # Stored and committed: from here a crash is recovered by reconcile() re-sending the same bytes.
        self.client.broadcast(signed)
        return submission_id

    def _new_checkpoints(
        self, s: Session
    ) -> tuple[list[tuple[bytes, int, bytes, list[bytes]]], list[Checkpoint]]:
        """The checkpoints to anchor, in order, for each log: those lost in a chain rollback (kept
        PENDING at their old sizes, so proofs already handed out verify again), then one at the log's
        size if it has records past them. Logs with a checkpoint still in flight wait for it, since
        the next one must extend it. anchorMany accepts successive checkpoints of one log."""
        inputs: list[tuple[bytes, int, bytes, list[bytes]]] = []
        pending: list[Checkpoint] = []
        merkle = MerkleLog(s)
        in_flight = set(
            s.scalars(select(Checkpoint.log_pk).where(Checkpoint.status == CheckpointStatus.SUBMITTED))
        )
        for log in merkle.all_logs():
            if log.id in in_flight:
                continue
            previous = self._last_anchored_size(s, log)
            todo: list[Checkpoint] = []
            for cp in s.scalars(
                select(Checkpoint)
                .where(Checkpoint.log_pk == log.id, Checkpoint.status == CheckpointStatus.PENDING)
                .order_by(Checkpoint.tree_size)
            ):
                if previous < cp.tree_size <= log.size:
                    todo.append(cp)
                else:  # covered by an anchored checkpoint, or past the log (a stale row)
                    s.delete(cp)
            last = todo[-1].tree_size if todo else previous
            if log.size > last:
                cp = Checkpoint(
                    log_pk=log.id, tree_size=log.size, root=merkle.root(log), previous_size=previous,
                    status=CheckpointStatus.PENDING,
                )  # fmt: skip
                s.add(cp)
                todo.append(cp)
            before = previous
            for cp in todo:
                root = merkle.root(log, cp.tree_size)
                if root != cp.root:
                    raise LogDiverged(
                        f"fonds {log.fonds_code}: the log's root at size {cp.tree_size} is {root.hex()}, not the "
                        f"{cp.root.hex()} it had when first anchored: the database was altered"
                    )
                cp.previous_size = before
                inputs.append((log.log_id, cp.tree_size, root, merkle.consistency_proof(log, before, cp.tree_size)))
                pending.append(cp)
                before = cp.tree_size
        s.flush()
        return inputs, pending

    def confirm(self, submission_id: int, report: AnchorReport | None = None) -> None:
        report = report if report is not None else AnchorReport()
        with self.sessions() as s:
            tx_hash = s.get(Submission, submission_id).tx_hash  # type: ignore[union-attr]
        try:
            # (The client decodes a revert with the contract's ABI, registered when the contract was opened.)
            self.client.wait_confirmed(tx_hash, self.confirmations, self.wait_timeout_s)
        finally:
            self._reconcile_submission(submission_id, report)
        report.confirmed.append(tx_hash)
