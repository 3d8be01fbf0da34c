"""The one audit path at the HTTP boundary: the middleware that gives every state-changing request and
every content access its `RequestAudit` (node/audit/request.py) and writes the request's event for every
outcome the route's service did not record itself; `audited` for routes whose write transaction takes
the ok event; the aggregation of anonymous refusals. (The /audit routes: node/audit/routes.py.)"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node.audit import service as audit
from node.audit.request import STATE_KEY, RequestAudit, request_audit
from node.core.context import NodeContext
from node.core.deps import all_routes, route_audit_action

logger = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Public computations that change nothing (an outside auditor's verification) are not events.
# /lang: the web UI's language cookie; /verify-record: the verify page (node/trust/pages.py), POST /verify as a form.
NOT_AUDITED = frozenset({("POST", "/verify"), ("POST", "/lang"), ("POST", "/verify-record")})
# GET /search: a successful search is counted in the search audit's events (node/search/service.py,
# SearchAudit: aggregated per caller and minute); the middleware records its refusals.
AUDITED_READS = frozenset({"/items/{item_id}/content", "/audit/export", "/search", "/find", "/audit-trail/export"})


def source_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@contextmanager
def audited(
    ctx: NodeContext, request: Request, target: str, details: dict[str, Any] | None = None, fonds: str | None = None,
) -> Iterator[Session]:  # fmt: skip
    """A write transaction that takes the request's ok event (its action is the route's). If the
    block raises, the transaction rolls back and the middleware writes the failure instead."""
    with ctx.sessions() as s, s.begin():
        yield s
        request_audit(request).record(s, target=target, details=details, fonds=fonds)


def covered(scope: Scope, route: Any) -> bool:
    """Whether a request is in the trail: a state-changing request or an audited read of a route the
    node serves (an unknown path writes nothing: nothing to bloat the log with)."""
    if route is None:
        return False
    method = scope["method"]
    if (method, route.path) in NOT_AUDITED:
        return False
    return method in WRITE_METHODS or (method == "GET" and route.path in AUDITED_READS)


class AuditMiddleware:
    """Pure ASGI (uploads stream through untouched). The event is written before the response starts,
    so a client never sees an answer whose event is not committed yet."""

    def __init__(self, app: ASGIApp, ctx: NodeContext) -> None:
        self.app = app
        self.ctx = ctx
        self.anonymous = ctx.anonymous_failures()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = matched_route(scope)
        if not covered(scope, route):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        state = scope.setdefault("state", {})
        event = RequestAudit(
            scope_state=state, method=scope["method"], route=route.path, path=scope["path"],
            source_ip=client[0] if client else None, action=route_audit_action(route, scope["method"]),
            default_fonds=self.ctx.settings.default_fonds,
        )  # fmt: skip
        state[STATE_KEY] = event
        finished = False

        async def finish(status: int) -> None:
            nonlocal finished
            if finished:
                return
            finished = True
            if event.written:
                return
            try:
                await run_in_threadpool(self.write, event, status)
            except Exception:  # never turn an answer into a 500 because of the trail; but say so loudly
                logger.exception("could not write the audit event of %s %s", scope["method"], scope["path"])

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                await finish(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException:
            await finish(500)
            raise

    def write(self, event: RequestAudit, status: int) -> None:
        """The request's event for an outcome its service did not record (refused, failed, no change)."""
        action, target, outcome, details = event.boundary_event(status)
        principal = event.principal
        if principal is None and status >= 400:
            # An anonymous refusal: the first of its window is an event now, the rest one event with a count.
            for pending in self.anonymous.add(event.source_ip, action, event.route or event.path, outcome, details):
                self._write(pending.action, pending.target, pending.outcome, pending.ip, pending.details)
            return
        with self.ctx.sessions() as s, s.begin():
            event.record(s, target=target, details=details, outcome=outcome)

    def _write(self, action: str, target: str, outcome: str, ip: str | None, details: dict[str, Any]) -> None:
        with self.ctx.sessions() as s, s.begin():
            audit.record_event(s, None, action, target, outcome, ip, details, None,
                               default_fonds=self.ctx.settings.default_fonds)  # fmt: skip


def matched_route(scope: Scope) -> Any:
    """The route of a request: the router's choice, or (for a request refused before routing, e.g. a
    body over the cap) the route its path and method would reach; None for a path the node does not serve."""
    route = scope.get("route")
    if route is not None:
        return route
    app = scope.get("app")
    if app is None or not hasattr(app, "router"):
        return None
    partial = None
    for candidate in all_routes(app):
        match, _child = candidate.matches(scope)
        if match == Match.FULL:
            return candidate
        if match == Match.PARTIAL and partial is None:
            partial = candidate
    return partial


# -- anonymous refusals, aggregated ----------------------------------------------------------------------
MAX_BUCKETS = 1000  # distinct (address, action, route) windows held at once; beyond, addresses share one
MAX_LISTED = 20  # distinct usernames / reasons listed in an aggregated event


@dataclass
class PendingEvent:
    action: str
    target: str
    outcome: str
    ip: str | None
    details: dict[str, Any]


@dataclass
class _Bucket:
    started: float
    first_at: str
    last_at: str = ""
    count: int = 0  # refusals after the first of the window, not written yet
    outcome: str = "denied"
    statuses: dict[str, int] = dataclass_field(default_factory=dict)
    reasons: dict[str, int] = dataclass_field(default_factory=dict)
    usernames: list[str] = dataclass_field(default_factory=list)


class AnonymousFailures:
    """Refused requests without a principal, aggregated per (source address, action, route) and window
    of `audit_anonymous_window_s`: the first refusal of a window is an audit event at once (with its
    details), the others of the window become one event (`aggregated: true`, `count`, first and last
    time, statuses, reasons, usernames tried) when the window is over: written at the next anonymous
    refusal after it, when the trail is read (GET /audit/...), and at shutdown. So 200 anonymous
    requests are two events and two log records, not 200 (issue 8: a way to bloat the ledger)."""

    def __init__(self, window_s: float, *, clock: Any = time.monotonic) -> None:
        self.window_s, self.clock = window_s, clock
        self._buckets: dict[tuple[str | None, str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def add(self, ip: str | None, action: str, route: str, outcome: str, details: dict[str, Any]) -> list[PendingEvent]:
        """Count one refusal; returns the events to write now (this one if first of its window, and the
        aggregates of windows that are over)."""
        now, stamp = self.clock(), datetime.now(UTC).isoformat()
        with self._lock:
            out = self._take(lambda b: now - b.started >= self.window_s)
            key = (ip, action, route)
            if key not in self._buckets and len(self._buckets) >= MAX_BUCKETS:
                key = ("*", action, route)  # too many addresses at once: they share one window
            bucket = self._buckets.get(key)
            if bucket is None:
                self._buckets[key] = _Bucket(started=now, first_at=stamp)
                out.append(PendingEvent(action, route, outcome, ip, {**details, "aggregated": False}))
                return out
            bucket.count += 1
            bucket.last_at = stamp
            bucket.outcome = "failed" if outcome == "failed" else bucket.outcome
            status = str(details.get("status"))
            bucket.statuses[status] = bucket.statuses.get(status, 0) + 1
            reason = details.get("reason")
            if reason and (reason in bucket.reasons or len(bucket.reasons) < MAX_LISTED):
                bucket.reasons[reason] = bucket.reasons.get(reason, 0) + 1
            username = details.get("username")
            if username and username not in bucket.usernames and len(bucket.usernames) < MAX_LISTED:
                bucket.usernames.append(str(username)[:64])
            return out

    def _take(self, due: Any) -> list[PendingEvent]:
        out = []
        for key in [k for k, b in self._buckets.items() if due(b)]:
            bucket = self._buckets.pop(key)
            if bucket.count:
                ip, action, route = key
                details = {
                    "route": route, "aggregated": True, "count": bucket.count, "first_at": bucket.first_at,
                    "last_at": bucket.last_at, "statuses": bucket.statuses, "reasons": bucket.reasons,
                    "usernames": bucket.usernames,
                }  # fmt: skip
                out.append(PendingEvent(action, route, bucket.outcome, ip, details))
        return out

    def flush(self, ctx: NodeContext, *, everything: bool = True) -> int:
        """Write the aggregates (all, or those whose window is over); returns how many events."""
        now = self.clock()
        with self._lock:
            events = self._take(lambda b: everything or now - b.started >= self.window_s)
        for event in events:
            with ctx.sessions() as s, s.begin():
                audit.record_event(s, None, event.action, event.target, event.outcome, event.ip, event.details,
                                   None, default_fonds=ctx.settings.default_fonds)  # fmt: skip
        return len(events)


def flush_anonymous(ctx: NodeContext) -> None:
    """Write the pending aggregates (the trail is read, or the node stops)."""
    try:
        ctx.anonymous_failures().flush(ctx)
    except Exception:
        logger.exception("could not write the aggregated anonymous refusals")
