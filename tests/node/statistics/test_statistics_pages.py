"""利用统计 (issue 11, point 7) without a browser: the numbers on a small fixture (loans approved in two
months and two fonds, a rejected and a pending request and an old loan left out, approval and first-read
times), the SVG charts well-formed with their <title>, <desc> and data tables, the fonds scope, the roles."""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from node.core.models import ApiKey, AuditEvent, Loan, LoanItem, LoanStatus
from node.statistics import service as stats
from node.statistics.pages import duration
from node.users.service import sha256_hex
from tests.helpers.api import META, upload
from tests.helpers.people import PEOPLE_PASSWORD, People
from tests.node.core.test_web_pages import browser, last_seq, login

SVG = "{http://www.w3.org/2000/svg}"


def month_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


@pytest.fixture
def lent(api: Any, node_ctx: Any, people: People) -> dict[str, Any]:
    """Items A, B of fonds Z001 and C of Z002. L1 (A, B) approved last month after 2 h, read 30 min later
    (and again later); L2 (A, C) approved this month after 10 min, never read. Left out: a rejected and a
    pending request this month, a loan approved 14 months ago."""
    ids = {}
    for name, fonds in (("A", "Z001"), ("B", "Z001"), ("C", "Z002")):
        r = upload(api, f"item {name}".encode(), {**META, "fonds": fonds, "title": f"文书 {name}"})
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    now = datetime.now(UTC)
    this_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = (this_month - timedelta(days=1)).replace(day=10, hour=9)
    old = this_month - timedelta(days=430)
    borrower = people.ids["borrower"]
    loans = {
        "L1": (last_month, timedelta(hours=2), LoanStatus.RETURNED, ["A", "B"]),
        "L2": (this_month + timedelta(hours=1), timedelta(minutes=10), LoanStatus.APPROVED, ["A", "C"]),
        "rejected": (this_month + timedelta(hours=2), timedelta(minutes=5), LoanStatus.REJECTED, ["A"]),
        "pending": (this_month + timedelta(hours=3), None, LoanStatus.REQUESTED, ["B"]),
        "old": (old, timedelta(hours=1), LoanStatus.EXPIRED, ["C"]),
    }
    loan_ids = {}
    with node_ctx.sessions() as s, s.begin():
        for name, (requested, wait, status, items) in loans.items():
            loan_id = uuid.uuid4().hex
            loan_ids[name] = loan_id
            s.add(Loan(id=loan_id, borrower_id=borrower, purpose="port history", not_before=requested,
                       expires_at=requested + timedelta(days=7), status=status, requested_at=requested,
                       decided_at=requested + wait if wait else None))  # fmt: skip
            s.flush()
            for item in items:
                s.add(LoanItem(loan_id=loan_id, item_id=ids[item]))
        seq = s.scalar(select(func.max(AuditEvent.seq))) or 0
        decided = last_month + timedelta(hours=2)
        reads = [(loans_id, decided + after) for loans_id, after in
                 ((loan_ids["L1"], timedelta(minutes=30)), (loan_ids["L1"], timedelta(days=2)))]  # fmt: skip
        for i, (loan_id, when) in enumerate(reads, start=1):
            s.add(AuditEvent(
                id=uuid.uuid4().hex, seq=seq + i, time=when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), principal_kind="user",
                principal_id=borrower, principal_name="borrower", action="items:content",
                target=f"/items/{ids['A']}/content", outcome="ok", details_json=json.dumps({"loan_id": loan_id}),
                fonds="Z001", log_fonds="Z001/audit", prev_hash="0" * 64, hash="0" * 64,
            ))  # fmt: skip
        # a refused read of L2 is no access
        s.add(AuditEvent(
            id=uuid.uuid4().hex, seq=seq + 3, time=now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), principal_kind="user",
            principal_id=borrower, principal_name="borrower", action="items:content", target="/items/x/content",
            outcome="denied", details_json=json.dumps({"loan_id": loan_ids["L2"]}), fonds="Z001",
            log_fonds="Z001/audit", prev_hash="0" * 64, hash="0" * 64,
        ))  # fmt: skip
    return {"items": ids, "loans": loan_ids, "this": month_of(this_month), "last": month_of(last_month)}


def test_the_numbers_of_a_small_archive(node_ctx: Any, lent: dict[str, Any]) -> None:
    with node_ctx.reader() as s:
        figures = stats.loan_statistics(s, stats.Window.last(12))
    months = {m["month"]: m for m in figures["months"]}
    assert len(figures["months"]) == 12 and figures["months"][-1]["month"] == lent["this"]
    assert months[lent["last"]] == {"month": lent["last"], "loans": 1, "items": 2}
    assert months[lent["this"]] == {"month": lent["this"], "loans": 1, "items": 2}
    assert sum(m["loans"] for m in figures["months"]) == 2  # not the rejected, the pending nor the old one
    assert figures["fonds"] == [{"fonds": "Z001", "loans": 2, "items": 3}, {"fonds": "Z002", "loans": 1, "items": 1}]
    assert figures["total_loans"] == 2
    assert figures["request_to_approval_s"] == pytest.approx((7200 + 600) / 2, abs=1)
    assert figures["approval_to_access_s"] == pytest.approx(1800, abs=1)  # L1's first read; L2 never read
    assert figures["loans_read"] == 1
    top = [(i["item_id"], i["loans"]) for i in figures["top_items"]]
    assert top[0] == (lent["items"]["A"], 2) and sorted(top[1:]) == sorted([(lent["items"]["B"], 1),
                                                                            (lent["items"]["C"], 1)])  # fmt: skip
    assert figures["top_items"][0]["title"] == "文书 A" and figures["top_items"][0]["fonds"] == "Z001"

    with node_ctx.reader() as s:  # a window of 24 months takes in the old loan
        assert stats.loan_statistics(s, stats.Window.last(24))["total_loans"] == 3


def test_a_fonds_scope_sees_only_its_fonds(node_ctx: Any, lent: dict[str, Any]) -> None:
    with node_ctx.reader() as s:
        figures = stats.loan_statistics(s, stats.Window.last(12), ["Z002"])
    assert figures["total_loans"] == 1  # L2 only (it has an item of Z002)
    assert [f["fonds"] for f in figures["fonds"]] == ["Z002"]
    assert {m["month"]: m["items"] for m in figures["months"]}[lent["this"]] == 1  # C only, not A
    assert [i["item_id"] for i in figures["top_items"]] == [lent["items"]["C"]]
    assert figures["approval_to_access_s"] is None and figures["loans_read"] == 0


def svgs(html: str) -> dict[str, ET.Element]:
    found = {}
    for source in re.findall(r"<svg\b.*?</svg>", html, re.S):
        root = ET.fromstring(source)  # well-formed XML, or this raises
        found[root.get("id")] = root
    return found


def test_the_page_draws_well_formed_accessible_charts(api: Any, node_ctx: Any, lent: dict[str, Any]) -> None:
    client = browser(api)
    assert login(client, "auditor", PEOPLE_PASSWORD).status_code == 303
    before = last_seq(node_ctx)
    page = client.get("/statistics")
    assert page.status_code == 200, page.text[:500]
    assert last_seq(node_ctx) == before  # a GET page: no event
    charts = svgs(page.text)
    assert set(charts) == {"chart-months", "chart-fonds", "chart-items"}
    for chart_id, svg in charts.items():
        assert svg.get("role") == "img" and svg.get("aria-labelledby") == f"{chart_id}-title {chart_id}-desc"
        assert svg.find(f"{SVG}title").text and svg.find(f"{SVG}desc").text
    bars = {g.get("data-label"): int(g.get("data-value")) for g in charts["chart-fonds"].iter(f"{SVG}g")}
    assert bars == {"Z001": 2, "Z002": 1}
    fonds_bars = list(charts["chart-fonds"].iter(f"{SVG}g"))
    widths = {g.get("data-label"): float(g.find(f"{SVG}rect").get("width")) for g in fonds_bars}
    assert widths["Z001"] == pytest.approx(2 * widths["Z002"], abs=0.2)  # bars to scale
    months = {g.get("data-label"): int(g.get("data-value")) for g in charts["chart-months"].iter(f"{SVG}g")}
    assert len(months) == 12 and months[lent["this"]] == months[lent["last"]] == 1
    assert charts["chart-fonds"].find(f"{SVG}title").text == "各全宗借阅"  # zh-CN first
    # the numbers as tables too, and the figures
    table = page.text.split('<table id="table-fonds">', 1)[1].split("</table>", 1)[0]
    assert "<tr><td>Z001</td><td>2</td><td>3</td></tr>" in table, table
    assert 'id="request-to-approval" data-seconds="3900">65 分钟<' in page.text  # (2 h + 10 min) / 2
    assert 'id="approval-to-access" data-seconds="1800">30 分钟' in page.text
    assert 'href="/statistics"' in page.text  # in the nav
    assert client.get("/statistics", params={"months": 61}).status_code == 422


def test_an_api_key_limited_to_a_fonds_sees_only_it(api: Any, node_ctx: Any, lent: dict[str, Any]) -> None:
    key = "alk_statistics_reader_of_z002"
    with node_ctx.sessions() as s, s.begin():
        s.add(ApiKey(name="stats", key_sha256=sha256_hex(key), actions='["loans:read"]', fonds='["Z002"]'))
    page = api.get("/statistics", headers={"Authorization": f"Bearer {key}", "Accept": "text/html"})
    assert page.status_code == 200
    bars = {g.get("data-label") for g in svgs(page.text)["chart-fonds"].iter(f"{SVG}g")}
    assert bars == {"Z002"} and "Z001" not in page.text.split('id="figures"', 1)[1]
    assert 'id="total-loans">1<' in page.text


def test_an_empty_archive_draws_empty_charts(api: Any, people: People) -> None:
    client = browser(api)
    assert login(client, "approver", PEOPLE_PASSWORD).status_code == 303
    page = client.get("/statistics")
    assert page.status_code == 200 and 'id="total-loans">0<' in page.text
    assert set(svgs(page.text)) == {"chart-months"}  # no fonds or item to draw: a sentence instead
    assert page.text.count("这段时间没有借阅。") == 2


@pytest.mark.parametrize("username", ["borrower", "archivist", "sysadmin"])
def test_roles_without_loans_read_are_refused(api: Any, people: People, username: str) -> None:
    role = {"sysadmin": "system_admin"}.get(username, username)
    client = browser(api)
    assert login(client, username, people.passwords[role]).status_code == 303
    page = client.get("/statistics")
    assert page.status_code == 403 and 'data-reason="forbidden"' in page.text
    assert 'href="/statistics"' not in client.get("/").text


def test_durations_read_naturally() -> None:
    assert duration(None) is None
    assert duration(42) == {"unit": "seconds", "n": "42"}
    assert duration(1800) == {"unit": "minutes", "n": "30"}
    assert duration(3900) == {"unit": "minutes", "n": "65"}
    assert duration(9000) == {"unit": "hours", "n": "2.5"}
    assert duration(3 * 86400) == {"unit": "days", "n": "3.0"}


def test_the_window_counts_calendar_months_back() -> None:
    window = stats.Window.last(3, datetime(2026, 2, 14, 8, tzinfo=UTC))
    assert window.months == ["2025-12", "2026-01", "2026-02"] and window.start == datetime(2025, 12, 1, tzinfo=UTC)
    assert len(stats.Window.last(1000).months) == stats.MAX_MONTHS


def test_the_cache_keeps_figures_a_minute() -> None:
    clock = [100.0]
    cache = stats.Cache(60, clock=lambda: clock[0])
    calls: list[int] = []

    def compute() -> dict[str, Any]:
        calls.append(1)
        return {"n": len(calls)}

    assert cache.get("k", compute) == {"n": 1}
    clock[0] += 59
    assert cache.get("k", compute) == {"n": 1} and len(calls) == 1  # within the minute: kept
    assert cache.get("other scope", compute) == {"n": 2}  # another key computes its own
    clock[0] += 2
    assert cache.get("k", compute) == {"n": 3}  # over a minute old: computed again
