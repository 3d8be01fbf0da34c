"""Anchoring is crash-safe: whatever point the process dies at, the next run ends with exactly one
checkpoint on chain per batch, and nothing is lost. Runs on the in-process chain."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from eth_account import Account
from sqlalchemy import select

from anchor.anchorer import AnchorBusy, Anchorer
from anchor.chain.dev import fund_from_dev_account
from anchor.db import make_engine, make_session_factory, transaction
from anchor.deploy import deploy_for_tests
from anchor.errors import ChainUnavailable, TransactionTimeout
from anchor.log import MerkleLog
from anchor.models import Checkpoint, Submission, SubmissionStatus
from node.core.db import migrate
from verifier.records import log_id_for_fonds, new_record


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way handles it."""


@pytest.fixture
def env(tmp_path: Path, chain_client):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'node.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    account = Account.create()
    fund_from_dev_account(chain_client, account.address, 10**20)
    deployment, _officers = deploy_for_tests(chain_client, account)
    yield sessions, chain_client, account, deployment.anchor
    engine.dispose()


def make_anchorer(env) -> Anchorer:  # type: ignore[no-untyped-def]
    sessions, client, account, address = env
    return Anchorer(sessions, client, account, address, confirmations=1, wait_timeout_s=10)


def append(env, n: int, fonds: str = "Z001") -> None:  # type: ignore[no-untyped-def]
    with transaction(env[0]) as s:
        merkle = MerkleLog(s)
        for _ in range(n):
            size = merkle.get_or_create(fonds).size
            merkle.append(fonds, new_record(
                type="item.ingested", fonds=fonds, item_id=f"{size:032x}", content_sha256="00" * 32,
                size=1, metadata_sha256="11" * 32, time=datetime.now(UTC),
            ))  # fmt: skip


def on_chain(env, fonds: str = "Z001") -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(number of checkpoints the contract holds for the log, latest size)."""
    anchorer = make_anchorer(env)
    log_id = log_id_for_fonds(fonds)
    count = anchorer.contract.functions.checkpointCount(log_id).call()
    size, _root, _block = anchorer.contract.functions.latest(log_id).call()
    return count, size


def db_state(env) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    with env[0]() as s:
        return [
            (cp.tree_size, cp.status.value)
            for cp in s.scalars(select(Checkpoint).order_by(Checkpoint.tree_size))
        ]


def test_run_anchors_each_batch_once(env) -> None:  # type: ignore[no-untyped-def]
    append(env, 5)
    report = make_anchorer(env).run()
    assert report.submitted and report.confirmed
    append(env, 3)
    make_anchorer(env).run()
    assert make_anchorer(env).run().submitted is None  # nothing new
    assert on_chain(env) == (2, 8)
    assert db_state(env) == [(5, "CONFIRMED"), (8, "CONFIRMED")]


def test_many_logs_in_one_transaction_and_idle_logs_skipped(env) -> None:  # type: ignore[no-untyped-def]
    for fonds in ("Z001", "Z002", "Z003"):
        append(env, 2, fonds)
    report = make_anchorer(env).run()
    assert report.submitted["logs"] == 3
    append(env, 1, "Z002")
    report = make_anchorer(env).run()
    assert report.submitted["logs"] == 1 and report.checkpoints[0]["tree_size"] == 3
    assert on_chain(env, "Z001") == (1, 2) and on_chain(env, "Z002") == (2, 3)


@pytest.mark.parametrize("where", ["prepare", "broadcast", "wait_confirmed"])
def test_crash_at_any_point_then_resume(env, monkeypatch, where) -> None:  # type: ignore[no-untyped-def]
    """Die before storing the tx, after storing but before sending, after sending but before
    confirmation; the next run completes with one checkpoint per batch."""
    append(env, 4)
    client = env[1]
    original = getattr(type(client), where)

    def die(*_a, **_k):  # type: ignore[no-untyped-def]
        raise Crash(where)

    monkeypatch.setattr(type(client), where, die)
    with pytest.raises(Crash):
        make_anchorer(env).run()
    monkeypatch.setattr(type(client), where, original)

    # a new process (new Anchorer) takes over once the dead one's lease is released or expires
    _release_leases(env)
    append(env, 2)  # ingest went on meanwhile
    make_anchorer(env).run()
    make_anchorer(env).run()
    count, size = on_chain(env)
    expected = {"prepare": (1, 6), "broadcast": (2, 6), "wait_confirmed": (2, 6)}[where]
    assert (count, size) == expected
    assert all(status == "CONFIRMED" for _size, status in db_state(env))
    assert [s for s, _ in db_state(env)] == ([6] if where == "prepare" else [4, 6])


def test_stored_but_unsent_tx_is_resent_with_the_same_hash(env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    append(env, 3)
    client = env[1]
    original = type(client).broadcast
    monkeypatch.setattr(type(client), "broadcast", lambda *a, **k: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        make_anchorer(env).run()
    monkeypatch.setattr(type(client), "broadcast", original)
    with env[0]() as s:
        stored = s.scalar(select(Submission))
        assert stored.status == SubmissionStatus.SUBMITTED and stored.raw_tx
        tx_hash = stored.tx_hash
    assert client.receipt(tx_hash) is None  # never reached the chain
    _release_leases(env)
    report = make_anchorer(env).run()
    assert f"{tx_hash}: re-sent" in report.reconciled
    assert client.receipt(tx_hash)["status"] == 1
    assert on_chain(env) == (1, 3)


def test_chain_unreachable_then_catch_up(env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    append(env, 2)
    client = env[1]

    def down(*_a, **_k):  # type: ignore[no-untyped-def]
        raise ChainUnavailable("chain node at 127.0.0.1:8545 does not answer")

    monkeypatch.setattr(type(client), "prepare", down)
    with pytest.raises(ChainUnavailable):
        make_anchorer(env).run()
    append(env, 2)  # ingest is unaffected
    monkeypatch.undo()
    _release_leases(env)
    make_anchorer(env).run()
    assert on_chain(env) == (1, 4)


def test_confirmed_only_at_the_profile_depth(env) -> None:  # type: ignore[no-untyped-def]
    """confirmations=3: a checkpoint mined 1 and 2 blocks deep stays SUBMITTED (no proof is served
    from it, a reorg may still drop it); it turns CONFIRMED exactly at depth 3."""
    sessions, client, account, address = env
    tester = client.w3.provider.ethereum_tester  # py-evm mines only on transactions, or when told
    append(env, 3)
    anchorer = Anchorer(sessions, client, account, address, confirmations=3, wait_timeout_s=0.5)
    with pytest.raises(TransactionTimeout):
        anchorer.run()  # mined (1 confirmation), then waits for a depth no block brings
    assert db_state(env) == [(3, "SUBMITTED")]
    with env[0]() as s:
        sub = s.scalar(select(Submission))
        assert sub.status == SubmissionStatus.SUBMITTED and sub.block_number is None
    assert client.confirmations_of(client.receipt(sub.tx_hash)) == 1

    tester.mine_blocks(1)  # depth 2
    assert client.confirmations_of(client.receipt(sub.tx_hash)) == 2
    report = anchorer.run(wait=False)
    assert report.submitted is None and report.reconciled == []  # in flight: nothing new, not confirmed
    assert db_state(env) == [(3, "SUBMITTED")]

    tester.mine_blocks(1)  # depth 3
    report = anchorer.run(wait=False)
    assert report.reconciled == [f"{sub.tx_hash}: confirmed"]
    assert db_state(env) == [(3, "CONFIRMED")]
    with env[0]() as s:
        confirmed = s.scalar(select(Submission))
        assert confirmed.status == SubmissionStatus.CONFIRMED and confirmed.block_number is not None
        assert confirmed.block_hash == client.block_hash(confirmed.block_number)


def test_rollback_on_the_in_process_chain_is_reanchored_and_hooked(env) -> None:  # type: ignore[no-untyped-def]
    """The chain drops the block of a confirmed anchor (snapshot/revert): the next run reports it once
    through the hook, takes nonces from the chain again and anchors the same checkpoint again."""
    sessions, client, account, address = env
    tester = client.w3.provider.ethereum_tester
    append(env, 2)
    make_anchorer(env).run()
    snapshot = tester.take_snapshot()
    append(env, 2)
    seen: list[dict] = []
    anchorer = Anchorer(sessions, client, account, address, confirmations=1, wait_timeout_s=10, on_rollback=seen.append)
    anchorer.run()
    assert on_chain(env) == (2, 4)
    tester.revert_to_snapshot(snapshot)
    tester.mine_blocks(3)
    assert on_chain(env) == (1, 2)
    append(env, 1)  # ingest went on
    report = anchorer.run()
    assert [(loss["fonds"], loss["chain_size"], loss["lost_sizes"]) for loss in report.rollbacks] == [("Z001", 2, [4])]
    assert seen == report.rollbacks
    # the lost checkpoint at its old size (proofs handed out against it verify again), then the new records
    assert [cp["tree_size"] for cp in report.checkpoints] == [4, 5]
    assert on_chain(env) == (3, 5)
    assert db_state(env) == [(2, "CONFIRMED"), (4, "CONFIRMED"), (5, "CONFIRMED")]
    assert anchorer.run().rollbacks == [] and len(seen) == 1


def test_anchor_mined_again_in_another_block_is_followed(env) -> None:  # type: ignore[no-untyped-def]
    """The stored hash of the anchoring block no longer matches but the contract still holds the root
    (a reorg that re-mined the transaction): not a loss; the block is taken from the contract."""
    append(env, 2)
    make_anchorer(env).run()
    with transaction(env[0]) as s:
        sub = s.scalar(select(Submission))
        good_block, good_hash = sub.block_number, sub.block_hash
        sub.block_hash = "0x" + "ab" * 32
    report = make_anchorer(env).run()
    assert report.rollbacks == [] and f"{sub.tx_hash}: re-mined in block {good_block}" in report.reconciled
    with env[0]() as s:
        assert s.scalar(select(Submission)).block_hash == good_hash
    assert db_state(env) == [(2, "CONFIRMED")]


def test_reverted_submission_is_rebuilt(env) -> None:  # type: ignore[no-untyped-def]
    """If someone else's key is used (not an anchorer), the tx reverts; the node records why."""
    sessions, client, _account, address = env
    intruder = Account.create()
    fund_from_dev_account(client, intruder.address, 10**19)
    append(env, 2)
    anchorer = Anchorer(sessions, client, intruder, address, confirmations=1, wait_timeout_s=10)
    with pytest.raises(Exception, match="NotAnchorer"):
        anchorer.run()
    assert on_chain(env) == (0, 0)


def test_adopts_checkpoint_already_on_chain(env) -> None:  # type: ignore[no-untyped-def]
    """The DB lost track of a confirmed tx (e.g. restored from an older backup): adopt, not resend."""
    append(env, 3)
    make_anchorer(env).run()
    with transaction(env[0]) as s:
        original = [(sub.tx_hash, sub.block_number) for sub in s.scalars(select(Submission))]
        for cp in s.scalars(select(Checkpoint)):
            s.delete(cp)
        for sub in s.scalars(select(Submission)):
            s.delete(sub)
    report = make_anchorer(env).run()
    assert any("adopted" in line for line in report.reconciled)
    assert report.submitted is None
    assert db_state(env) == [(3, "CONFIRMED")] and on_chain(env) == (1, 3)
    with transaction(env[0]) as s:  # the adopted submission is the transaction that anchored it
        assert [(sub.tx_hash, sub.block_number) for sub in s.scalars(select(Submission))] == original
    assert original[0][0].startswith("0x") and len(original[0][0]) == 66


def test_one_writer_at_a_time(env) -> None:  # type: ignore[no-untyped-def]
    first = make_anchorer(env)
    with first.lease(), pytest.raises(AnchorBusy):
        make_anchorer(env).run()


def _release_leases(env) -> None:  # type: ignore[no-untyped-def]
    from anchor.models import Lease

    with transaction(env[0]) as s:
        s.query(Lease).delete()


# -- pure helpers: the rollback view and the lease owner check ----------------------------------------------


def test_rollback_view_shows_the_loss() -> None:
    from datetime import timedelta, timezone

    from anchor.anchorer import rollback_view
    from anchor.models import ChainRollback

    cest = timezone(timedelta(hours=2))
    row = ChainRollback(
        log_pk=1, detected_at=datetime(2026, 11, 29, 20, 30, tzinfo=cest), chain_size=4, lost_sizes="5,7",
        lost_count=2, reason="reorg", tx_hashes="0x" + "aa" * 32 + ",0x" + "bb" * 32, reanchored_at=None,
    )  # fmt: skip
    assert rollback_view(row, "Z001") == {
        "fonds": "Z001",
        "detected_at": "2026-11-29T18:30:00",
        "chain_size": 4,
        "lost_sizes": [5, 7],
        "lost_checkpoints": 2,
        "tx_hashes": ["0x" + "aa" * 32, "0x" + "bb" * 32],
        "reason": "reorg",
        "reanchored_at": None,
    }
    row.reanchored_at = datetime(2026, 11, 29, 19, 0, tzinfo=UTC)
    row.detected_at = None  # type: ignore[assignment]
    view = rollback_view(row, "Z001")
    assert view["reanchored_at"] == "2026-11-29T19:00:00" and view["detected_at"] is None


def test_owner_alive_only_judges_processes_on_this_host() -> None:
    import os
    import socket
    import subprocess
    import sys

    from anchor.anchorer import _owner_alive

    host = socket.gethostname()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: no process has this pid now
    assert _owner_alive(f"{host}:{gone.pid}:1") is False
    assert _owner_alive(f"other-host:{gone.pid}:1") is True  # cannot see another host's processes
    assert _owner_alive(f"{host}:not-a-pid:1") is True
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert _owner_alive(f"{host}:{live.pid}:{id(live)}") is True
        with pytest.raises(subprocess.TimeoutExpired):  # asking must not signal the lease holder
            live.wait(timeout=0.3)
    finally:
        live.kill()
        live.wait()
    assert _owner_alive(f"{host}:{os.getpid()}:1") is True


def test_anchor_report_dict_is_what_post_anchor_returns(env) -> None:  # type: ignore[no-untyped-def]
    append(env, 2)
    report = make_anchorer(env).run()
    assert report.to_dict() == {
        "reconciled": report.reconciled,
        "submitted": report.submitted,
        "confirmed": report.confirmed,
        "checkpoints": report.checkpoints,
        "rollbacks": [],
    }
    assert report.submitted is not None and report.checkpoints and report.confirmed
