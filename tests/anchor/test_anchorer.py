"""Anchoring is crash-safe: whatever point the process dies at, the next run ends with exactly one
checkpoint on chain per batch, and nothing is lost. Runs on the in-process chain."""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from eth_account import Account
from sqlalchemy import select

from anchor.anchorer import AnchorBusy, Anchorer, AnchorReport, LogDiverged
from anchor.chain import ChainClient
from anchor.chain.contracts import ArchiveRoles
from anchor.chain.dev import fund_from_dev_account
from anchor.db import make_engine, make_session_factory, transaction
from anchor.deploy import deploy_for_tests
from anchor.errors import ChainError, ChainUnavailable, TransactionTimeout
from anchor.log import MerkleLog
from anchor.models import ChainRollback, Checkpoint, CheckpointStatus, Submission, SubmissionStatus
from anchor.profiles import load_profile
from node.core.db import migrate
from verifier.records import log_id_for_fonds, new_record


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way handles it."""


class Deployed(NamedTuple):
    client: ChainClient
    account: Any  # the node key: deployer and anchorer
    deployment: Any
    officers: dict[str, Any]
    snapshot: int


@pytest.fixture(scope="module")
def deployed() -> Deployed:
    """One in-process chain with the contracts deployed, for the whole module: each test starts from the
    snapshot taken right after the deployment (a revert takes ~5 ms, a deployment ~0.4 s)."""
    client = ChainClient(load_profile("test"))
    account = Account.create()
    fund_from_dev_account(client, account.address, 10**20)
    deployment, officers = deploy_for_tests(client, account)
    return Deployed(client, account, deployment, officers, client.w3.provider.ethereum_tester.take_snapshot())


@pytest.fixture
def chain_client(deployed: Deployed) -> ChainClient:
    """This module's chain back at the deployment (instead of tests/conftest.py's fresh, empty one)."""
    tester = deployed.client.w3.provider.ethereum_tester
    tester.enable_auto_mine_transactions()  # a test that failed with mining off must not leave it so
    tester.revert_to_snapshot(deployed.snapshot)
    for nonces in deployed.client._nonce_managers.values():
        nonces.resync()
    return deployed.client


@pytest.fixture
def env(tmp_path: Path, chain_client: ChainClient, deployed: Deployed):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'node.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    yield sessions, chain_client, deployed.account, deployed.deployment.anchor
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


def test_anchor_mined_again_in_another_block_is_followed(env, caplog) -> None:  # type: ignore[no-untyped-def]
    """The stored hash of the anchoring block no longer matches but the contract still holds the root
    (a reorg that re-mined the transaction): not a loss; the block is taken from the contract."""
    append(env, 2)
    make_anchorer(env).run()
    with transaction(env[0]) as s:
        sub = s.scalar(select(Submission))
        good_block, good_hash = sub.block_number, sub.block_hash
        sub.block_hash = "0x" + "ab" * 32
    with caplog.at_level(logging.WARNING, logger="anchor.anchorer"):
        report = make_anchorer(env).run()
    assert report.rollbacks == [] and f"{sub.tx_hash}: re-mined in block {good_block}" in report.reconciled
    assert f"anchor transaction {sub.tx_hash} moved to block {good_block} (chain reorganised)" in [
        r.getMessage() for r in caplog.records if r.name == "anchor.anchorer"
    ]
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
    # The holder takes every signal's default action (a signal the check sent would end it), even when
    # this test runs under nohup (mutmut's runs): only signal 0, which asks and sends nothing, is allowed.
    holder = "import signal, time\nfor s in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):\n" \
        "    signal.signal(s, signal.SIG_DFL)\nprint('ready', flush=True)\ntime.sleep(30)"
    live = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    assert live.stdout is not None and live.stdout.readline() == "ready\n"
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


# == recovery paths, several databases on one chain ======================================================
# A transaction the chain never got and no signed copy, a nonce taken by another transaction, one still
# pending, one that reverted, a chain reorganisation that loses or re-mines an anchor, a checkpoint another
# copy of the node anchored meanwhile, and what each leaves in the database and the report (the mutation
# run, `make mutate`, only sees these in-process paths; against ganache see tests/test_chain_faults.py).


class Chain:
    """One deployed ArchiveAnchor on a py-evm chain, and any number of node databases anchoring to it."""

    def __init__(self, tmp_path: Path, client: ChainClient, deployed: Deployed) -> None:
        self.tmp, self.client = tmp_path, client
        self.tester = client.w3.provider.ethereum_tester
        self.account, self.deployment, self.officers = deployed.account, deployed.deployment, deployed.officers
        self.address = self.deployment.anchor
        self.engines: list[Any] = []

    def database(self, name: str = "node") -> Any:
        url = f"sqlite:///{self.tmp / (name + '.db')}"
        migrate(url)
        return self.open(name)

    def open(self, name: str) -> Any:
        engine = make_engine(f"sqlite:///{self.tmp / (name + '.db')}")
        self.engines.append(engine)
        return make_session_factory(engine)

    def copy(self, name: str = "node", to: str = "copy", *, never_anchored: bool = False) -> Any:
        """A copy of a node's database (a restored backup, a second copy of the node); `never_anchored`:
        without its checkpoints and submissions."""
        for engine in self.engines:
            engine.dispose()
        shutil.copy(self.tmp / f"{name}.db", self.tmp / f"{to}.db")
        copy = self.open(to)
        if never_anchored:
            with transaction(copy) as s:
                for row in (*s.scalars(select(Checkpoint)), *s.scalars(select(Submission))):
                    s.delete(row)
        return copy

    def second_anchorer_key(self) -> Any:
        """Another node key with the anchorer role (granted by the system admin, as in production)."""
        key = Account.create()
        fund_from_dev_account(self.client, key.address, 10**20)
        grant = ArchiveRoles(self.client, self.deployment.roles).grant_anchorer(key.address)
        self.client.wait_confirmed(self.client.send(self.officers["system_admin"], grant).tx_hash)
        return key

    def anchorer(self, sessions: Any, *, account: Any = None, **kw: Any) -> Anchorer:
        kw.setdefault("confirmations", 1)
        kw.setdefault("wait_timeout_s", 5)
        return Anchorer(sessions, self.client, account or self.account, self.address, **kw)


@pytest.fixture
def chain(tmp_path: Path, chain_client: ChainClient, deployed: Deployed):  # type: ignore[no-untyped-def]
    c = Chain(tmp_path, chain_client, deployed)
    yield c
    for engine in c.engines:
        engine.dispose()


def ingest(sessions: Any, n: int, fonds: str = "Z001") -> None:
    with transaction(sessions) as s:
        merkle = MerkleLog(s)
        for _ in range(n):
            size = merkle.get_or_create(fonds).size
            merkle.append(fonds, new_record(
                type="item.ingested", fonds=fonds, item_id=f"{size:032x}", content_sha256="00" * 32,
                size=1, metadata_sha256="11" * 32, time=datetime.now(UTC),
            ))  # fmt: skip


def checkpoints(sessions: Any, fonds: str | None = None) -> list[tuple[int, str]]:
    with sessions() as s:
        query = select(Checkpoint).order_by(Checkpoint.log_pk, Checkpoint.tree_size)
        return [
            (cp.tree_size, cp.status.value) for cp in s.scalars(query)
            if fonds is None or cp.log.fonds_code == fonds
        ]  # fmt: skip


def submissions(sessions: Any) -> list[Submission]:
    with sessions() as s:
        rows = list(s.scalars(select(Submission).order_by(Submission.id)))
        s.expunge_all()
        return rows


def rollbacks(sessions: Any) -> list[ChainRollback]:
    with sessions() as s:
        rows = list(s.scalars(select(ChainRollback).order_by(ChainRollback.id)))
        s.expunge_all()
        return rows


def held_on_chain(chain: Chain, fonds: str = "Z001") -> tuple[int, int]:
    """(checkpoints the contract holds for the log, its latest size)."""
    contract = chain.anchorer(None).contract
    log_id = log_id_for_fonds(fonds)
    return contract.functions.checkpointCount(log_id).call(), contract.functions.latest(log_id).call()[0]


def stored_not_sent(chain: Chain, anchorer: Anchorer, monkeypatch: pytest.MonkeyPatch) -> Submission:
    """Submit with the broadcast lost (the process died right after storing the signed transaction)."""
    with monkeypatch.context() as m:
        m.setattr(anchorer.client, "broadcast", lambda signed: None)
        anchorer.submit()
    (sub,) = submissions(anchorer.sessions)
    assert sub.status == SubmissionStatus.SUBMITTED and chain.client.receipt(sub.tx_hash) is None
    return sub


# -- submissions in flight ---------------------------------------------------------------------------------


def test_unknown_transaction_without_a_signed_copy_is_dropped_and_rebuilt(chain, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    db = chain.database()
    ingest(db, 3)
    anchorer = chain.anchorer(db)
    sub = stored_not_sent(chain, anchorer, monkeypatch)
    with transaction(db) as s:  # recorded before signed copies were kept: nothing to send again
        s.get(Submission, sub.id).raw_tx = None
    report = AnchorReport()
    with caplog.at_level(logging.WARNING, logger="anchor.anchorer"):
        anchorer.reconcile(report)
    assert [r.getMessage() for r in caplog.records if r.name == "anchor.anchorer"] == [
        f"anchor transaction {sub.tx_hash} failed: transaction unknown to the chain and no signed copy kept"
    ]
    assert report.reconciled == [f"{sub.tx_hash}: dropped"]
    (failed,) = submissions(db)
    assert failed.status == SubmissionStatus.FAILED
    assert failed.error == "transaction unknown to the chain and no signed copy kept"
    assert checkpoints(db) == []  # its checkpoint is rebuilt from the log by the next submit
    chain.client.nonce_manager(chain.account.address).resync()  # the dropped transaction's nonce is free
    report = anchorer.run()
    assert report.checkpoints[0]["tree_size"] == 3 and report.confirmed
    assert checkpoints(db) == [(3, "CONFIRMED")] and held_on_chain(chain) == (1, 3)
    # Rebuilt byte for byte (same nonce, same checkpoint): the same transaction, its row taken up again.
    (again,) = submissions(db)
    assert (again.id, again.tx_hash, again.error) == (sub.id, sub.tx_hash, None)
    assert again.status == SubmissionStatus.CONFIRMED


def test_nonce_taken_by_another_transaction_is_replaced(chain, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    db = chain.database()
    ingest(db, 2)
    anchorer = chain.anchorer(db)
    sub = stored_not_sent(chain, anchorer, monkeypatch)
    # Another transaction of the same key takes that nonce first (e.g. an operator's manual transfer).
    other = chain.account.sign_transaction({
        "to": chain.account.address, "value": 1, "gas": 21_000, "gasPrice": chain.client.w3.eth.gas_price,
        "nonce": sub.nonce, "chainId": chain.client.chain_id,
    })  # fmt: skip
    chain.client.w3.eth.send_raw_transaction(other.raw_transaction)
    report = AnchorReport()
    anchorer.reconcile(report)
    assert report.reconciled == [f"{sub.tx_hash}: replaced"]
    (failed,) = submissions(db)
    assert failed.status == SubmissionStatus.FAILED
    # The reason names the nonce and the key, so the operator can find the transaction that took it.
    assert failed.error.startswith(
        f"transaction {sub.tx_hash} was rejected, its nonce {sub.nonce} is already used by another transaction "
        f"of {chain.account.address} (node said: "
    ) and failed.error.endswith("; checkpoints rebuilt")
    assert sub.nonce > 0  # (a nonce of 0 would read the same with the stored nonce lost)
    assert checkpoints(db) == []
    report = anchorer.run()
    assert report.confirmed and checkpoints(db) == [(2, "CONFIRMED")] and held_on_chain(chain) == (1, 2)


def test_pending_transaction_is_left_alone_until_mined(chain) -> None:  # type: ignore[no-untyped-def]
    db = chain.database()
    ingest(db, 2)
    anchorer = chain.anchorer(db)
    chain.tester.disable_auto_mine_transactions()
    assert anchorer.run(wait=False).submitted is not None
    (sub,) = submissions(db)
    assert chain.client.transaction_known(sub.tx_hash) and chain.client.receipt(sub.tx_hash) is None
    report = AnchorReport()
    anchorer.reconcile(report)
    assert report.reconciled == [] and report.rollbacks == []  # in the pool: not re-sent, not failed
    assert checkpoints(db) == [(2, "SUBMITTED")] and submissions(db)[0].status == SubmissionStatus.SUBMITTED
    chain.tester.enable_auto_mine_transactions()  # mines the pool
    report = AnchorReport()
    anchorer.reconcile(report)
    assert report.reconciled == [f"{sub.tx_hash}: confirmed"]
    assert checkpoints(db) == [(2, "CONFIRMED")]


def test_reverted_transaction_fails_with_the_contract_error(chain, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Signed while the key could anchor (gas fixed, no estimate), mined after it could not: the
    receipt says reverted, the submission records the contract's error and its checkpoints are rebuilt."""
    db = chain.database()
    ingest(db, 2)
    intruder = Account.create()
    fund_from_dev_account(chain.client, intruder.address, 10**19)
    anchorer = chain.anchorer(db, account=intruder)
    prepare = ChainClient.prepare
    monkeypatch.setattr(
        anchorer.client, "prepare", lambda account, call: prepare(chain.client, account, call, gas=500_000)
    )
    sub = stored_not_sent(chain, anchorer, monkeypatch)
    report = AnchorReport()
    anchorer.reconcile(report)
    assert report.reconciled == [f"{sub.tx_hash}: re-sent"]
    assert chain.client.receipt(sub.tx_hash)["status"] == 0
    report = AnchorReport()
    anchorer.reconcile(report)
    assert report.reconciled == [f"{sub.tx_hash}: reverted"]
    (failed,) = submissions(db)
    assert failed.status == SubmissionStatus.FAILED
    assert failed.error.startswith("reverted: NotAnchorer(") and intruder.address in failed.error
    assert checkpoints(db) == [] and held_on_chain(chain) == (0, 0)


def test_transaction_reverted_without_a_reason_says_so(chain, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Out of gas: the replay gives no revert data, so there is no error name and no arguments to show."""
    db = chain.database()
    ingest(db, 2)
    anchorer = chain.anchorer(db)
    prepare = ChainClient.prepare
    monkeypatch.setattr(
        anchorer.client, "prepare", lambda account, call: prepare(chain.client, account, call, gas=30_000)
    )
    sub = stored_not_sent(chain, anchorer, monkeypatch)
    anchorer.reconcile(AnchorReport())  # re-sent, mined, out of gas
    assert chain.client.receipt(sub.tx_hash)["status"] == 0
    report = AnchorReport()
    anchorer.reconcile(report)
    assert report.reconciled == [f"{sub.tx_hash}: reverted"]
    (failed,) = submissions(db)
    assert (failed.status, failed.error) == (SubmissionStatus.FAILED, "reverted: unknown reason")


def test_confirm_waits_no_longer_than_the_anchorers_timeout(chain) -> None:  # type: ignore[no-untyped-def]
    db = chain.database()
    ingest(db, 2)
    anchorer = chain.anchorer(db, wait_timeout_s=0.25)
    chain.tester.disable_auto_mine_transactions()
    with pytest.raises(TransactionTimeout) as info:
        anchorer.run()
    (sub,) = submissions(db)
    assert str(info.value) == (
        f"transaction {sub.tx_hash} was not mined within 0.25 s; it may still be pending "
        "(it is safe to broadcast the same signed transaction again)"
    )
    assert checkpoints(db) == [(2, "SUBMITTED")]
    chain.tester.enable_auto_mine_transactions()
    anchorer.confirm(sub.id)  # without a report of its own
    assert checkpoints(db) == [(2, "CONFIRMED")]


def test_a_connection_lost_anywhere_in_a_run_names_the_chain_node(chain, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import requests

    db = chain.database()
    ingest(db, 2)
    anchorer = chain.anchorer(db)

    def lost(*_a: Any) -> Any:
        raise requests.exceptions.ConnectionError("connection reset")

    monkeypatch.setattr(anchorer.anchor, "latest", lost)  # a call the client does not wrap itself
    with pytest.raises(ChainUnavailable) as info:
        anchorer.run()
    assert str(info.value) == (
        f"chain node {chain.client.where} does not answer (ConnectionError); check that it is running "
        "and reachable (for the dev chain: `archive-ledger dev-chain status`)"
    )


def test_confirmed_submission_records_its_block_gas_and_drops_the_signed_copy(chain) -> None:  # type: ignore[no-untyped-def]
    db = chain.database()
    ingest(db, 2)
    report = chain.anchorer(db).run()
    (sub,) = submissions(db)
    receipt = chain.client.receipt(sub.tx_hash)
    assert report.confirmed == [sub.tx_hash] and report.reconciled == [f"{sub.tx_hash}: confirmed"]
    assert sub.status == SubmissionStatus.CONFIRMED and sub.raw_tx is None and sub.error is None
    assert (sub.block_number, sub.gas_used) == (receipt["blockNumber"], receipt["gasUsed"]) and sub.gas_used > 0
    assert sub.block_hash == "0x" + bytes(receipt["blockHash"]).hex() == chain.client.block_hash(sub.block_number)
    assert sub.confirmed_at is not None and sub.nonce is not None and sub.sender == chain.account.address


def test_confirmations_above_one_wait_for_depth_in_reconcile(chain) -> None:  # type: ignore[no-untyped-def]
    db = chain.database()
    ingest(db, 2)
    anchorer = chain.anchorer(db, confirmations=2)
    anchorer.run(wait=False)
    assert checkpoints(db) == [(2, "SUBMITTED")]
    assert anchorer.run(wait=False).reconciled == [] and checkpoints(db) == [(2, "SUBMITTED")]  # depth 1
    chain.tester.mine_blocks(1)
    assert anchorer.run(wait=False).reconciled == [f"{submissions(db)[0].tx_hash}: confirmed"]
    assert checkpoints(db) == [(2, "CONFIRMED")]


# -- the chain forgets ----------------------------------------------------------------------------------


def test_rollback_of_two_logs_is_recorded_row_by_row_and_repaired(chain, caplog) -> None:  # type: ignore[no-untyped-def]
    db = chain.database()
    ingest(db, 1, "A001")
    ingest(db, 1, "B001")
    anchorer = chain.anchorer(db)
    anchorer.run()
    snapshot = chain.tester.take_snapshot()
    ingest(db, 2, "A001")
    ingest(db, 1, "B001")
    anchorer.run()
    ingest(db, 1, "A001")
    anchorer.run()
    _kept, both, a_only = (sub.tx_hash for sub in submissions(db))  # A@1+B@1, then A@3+B@2, then A@4
    assert checkpoints(db) == [(1, "CONFIRMED"), (3, "CONFIRMED"), (4, "CONFIRMED"), (1, "CONFIRMED"), (2, "CONFIRMED")]
    chain.tester.revert_to_snapshot(snapshot)
    chain.tester.mine_blocks(3)

    seen: list[dict[str, Any]] = []

    def hook(loss: dict[str, Any]) -> None:
        seen.append(loss)
        raise RuntimeError("audit log unavailable")

    anchorer = chain.anchorer(db, on_rollback=hook)
    report = AnchorReport()
    with caplog.at_level(logging.WARNING, logger="anchor.anchorer"):
        anchorer.reconcile(report)
    # A failing hook is logged, never hides the loss, and every loss still reaches it.
    assert [loss["fonds"] for loss in seen] == ["A001", "B001"] and seen == report.rollbacks
    warnings = [r.getMessage() for r in caplog.records if r.name == "anchor.anchorer"]
    assert "recording the chain rollback of fonds A001 failed" in warnings
    assert "recording the chain rollback of fonds B001 failed" in warnings
    assert (
        "CHAIN ROLLBACK: 2 confirmed checkpoint(s) of fonds A001 (sizes 3,4) are no longer on chain (the contract's "
        "head for fonds A001 is at size 1, behind its confirmed checkpoint at size 4); anchoring them again"
    ) in warnings
    assert report.reconciled == [
        "A001: 2 checkpoint(s) lost in a chain rollback", "B001: 1 checkpoint(s) lost in a chain rollback",
    ]  # fmt: skip
    a, b = report.rollbacks
    assert (a["chain_size"], a["lost_sizes"], a["lost_checkpoints"], a["reanchored_at"]) == (1, [3, 4], 2, None)
    assert a["detected_at"] is not None and b["detected_at"] is not None
    assert (b["chain_size"], b["lost_sizes"], b["lost_checkpoints"]) == (1, [2], 1)
    assert a["tx_hashes"] == sorted([both, a_only]) and b["tx_hashes"] == [both]
    assert a["reason"] == ("the contract's head for fonds A001 is at size 1, behind its confirmed checkpoint at size 4")
    rows = rollbacks(db)
    assert [(r.lost_sizes, r.lost_count, r.chain_size, r.reanchored_at) for r in rows] == [
        ("3,4", 2, 1, None), ("2", 1, 1, None),
    ]  # fmt: skip
    errors = {sub.tx_hash: (sub.status, sub.error) for sub in submissions(db)}
    assert errors[a_only] == (SubmissionStatus.FAILED, f"lost in a chain rollback: {a['reason']}")
    assert errors[both] == (SubmissionStatus.FAILED, f"lost in a chain rollback: {b['reason']}")
    assert checkpoints(db) == [(1, "CONFIRMED"), (3, "PENDING"), (4, "PENDING"), (1, "CONFIRMED"), (2, "PENDING")]

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="anchor.anchorer"):
        report = anchorer.run()  # anchored again at the same sizes, then the losses are closed
    assert [(c["tree_size"]) for c in report.checkpoints] == [3, 4, 2] and report.rollbacks == []
    assert [r.getMessage() for r in caplog.records if r.name == "anchor.anchorer"] == [
        f"fonds {fonds}: the checkpoints lost in a chain rollback are anchored again" for fonds in ("A001", "B001")
    ]
    assert checkpoints(db) == [(1, "CONFIRMED"), (3, "CONFIRMED"), (4, "CONFIRMED"), (1, "CONFIRMED"), (2, "CONFIRMED")]
    assert all(r.reanchored_at is not None for r in rollbacks(db))
    assert held_on_chain(chain, "A001") == (3, 4) and held_on_chain(chain, "B001") == (2, 2)


def test_rollback_stays_open_while_a_lost_checkpoint_waits(chain) -> None:  # type: ignore[no-untyped-def]
    """The re-anchoring is submitted but not yet confirmed: the loss is not repaired yet."""
    db = chain.database()
    ingest(db, 1)
    anchorer = chain.anchorer(db)
    anchorer.run()
    snapshot = chain.tester.take_snapshot()
    ingest(db, 1)
    anchorer.run()
    chain.tester.revert_to_snapshot(snapshot)
    chain.tester.mine_blocks(2)
    anchorer.reconcile()
    assert [r.reanchored_at for r in rollbacks(db)] == [None]
    chain.tester.disable_auto_mine_transactions()
    anchorer.run(wait=False)
    assert checkpoints(db) == [(1, "CONFIRMED"), (2, "SUBMITTED")]
    assert [r.reanchored_at for r in rollbacks(db)] == [None]
    chain.tester.enable_auto_mine_transactions()
    anchorer.reconcile()
    assert checkpoints(db) == [(1, "CONFIRMED"), (2, "CONFIRMED")]
    assert rollbacks(db)[0].reanchored_at is not None


def test_anchor_block_replaced_and_root_gone_is_a_loss_then_a_later_checkpoint_is_adopted(chain) -> None:  # type: ignore[no-untyped-def]
    """The block that anchored size 2 was reorganised away, and the chain now holds size 3 anchored
    by another copy of this node (a restored backup): size 2 is lost (its block has another hash,
    the contract has no root at 2), and size 3, which this database reproduces, is adopted."""
    db = chain.database("node")
    ingest(db, 2)
    snapshot = chain.tester.take_snapshot()
    anchorer = chain.anchorer(db)
    anchorer.run()
    (first,) = submissions(db)
    ingest(db, 1)
    copy = chain.copy(never_anchored=True)
    chain.tester.revert_to_snapshot(snapshot)
    chain.tester.mine_blocks(2)
    chain.client.nonce_manager(chain.account.address).resync()
    chain.anchorer(copy).run()
    assert held_on_chain(chain) == (1, 3)
    chain.tester.mine_blocks(2)  # the adopted anchor is found in its own block, not at the head
    moved = chain.client.block_hash(first.block_number)
    assert moved != first.block_hash

    report = AnchorReport()
    chain.anchorer(db).reconcile(report)
    (loss,) = report.rollbacks
    assert loss["reason"] == (
        f"block {first.block_number} that anchored fonds Z001 at size 2 now has hash {moved} (was {first.block_hash})"
    )
    assert (loss["chain_size"], loss["lost_sizes"], loss["tx_hashes"]) == (3, [2], [first.tx_hash])
    assert report.reconciled == ["Z001: 1 checkpoint(s) lost in a chain rollback", "Z001@3: adopted from chain"]
    # The adopted checkpoint covers the lost one (the chain holds a later root): the loss is repaired.
    assert checkpoints(db) == [(3, "CONFIRMED")]
    assert rollbacks(db)[0].reanchored_at is not None
    adopted = [sub for sub in submissions(db) if sub.status == SubmissionStatus.CONFIRMED]
    (other,) = submissions(copy)
    assert [(sub.tx_hash, sub.block_number) for sub in adopted] == [(other.tx_hash, other.block_number)]
    assert adopted[0].block_hash == chain.client.block_hash(other.block_number)
    assert chain.anchorer(db).run().submitted is None  # nothing left to anchor


def test_block_hash_missing_from_an_old_row_is_filled_in_not_a_loss(chain) -> None:  # type: ignore[no-untyped-def]
    db = chain.database()
    ingest(db, 2)
    chain.anchorer(db).run()
    with transaction(db) as s:  # confirmed before block hashes were kept (migration 0007)
        s.scalar(select(Submission)).block_hash = None
    report = AnchorReport()
    chain.anchorer(db).reconcile(report)
    assert report.reconciled == [] and report.rollbacks == []
    (sub,) = submissions(db)
    assert sub.block_hash == chain.client.block_hash(sub.block_number)


def test_one_block_hash_lookup_per_anchoring_block(chain, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    db = chain.database()
    for fonds in ("A001", "B001", "C001"):
        ingest(db, 1, fonds)
    anchorer = chain.anchorer(db)
    anchorer.run()
    asked: list[int] = []
    real = chain.client.block_hash
    monkeypatch.setattr(chain.client, "block_hash", lambda n: asked.append(n) or real(n))
    report = AnchorReport()
    anchorer.reconcile(report)
    assert report.reconciled == [] and asked == [submissions(db)[0].block_number]


def test_confirmed_root_differing_from_the_chain_at_the_same_size_is_divergence(chain) -> None:  # type: ignore[no-untyped-def]
    db = chain.database()
    ingest(db, 2)
    chain.anchorer(db).run()
    with transaction(db) as s:  # an edited database (and a row without the block that anchored it)
        s.scalar(select(Submission)).block_number = None
        cp = s.scalar(select(Checkpoint))
        real, cp.root = cp.root, b"\x07" * 32
    with pytest.raises(LogDiverged) as info:
        chain.anchorer(db).reconcile()
    assert str(info.value) == (
        f"the chain holds root {real.hex()} for fonds Z001 at size 2, but this node confirmed {'07' * 32}: "
        "point the node at the right chain/contract"
    )


def test_chain_checkpoint_the_database_cannot_reproduce_is_divergence(chain) -> None:  # type: ignore[no-untyped-def]
    db = chain.database()
    ingest(db, 3)
    chain.anchorer(db).run()
    other = chain.database("other")  # a different archive's database pointed at this contract
    ingest(other, 2)
    with pytest.raises(
        LogDiverged, match=r"checkpoint \(size 3, root [0-9a-f]{64}\) for fonds Z001 that this database"
    ):
        chain.anchorer(other).reconcile()
    ingest(other, 1)  # same size, other records: the root differs
    with pytest.raises(LogDiverged, match="cannot reproduce: restore the database from a backup that includes it"):
        chain.anchorer(other).reconcile()


def test_adoption_needs_the_anchoring_event(chain, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    db = chain.database()
    ingest(db, 2)
    anchorer = chain.anchorer(db)
    anchorer.run()
    with transaction(db) as s:
        for row in (*s.scalars(select(Checkpoint)), *s.scalars(select(Submission))):
            s.delete(row)
    monkeypatch.setattr(anchorer.anchor, "checkpoint_events", lambda *a: [])
    size, _root, block = anchorer.anchor.latest(log_id_for_fonds("Z001"))
    with pytest.raises(ChainError) as info:
        anchorer.reconcile()
    assert str(info.value) == f"no CheckpointAnchored event in block {block} for size {size}"


def test_adoption_takes_this_logs_transaction_among_others_in_its_block(chain) -> None:  # type: ignore[no-untyped-def]
    """One block holds another archive's anchorMany (fonds B001 at size 2) before this node's (A001 at size 2):
    a copy of this node adopts A001@2 from this node's transaction, not from the other log's at the same size.
    (This log at another size cannot share the block: the contract checks each checkpoint against the head
    the transaction was prepared for.)"""
    db = chain.database("node")
    ingest(db, 2, "A001")
    copy = chain.copy()  # made before this node anchors: it never anchored
    other = chain.database("other")
    ingest(other, 2, "B001")
    their_key = chain.second_anchorer_key()  # py-evm's pool takes one pending nonce per sender
    chain.tester.disable_auto_mine_transactions()
    chain.anchorer(other, account=their_key).run(wait=False)
    chain.anchorer(db).run(wait=False)
    chain.tester.enable_auto_mine_transactions()  # mines both in one block
    (theirs,), (ours,) = submissions(other), submissions(db)
    mined = [chain.client.receipt(sub.tx_hash) for sub in (theirs, ours)]
    assert [(r["status"], r["blockNumber"], r["transactionIndex"]) for r in mined] == [
        (1, mined[0]["blockNumber"], 0), (1, mined[0]["blockNumber"], 1)
    ]  # fmt: skip

    report = AnchorReport()
    chain.anchorer(copy).reconcile(report)
    assert report.reconciled == ["A001@2: adopted from chain"]
    (adopted,) = submissions(copy)
    assert (adopted.tx_hash, adopted.block_number) == (ours.tx_hash, mined[1]["blockNumber"])
    assert adopted.status == SubmissionStatus.CONFIRMED


def test_adoption_of_two_logs_from_one_transaction_keeps_everything_else(chain) -> None:  # type: ignore[no-untyped-def]
    """A copy of this node anchored A001@2 and B001@3 in one transaction. This node adopts both (one submission
    row for the two), each only for its own log: A001's and C001's waiting checkpoints that the adoption does not
    cover stay, B001's confirmed checkpoint at size 2 does not stand for A001's, and A001, grown since, is
    compared at the adopted size."""
    db = chain.database("node")
    ingest(db, 1, "A001")
    ingest(db, 2, "B001")
    chain.anchorer(db).run()  # A001@1, B001@2
    ingest(db, 1, "A001")
    ingest(db, 1, "B001")
    copy = chain.copy()
    chain.anchorer(copy).run()  # A001@2, B001@3: one anchorMany this node does not know of
    (_, theirs) = submissions(copy)
    ingest(db, 1, "A001")
    ingest(db, 1, "C001")
    with transaction(db) as s:  # checkpoints waiting to be anchored again (as after a chain rollback)
        merkle = MerkleLog(s)
        for fonds, size, previous in (("A001", 3, 1), ("C001", 1, 0)):
            log = merkle.by_fonds(fonds)
            s.add(Checkpoint(log_pk=log.id, tree_size=size, root=merkle.root(log, size), previous_size=previous,
                             status=CheckpointStatus.PENDING))  # fmt: skip

    report = AnchorReport()
    chain.anchorer(db).reconcile(report)
    assert report.reconciled == ["A001@2: adopted from chain", "B001@3: adopted from chain"]
    assert checkpoints(db, "A001") == [(1, "CONFIRMED"), (2, "CONFIRMED"), (3, "PENDING")]
    assert checkpoints(db, "B001") == [(2, "CONFIRMED"), (3, "CONFIRMED")]
    assert checkpoints(db, "C001") == [(1, "PENDING")]
    adopted = submissions(db)[-1]
    block = chain.client.receipt(theirs.tx_hash)["blockNumber"]
    assert (adopted.tx_hash, adopted.block_number) == (theirs.tx_hash, block)
    assert adopted.status == SubmissionStatus.CONFIRMED
    assert adopted.block_hash == chain.client.block_hash(block) and adopted.confirmed_at is not None
    with db() as s:
        rows = s.scalars(select(Checkpoint).where(Checkpoint.submission_id == adopted.id)).all()
        assert sorted((row.tree_size, row.previous_size) for row in rows) == [(2, 1), (3, 2)]


def test_anchor_block_beyond_the_chains_height_is_a_loss_with_no_hash(chain) -> None:  # type: ignore[no-untyped-def]
    """The chain was reset to fewer blocks than the one that anchored size 2, and another copy of this node
    anchored size 3 since: the block is gone (no hash), the contract has no root at 2: lost."""
    db = chain.database("node")
    ingest(db, 2)
    snapshot = chain.tester.take_snapshot()
    chain.tester.mine_blocks(3)
    chain.anchorer(db).run()
    (first,) = submissions(db)
    ingest(db, 1)
    copy = chain.copy(never_anchored=True)
    chain.tester.revert_to_snapshot(snapshot)
    chain.client.nonce_manager(chain.account.address).resync()
    chain.anchorer(copy).run()
    assert chain.client.block_hash(first.block_number) is None

    report = AnchorReport()
    chain.anchorer(db).reconcile(report)
    (loss,) = report.rollbacks
    assert loss["reason"] == (
        f"block {first.block_number} that anchored fonds Z001 at size 2 now has hash none (was {first.block_hash})"
    )


def test_a_log_with_a_checkpoint_in_flight_waits_and_the_others_go_on(chain, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Z001's checkpoint at size 2 is stored and not confirmed yet: Z001's new records wait for it (the next
    checkpoint must extend it); B001, a later log with nothing anchored, is anchored from size 0."""
    db = chain.database()
    ingest(db, 2)
    anchorer = chain.anchorer(db)
    first = stored_not_sent(chain, anchorer, monkeypatch)
    ingest(db, 1)
    ingest(db, 1, "B001")
    report = AnchorReport()
    monkeypatch.setattr(anchorer.client, "broadcast", lambda signed: None)  # nonce n is not on chain either
    second = anchorer.submit(report)
    assert second is not None and second != first.id
    b001 = log_id_for_fonds("B001").hex()
    assert report.submitted is not None and report.submitted["logs"] == 1
    assert [(c["log_id"], c["tree_size"]) for c in report.checkpoints] == [(b001, 1)]
    assert checkpoints(db, "Z001") == [(2, "SUBMITTED")] and checkpoints(db, "B001") == [(1, "SUBMITTED")]
    with db() as s:
        assert s.scalar(select(Checkpoint).where(Checkpoint.tree_size == 1)).previous_size == 0


def test_submit_reports_the_transaction_and_each_checkpoint(chain) -> None:  # type: ignore[no-untyped-def]
    db = chain.database()
    ingest(db, 2, "A001")
    ingest(db, 1, "B001")
    report = chain.anchorer(db).run()
    (sub,) = submissions(db)
    with db() as s:
        merkle = MerkleLog(s)
        roots = {f: merkle.root(merkle.by_fonds(f)).hex() for f in ("A001", "B001")}
    assert report.submitted == {"tx_hash": sub.tx_hash, "nonce": sub.nonce, "logs": 2}
    assert report.checkpoints == [
        {"log_id": log_id_for_fonds("A001").hex(), "tree_size": 2, "root": roots["A001"]},
        {"log_id": log_id_for_fonds("B001").hex(), "tree_size": 1, "root": roots["B001"]},
    ]


def test_a_failure_before_the_transaction_is_stored_gives_its_nonce_back(chain) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import event

    db = chain.database()
    ingest(db, 2)
    anchorer = chain.anchorer(db)

    def disk_full(_session: Any) -> None:
        raise RuntimeError("disk full")

    event.listen(db, "before_commit", disk_full)
    with pytest.raises(RuntimeError, match="disk full"):
        anchorer.submit()
    event.remove(db, "before_commit", disk_full)
    assert submissions(db) == [] and checkpoints(db) == []
    nonce = chain.client.w3.eth.get_transaction_count(chain.account.address)
    report = anchorer.run()  # the same nonce again: no gap that would hold every later transaction back
    assert report.submitted is not None and report.submitted["nonce"] == nonce and report.confirmed


def test_stale_waiting_checkpoints_are_dropped_and_an_altered_log_is_refused(chain) -> None:  # type: ignore[no-untyped-def]
    """Checkpoints waiting to be anchored again that an anchored one covers (size 1) or that lie past the log
    (size 9) are dropped at the next submit; one whose root the log no longer gives means the database was
    altered: nothing is anchored."""
    db = chain.database()
    ingest(db, 2)
    anchorer = chain.anchorer(db)
    anchorer.run()
    ingest(db, 1)

    def waiting(size: int, root: bytes) -> None:
        with transaction(db) as s:
            log = MerkleLog(s).by_fonds("Z001")
            s.add(Checkpoint(log_pk=log.id, tree_size=size, root=root, previous_size=0,
                             status=CheckpointStatus.PENDING))  # fmt: skip

    def root_at(size: int) -> bytes:
        with db() as s:
            merkle = MerkleLog(s)
            return merkle.root(merkle.by_fonds("Z001"), size)

    waiting(1, b"\x01" * 32)
    waiting(9, b"\x09" * 32)
    report = anchorer.run()
    assert [c["tree_size"] for c in report.checkpoints] == [3]
    assert checkpoints(db) == [(2, "CONFIRMED"), (3, "CONFIRMED")]

    ingest(db, 2)
    waiting(5, root_at(5))  # two lost ones, stored out of order: anchored in size order
    waiting(4, root_at(4))
    report = anchorer.run()
    assert [c["tree_size"] for c in report.checkpoints] == [4, 5]
    assert checkpoints(db) == [(2, "CONFIRMED"), (3, "CONFIRMED"), (4, "CONFIRMED"), (5, "CONFIRMED")]

    ingest(db, 1)
    waiting(6, b"\x07" * 32)  # "lost in a rollback" with a root the log does not give at size 6
    with pytest.raises(LogDiverged) as info:
        anchorer.run()
    assert str(info.value) == (
        f"fonds Z001: the log's root at size 6 is {root_at(6).hex()}, not the {'07' * 32} it had when first "
        "anchored: the database was altered"
    )
    assert checkpoints(db)[-1] == (6, "PENDING") and len(submissions(db)) == 3


def test_naive_utc_reads_aware_times_in_utc_and_leaves_naive_ones(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Under a local time zone that is not UTC (a server in China): an aware time is converted to UTC, and a
    naive one (SQLite returns them so) is already UTC and left as it is."""
    import time
    from datetime import timedelta, timezone

    from anchor.anchorer import _naive_utc

    monkeypatch.setenv("TZ", "CST-8")
    time.tzset()
    try:
        naive = datetime(2026, 11, 30, 3, 0)
        assert _naive_utc(naive) == naive
        beijing = datetime(2026, 11, 30, 11, 0, tzinfo=timezone(timedelta(hours=8)))
        assert _naive_utc(beijing) == datetime(2026, 11, 30, 3, 0)
        assert _naive_utc(beijing).tzinfo is None
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_owner_alive_when_the_process_exists_but_is_not_ours(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A process of another user (kill answers EPERM) exists: the lease is not stale."""
    import os
    import socket

    from anchor.anchorer import _owner_alive

    def not_permitted(pid: int, sig: int) -> None:
        assert sig == 0
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "kill", not_permitted)
    assert _owner_alive(f"{socket.gethostname()}:4242:1") is True


def test_block_hashes_are_stored_as_0x_hex_whatever_the_client_returns() -> None:
    """web3 gives receipts' block hashes as bytes (HexBytes); a plain JSON-RPC answer is a 0x string."""
    from anchor.anchorer import _hex

    assert _hex(b"\x0a\xbc") == _hex(bytearray(b"\x0a\xbc")) == _hex("0x0abc") == _hex("0abc") == "0x0abc"
    with pytest.raises(ValueError):
        _hex("0xzz")


def test_a_rollback_closes_only_when_its_own_log_has_nothing_left_waiting(tmp_path: Path) -> None:
    """`_close_rollbacks` per log: log A still has a checkpoint waiting to be anchored again, so A's rollback
    stays open (and the loop goes on to B); log B has none, so B's rollback closes, and A's waiting
    checkpoint does not keep B's open."""
    url = f"sqlite:///{tmp_path / 'node.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with transaction(sessions) as s:
        merkle = MerkleLog(s)
        logs = [merkle.get_or_create(fonds) for fonds in ("A001", "B001")]
        s.flush()
        a, b = (log.id for log in logs)
        s.add(Checkpoint(log_pk=a, tree_size=1, root=b"\x00" * 32, previous_size=0, status=CheckpointStatus.PENDING))
        s.add(Checkpoint(log_pk=b, tree_size=1, root=b"\x00" * 32, previous_size=0, status=CheckpointStatus.CONFIRMED))
        for pk in (a, b):
            s.add(ChainRollback(log_pk=pk, chain_size=0, lost_sizes="1", lost_count=1, reason="reorg", tx_hashes=""))
        closed_before = datetime(2026, 1, 2, 3, 4, 5)  # an older rollback of B, repaired long ago: left as it is
        s.add(ChainRollback(log_pk=b, chain_size=0, lost_sizes="1", lost_count=1, reason="reorg", tx_hashes="",
                            reanchored_at=closed_before))  # fmt: skip
    assert a < b  # a set of small ints iterates in order: A (waiting) comes first
    with transaction(sessions) as s:
        Anchorer._close_rollbacks(s, {a, b})
    with sessions() as s:
        rows = s.scalars(select(ChainRollback)).all()
        open_rollbacks = {row.log_pk for row in rows if row.reanchored_at is None}
        times = {row.reanchored_at.replace(tzinfo=None) for row in rows if row.reanchored_at is not None}
    assert open_rollbacks == {a}
    assert len(times) == 2 and closed_before in times
    engine.dispose()
