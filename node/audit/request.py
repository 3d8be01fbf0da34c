"""The one audit event of one HTTP request (docs/design.md, "Audit trail").

Every request the trail covers (a state-changing one, or an audited read) gets one `RequestAudit`,
made by the audit middleware (node/audit/middleware.py) before the route runs and kept in the
request's state (`request_audit(request)`). It knows the route's action (declared once on the route:
its `require(action)`, or `audit_as(action)` where the two differ) and the caller, and it writes the
request's event exactly once:

- the route's service writes the outcome-ok event *inside its own transaction* with `record(session,
  ...)`, so the event commits with the change it describes (or not at all);
- for every other outcome (refused, failed, an answer without a change, a transaction that rolled
  back) the middleware writes it with `finish(status)` before the response starts.

`record` refuses to write a second event, and the event counts as written only when its transaction
commits, so "exactly one event per request" does not depend on anybody remembering a flag. Jobs that
are not requests (anchoring, preservation passes and their alerts, init, trust issue) write system
events with `node.audit.service.record_event` directly."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session
from starlette.types import Scope

from node.audit import service as audit
from node.core.errors import AuditAlreadyWritten
from node.core.principal import Principal

STATE_KEY = "audit"  # where the request's RequestAudit lives in the ASGI scope's state


def outcome_of(status: int) -> str:
    if status in (401, 403):
        return "denied"
    return "ok" if status < 400 else "failed"


@dataclass
class RequestAudit:
    """What the event of one request says, and whether it is written."""

    scope_state: dict[str, Any]  # the request's state: the principal is read from it when the event is written
    method: str
    route: str | None  # the route's path template
    path: str
    source_ip: str | None
    action: str
    default_fonds: str
    target: str | None = None  # default: the request's path
    fonds: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None  # the reason code of a refusal (set by the error boundary)
    written: bool = False  # the event's transaction committed
    _pending: bool = field(default=False, repr=False)

    @property
    def principal(self) -> Principal | None:
        return self.scope_state.get("principal")

    def declare(self, *, target: str | None = None, fonds: str | None = None, **details: Any) -> None:
        """Say what the event is about, whatever the outcome: its target, its fonds, more details."""
        if target is not None:
            self.target = target
        if fonds is not None:
            self.fonds = fonds
        self.details.update(details)

    def refused(self, reason: str) -> None:
        self.reason = reason

    def record(
        self, session: Session, *, target: str | None = None, details: dict[str, Any] | None = None,
        fonds: str | None = None, outcome: str = "ok",
    ) -> None:  # fmt: skip
        """Write the request's event in the caller's transaction (it commits or rolls back with it).
        A second call is refused (AuditAlreadyWritten); after a rollback the middleware writes the event."""
        if self.written or self._pending:
            raise AuditAlreadyWritten(f"the event of {self.method} {self.path} is written already")
        self.declare(target=target, fonds=fonds)
        base = {"method": self.method, "route": self.route, **self.details}
        audit.record_event(session, self.principal, self.action, self.target or self.path, outcome, self.source_ip,
                           {**base, **(details or {})}, self.fonds, default_fonds=self.default_fonds)  # fmt: skip
        self._pending = True
        event.listen(session, "after_commit", self._committed, once=True)
        event.listen(session, "after_rollback", self._rolled_back, once=True)

    def part(self) -> RequestAudit:
        """The event of one part of a request that does several things at once (the web inbox deciding
        several loans: one event per decision, as one API call per loan would write). The part records its own
        event; call `recorded_elsewhere()` on the request once its parts are recorded."""
        return replace(self, target=None, details=dict(self.details), reason=None, written=False, _pending=False)

    def record_failure(self, session: Session, error: Any) -> None:
        """Write this event (a part's) as refused or failed by `error` (a NodeError: its status and reason)."""
        self.refused(error.reason)
        self.record(session, details={"status": error.status, "reason": error.reason}, outcome=outcome_of(error.status))

    def recorded_elsewhere(self) -> None:
        """The request succeeded and its event is written by another writer: the aggregate of searches
        (node/search/service.py, SearchAudit), the filing job when it ends, each decision of a batch. The
        middleware writes nothing more for it."""
        self.written = True

    def nothing_to_record(self) -> None:
        """The request read nothing worth an event (the empty search form): the middleware writes none.
        Its refusals are still recorded."""
        self.written = True

    def _committed(self, _session: Session) -> None:
        if self._pending:
            self.written, self._pending = True, False

    def _rolled_back(self, _session: Session) -> None:
        self._pending = False

    def boundary_event(self, status: int) -> tuple[str, str, str, dict[str, Any]]:
        """(action, target, outcome, details) of the event the middleware writes for `status`: an outcome
        the route's service did not record itself."""
        details: dict[str, Any] = {"method": self.method, "route": self.route, "status": status}
        if self.reason:
            details["reason"] = self.reason
        details.update(self.details)
        return self.action, self.target or self.path, outcome_of(status), details


def request_audit(request: Any) -> RequestAudit:
    """The RequestAudit of a request (a Starlette Request or an ASGI scope); KeyError if the request
    is not one the trail covers (a route that would write an event there is missing from the rules)."""
    scope: Scope = request.scope if hasattr(request, "scope") else request
    return scope.setdefault("state", {})[STATE_KEY]


def note_refusal(request: Any, reason: str) -> None:
    """The error boundary's reason code for the request's event (if the trail covers the request)."""
    scope: Scope = request.scope if hasattr(request, "scope") else request
    found = scope.setdefault("state", {}).get(STATE_KEY)
    if found is not None:
        found.refused(reason)
