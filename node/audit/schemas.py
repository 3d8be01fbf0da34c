"""Response models of the audit routes."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from node.core.schemas import Answer, OpenObject


class EventView(Answer):
    seq: int = Field(description="the event's place in the hash chain of events")
    id: str
    time: str
    principal_kind: str | None = Field(description="user or api_key; null: an anonymous caller")
    principal_id: str | None
    principal_name: str | None
    action: str
    target: str
    outcome: str = Field(description="ok, denied or failed")
    source_ip: str | None
    fonds: str | None
    details: OpenObject
    log_fonds: str = Field(description="the audit log the event is sealed into (`<fonds>/audit`)")
    leaf_index: int | None = Field(description="its record in that log (null: not sealed yet)")
    prev_hash: str
    hash: str


class EventList(Answer):
    events: list[EventView]


class Head(Answer):
    seq: int | None
    hash: str | None


class Problem(Answer):
    """What is wrong, and where: `seq`, `id`, `log`, `tree_size`... as the check found it."""

    open_object = True  # the location keys vary by problem kind

    kind: str
    message: str


class TrailReport(Answer):
    ok: bool
    events: int
    sealed: int
    unsealed: int
    audit_records: int
    checkpoints_checked: int
    chain_checked: bool
    chain_error: str | None
    head: Head | None
    problems: list[Problem]


EXPORT_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"model": EventList, "description": "Every event as a download: JSON or CSV",
          "content": {"text/csv": {"schema": {"type": "string"}}}}
}  # fmt: skip
