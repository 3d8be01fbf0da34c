"""Scheduled anchoring: a chain outage never blocks ingest; retries back off, then catch up."""

from __future__ import annotations

import pytest

from anchor.errors import ChainUnavailable
from node.core.context import AnchorSchedule
from tests.helpers.api import upload


def test_backoff_doubles_up_to_a_ceiling() -> None:
    schedule = AnchorSchedule(base_s=5, max_s=30)
    assert schedule.due(0)
    delays = []
    for _ in range(5):
        schedule.failed(100, "down")
        delays.append(schedule.next_try - 100)
    assert delays == [5, 10, 20, 30, 30]
    assert not schedule.due(110) and schedule.due(130)
    schedule.succeeded()
    assert schedule.due(0) and schedule.failures == 0 and schedule.last_error is None


def item_log(status: dict) -> dict:  # type: ignore[type-arg]
    """The fonds' item log (beside it, its audit log "Z001/audit" holds the audit events)."""
    return next(log for log in status["logs"] if log["fonds"] == "Z001")


def test_chain_outage_then_catch_up(api, node_ctx, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    client = node_ctx.chain()

    def down(*_a, **_k):  # type: ignore[no-untyped-def]
        raise ChainUnavailable("chain node does not answer")

    monkeypatch.setattr(type(client), "prepare", down)
    assert upload(api, b"first").status_code == 201
    node_ctx.anchor_job()
    status = api.get("/status").json()
    assert status["anchoring"]["consecutive_failures"] == 1
    assert "does not answer" in status["anchoring"]["last_error"]
    assert item_log(status)["pending_records"] == 1

    assert upload(api, b"second while down").status_code == 201  # ingest goes on
    node_ctx.anchor_job()  # not due yet: backing off, no new attempt
    assert node_ctx.schedule.failures == 1

    monkeypatch.undo()
    node_ctx.schedule.next_try = 0  # the backoff delay has passed
    node_ctx.anchor_job()
    status = api.get("/status").json()
    assert status["anchoring"]["consecutive_failures"] == 0
    assert item_log(status)["pending_records"] == 0 and item_log(status)["anchored_size"] == 2
