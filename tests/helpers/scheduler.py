"""The node's background jobs as `create_app` schedules them, recorded instead of run (a scheduler that
keeps what `add_job` was given), for tests of one job's schedule."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

JOB_SWITCHES = ("anchor_enabled", "preservation_enabled", "extraction_enabled", "search_enabled")


def scheduled_jobs(monkeypatch: pytest.MonkeyPatch, node_ctx: Any, only: str, **settings: Any) -> list[dict[str, Any]]:
    """Start and stop the app with every background job off but `only` (a switch of JOB_SWITCHES, e.g.
    "preservation_enabled"; "" for none) and `settings` applied; returns the jobs added: {"func", "trigger", **kw}."""
    from node import app as node_app

    jobs: list[dict[str, Any]] = []

    class RecordingScheduler:
        def __init__(self, **_kw: Any) -> None:
            pass

        def add_job(self, func: Any, trigger: str, **kw: Any) -> None:
            jobs.append({"func": func, "trigger": trigger, **kw})

        def start(self) -> None:
            pass

        def shutdown(self, wait: bool = False) -> None:
            pass

    monkeypatch.setattr(node_app, "BackgroundScheduler", RecordingScheduler)
    switches = {switch: switch == only for switch in JOB_SWITCHES}
    node_ctx.settings = node_ctx.settings.model_copy(update={**switches, **settings})
    with TestClient(node_app.create_app(node_ctx, scheduler=True)):
        pass
    return jobs
