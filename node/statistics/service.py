"""利用统计 (issue 11, point 7): what the archive lent, aggregated in SQL so the page stays fast with
340,000 items and many loans (a handful of GROUP BY queries, never a row per loan in Python).

What counts:
- a *loan* is a request an approver granted (`decided_at` set, status APPROVED, RETURNED, EXPIRED, REVOKED
  or RENEWED (a renewal (续借) is a loan of its own, and so is the loan it extended); rejected requests are
  not loans), dated by its approval (`decided_at`), in the window of the
  last `months` calendar months (UTC);
- *per fonds*: the loans with an item of the fonds (a loan of items of two fonds counts in both) and the
  items lent from it;
- *request to approval*: `decided_at - requested_at` of those loans (the wait the paper archive made ~20
  minutes long);
- *approval to first access*: from `decided_at` to the loan's first content read, which the loans tables do
  not record: it is the earliest audit event `items:content` with outcome ok whose details carry the
  loan's `loan_id` (GET /items/{id}/content declares it, node/lending/access.py). Loans never read are
  left out of that average and counted apart;
- *most lent items*: how many loans each item was in.

A caller limited to some fonds (`principal.fonds`) sees only loans and items of those fonds.
The figures of one (window, scope) are kept for CACHE_SECONDS (`cached`): with 100,000 loans, 27,000 of them in
the window, the queries take about a second on a small machine (the row volume, not a missing index: the
joins run on primary keys), and statistics a minute old are as good as fresh ones.
Indexes used: loans' primary key and `ix_loans_status`, loan_items' primary key (loan_id first) and its
item_id index, items' primary key, audit_events' `action` and `time` indexes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Select, and_, cast, extract, func, select
from sqlalchemy.orm import Session, aliased

from node.core.models import AuditEvent, Item, Loan, LoanItem, LoanStatus

CACHE_SECONDS = 60.0
LENT = (LoanStatus.APPROVED, LoanStatus.RETURNED, LoanStatus.EXPIRED, LoanStatus.REVOKED, LoanStatus.RENEWED)
TOP_ITEMS = 10
MAX_MONTHS = 60


@dataclass(frozen=True)
class Window:
    """The first day (UTC) of the first month shown, and the months from it to the current one."""

    start: datetime
    months: list[str]  # "2026-11", oldest first

    @classmethod
    def last(cls, months: int, now: datetime | None = None) -> Window:
        now = (now or datetime.now(UTC)).astimezone(UTC)
        year, month = now.year, now.month
        labels = []
        for _ in range(max(1, min(months, MAX_MONTHS))):
            labels.append(f"{year:04d}-{month:02d}")
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        labels.reverse()
        first_year, first_month = (int(x) for x in labels[0].split("-"))
        return cls(datetime(first_year, first_month, 1, tzinfo=UTC), labels)


def loan_statistics(session: Session, window: Window, fonds: Iterable[str] | None = None) -> dict[str, Any]:
    """Every figure of the statistics page for the window; `fonds` None: every fonds."""
    scope = frozenset(fonds) if fonds is not None else None
    sql = _Dialect(session.get_bind().dialect.name)
    lent = _lent_loans(window, scope)  # for the queries on loans alone
    lent_any = _lent_loans(window, None)  # where the query joins the items in scope itself (no IN on top)

    month = sql.month(Loan.decided_at)
    loans_by_month = dict(session.execute(select(month, func.count()).where(lent).group_by(month)).all())
    items_query = select(month, func.count()).select_from(LoanItem).join(Loan, Loan.id == LoanItem.loan_id)
    items_by_month = dict(session.execute(_in_scope(items_query, scope).where(lent_any).group_by(month)).all())

    fonds_rows = session.execute(
        _in_scope(
            select(Item.fonds_code, func.count(func.distinct(LoanItem.loan_id)), func.count())
            .select_from(LoanItem).join(Loan, Loan.id == LoanItem.loan_id).join(Item, Item.id == LoanItem.item_id),
            scope, joined=True,
        ).where(lent_any).group_by(Item.fonds_code).order_by(func.count(func.distinct(LoanItem.loan_id)).desc(),
                                                          Item.fonds_code)
    ).all()  # fmt: skip

    times = select(Loan.decided_at.label("decided_at"), Loan.requested_at.label("requested_at"), Loan.id.label("id"))
    lent_loans = times.where(lent).subquery()
    wait = session.execute(
        select(func.avg(sql.seconds(lent_loans.c.decided_at, lent_loans.c.requested_at)), func.count())
    ).one()

    loan_of_event = sql.json_text(AuditEvent.details_json, "loan_id")
    first_reads = (
        select(loan_of_event.label("loan_id"), func.min(AuditEvent.time).label("first_read"))
        .where(AuditEvent.action == "items:content", AuditEvent.outcome == "ok",
               AuditEvent.time >= window.start.strftime("%Y-%m-%dT%H:%M:%S"), loan_of_event.is_not(None))
        .group_by(loan_of_event)
        .subquery()
    )  # fmt: skip
    access = session.execute(
        select(func.avg(sql.seconds_iso(first_reads.c.first_read, lent_loans.c.decided_at)), func.count())
        .select_from(lent_loans).join(first_reads, first_reads.c.loan_id == lent_loans.c.id)
    ).one()  # fmt: skip

    top_query = (
        select(LoanItem.item_id, func.count().label("n")).select_from(LoanItem).join(Loan, Loan.id == LoanItem.loan_id)
    )
    top = session.execute(
        _in_scope(top_query, scope).where(lent_any).group_by(LoanItem.item_id)
        .order_by(func.count().desc(), LoanItem.item_id).limit(TOP_ITEMS)
    ).all()  # fmt: skip
    details = {
        item.id: item for item in session.scalars(select(Item).where(Item.id.in_([row[0] for row in top])))
    }

    return {
        "computed_at": datetime.now(UTC).isoformat(),
        "months": [{"month": m, "loans": int(loans_by_month.get(m, 0)), "items": int(items_by_month.get(m, 0))}
                   for m in window.months],
        "fonds": [{"fonds": code, "loans": int(loans), "items": int(items)} for code, loans, items in fonds_rows],
        "total_loans": int(wait[1]),
        "request_to_approval_s": _seconds(wait[0]),
        "approval_to_access_s": _seconds(access[0]),
        "loans_read": int(access[1]),
        "top_items": [
            {"item_id": item_id, "loans": int(n), "title": details[item_id].title if item_id in details else "",
             "archival_code": details[item_id].archival_code if item_id in details else None,
             "fonds": details[item_id].fonds_code if item_id in details else ""}
            for item_id, n in top
        ],
    }  # fmt: skip


class Cache:
    """Computed figures by key for `seconds` (one per node, kept by NodeContext._once), thread-safe; the
    computation runs outside the lock (two requests may both compute a missing entry, which is harmless)."""

    def __init__(self, seconds: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.clock = seconds, clock
        self._entries: dict[Any, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        now = self.clock()
        with self._lock:
            found = self._entries.get(key)
            if found is not None and now - found[0] < self.seconds:
                return found[1]
        figures = compute()
        with self._lock:
            self._entries = {k: v for k, v in self._entries.items() if now - v[0] < self.seconds}
            self._entries[key] = (now, figures)
        return figures


def _lent_loans(window: Window, scope: frozenset[str] | None) -> Any:
    """The WHERE clause of the loans counted: granted, approved in the window, with an item in scope."""
    clause = and_(Loan.status.in_(LENT), Loan.decided_at.is_not(None), Loan.decided_at >= window.start)
    if scope is not None:
        # own aliases: a subquery on the outer query's tables would be correlated with it (once per row)
        link, item = aliased(LoanItem), aliased(Item)
        in_scope = select(link.loan_id).join(item, item.id == link.item_id).where(item.fonds_code.in_(scope))
        clause = and_(clause, Loan.id.in_(in_scope))
    return clause


def _in_scope(query: Select[Any], scope: frozenset[str] | None, *, joined: bool = False) -> Select[Any]:
    """Only loan_items rows of items in scope (a loan of two fonds: only its items of the caller's fonds)."""
    if scope is None:
        return query
    if not joined:
        query = query.join(Item, Item.id == LoanItem.item_id)
    return query.where(Item.fonds_code.in_(scope))


def _seconds(value: Any) -> int | None:
    """Whole seconds (julianday arithmetic is exact to about a millisecond)."""
    return None if value is None else max(0, round(float(value)))


class _Dialect:
    """The few expressions SQLite and PostgreSQL spell differently."""

    def __init__(self, name: str) -> None:
        self.postgres = name == "postgresql"

    def month(self, column: Any) -> Any:
        """The month ("2026-11") of a timestamp (SQLite keeps them as "2026-11-29 20:15:00.000000" text, in UTC)."""
        if self.postgres:
            return func.to_char(func.timezone("UTC", column), "YYYY-MM")
        return func.substr(column, 1, 7)

    def seconds(self, later: Any, earlier: Any) -> Any:
        """Seconds between two timestamp columns."""
        if self.postgres:
            return extract("epoch", later - earlier)
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0

    def seconds_iso(self, later_iso: Any, earlier: Any) -> Any:
        """Seconds from a timestamp column to an ISO text time (the audit trail's "...T...Z")."""
        if self.postgres:
            return extract("epoch", cast(later_iso, Loan.decided_at.type) - earlier)
        return (func.julianday(later_iso) - func.julianday(earlier)) * 86400.0

    def json_text(self, column: Any, key: str) -> Any:
        """A top-level text field of a JSON text column (None where absent)."""
        if self.postgres:
            return cast(column, JSON)[key].as_string()
        return func.json_extract(column, f"$.{key}")
