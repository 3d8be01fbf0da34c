"""Response models of the preservation routes (and the `preservation` part of GET /status)."""

from __future__ import annotations

from pydantic import Field

from node.core.schemas import Answer


class Alert(Answer):
    """A difference found by a pass (open until a later pass finds the item as anchored again)."""

    id: str
    run_id: str | None
    item_id: str | None
    fonds: str
    kind: str = Field(description="e.g. content_changed, blob_missing, log_root_mismatch")
    message: str
    expected: str | None
    actual: str | None
    created_at: str | None
    last_seen_at: str | None
    resolved_at: str | None


class AlertList(Answer):
    alerts: list[Alert]


class RunSummary(Answer):
    """A pass as the run list, GET /status and POST /preservation/run show it."""

    run_id: str
    trigger: str
    started_at: str | None
    finished_at: str | None
    items_checked: int
    bytes_checked: int
    items_with_differences: int
    cycle_complete: bool
    report_sha256: str | None


class RunRecord(Answer):
    """The `preservation.run` record a pass appended to a fonds' log."""

    fonds: str
    leaf_index: int


class RunResult(RunSummary):
    """POST /preservation/run: the pass, its records and the alerts it raised."""

    records: list[RunRecord]
    new_alerts: list[Alert]


class RunList(Answer):
    runs: list[RunSummary]


class NewAlertRef(Answer):
    id: str
    item_id: str | None
    fonds: str
    kind: str


class LogAlert(Answer):
    fonds: str
    kind: str
    expected: str | None
    actual: str | None
    message: str


class FondsSummary(Answer):
    fonds: str
    items_checked: int
    bytes_checked: int
    items_with_differences: int


class ItemSummary(Answer):
    id: str
    fonds: str
    ok: bool
    anchored: bool | None
    format: str | None
    usable: bool | None
    alerts: list[str] = Field(description="the kinds of the item's alerts")


class RunReport(Answer):
    """A pass's full report; SHA-256 of its RFC 8785 bytes is the `preservation.run` record's content_sha256
    (`filtered: true` when cut to a fonds-limited caller's fonds)."""

    v: int
    run_id: str
    trigger: str
    started_at: str
    finished_at: str
    cursor_from: str | None
    cursor_to: str | None
    cycle_complete: bool
    rate_mb_s: float
    items_checked: int
    bytes_checked: int
    items_with_differences: int
    new_alerts: list[NewAlertRef]
    log_alerts: list[LogAlert]
    fonds: list[FondsSummary]
    items: list[ItemSummary]
    filtered: bool | None = None


class RunReportAnswer(Answer):
    report: RunReport
    report_sha256: str | None


class PreservationStatus(Answer):
    """The `preservation` part of GET /status."""

    enabled: bool
    interval_s: float
    rate_mb_s: float
    cursor: str | None
    last_run: RunSummary | None
    open_alerts: int
    alerts: list[Alert]
    last_error: str | None
