"""The statistics page 利用统计 (issue 11, point 7): loans per month and per fonds, the average time from
request to approval and from approval to the first read, the most lent items; as SVG bar charts drawn on
the server (no script), each with a <title>, a <desc> and its numbers in a table.

loans:read, as GET /loans beside it (approver, auditor, security admin, security auditor): the figures are
aggregates of every loan. A GET that changes nothing and writes no event. The figures of one window and
fonds scope are computed at most once a minute (node/statistics/service.py, Cache); the page says when."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from node.core import web
from node.core.context import NodeContext
from node.core.deps import get_ctx, require
from node.core.principal import Principal
from node.statistics import service as stats

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(web.page_session), Depends(web.check_csrf)], tags=["pages"]
)
Ctx = Annotated[NodeContext, Depends(get_ctx)]
LoanReader = Annotated[Principal, Depends(require("loans:read"))]

# Chart geometry (SVG user units; the stylesheet scales the SVG to the page width).
WIDTH = 720
COLUMN_HEIGHT = 220
ROW = 26
LABEL_W = 220
TOP, BOTTOM, LEFT = 24, 44, 8


@router.get("/statistics")
def statistics(
    request: Request, ctx: Ctx, principal: LoanReader, months: Annotated[int, Query(ge=1, le=stats.MAX_MONTHS)] = 12
) -> Response:
    window = stats.Window.last(months)

    def compute() -> dict[str, Any]:
        with ctx.reader() as s:
            return stats.loan_statistics(s, window, principal.fonds)

    scope = tuple(sorted(principal.fonds)) if principal.fonds is not None else None
    figures = ctx._once("statistics", stats.Cache).get((tuple(window.months), scope), compute)
    charts = {
        "months": column_chart([(m["month"], m["loans"]) for m in figures["months"]]),
        "fonds": row_chart([(f["fonds"], f["loans"]) for f in figures["fonds"]]),
        "top": row_chart([(i["archival_code"] or i["title"] or i["item_id"], i["loans"])
                            for i in figures["top_items"]]),
    }  # fmt: skip
    durations = {k: duration(figures[k]) for k in ("request_to_approval_s", "approval_to_access_s")}
    return web.render(request, "statistics/statistics.html", figures=figures, charts=charts, months=months,
                      since=window.months[0], until=window.months[-1], scope=sorted(principal.fonds or ()),
                      durations=durations)  # fmt: skip


def column_chart(points: list[tuple[str, int]]) -> dict[str, Any]:
    """Vertical bars (one per label, in order) with their value above and label below."""
    top = _scale_top(max((v for _, v in points), default=0))
    plot_h = COLUMN_HEIGHT - TOP - BOTTOM
    slot = (WIDTH - 2 * LEFT) / max(len(points), 1)
    bars = []
    for i, (label, value) in enumerate(points):
        h = plot_h * value / top if top else 0
        x = LEFT + i * slot + slot * 0.15
        bars.append({"label": label, "value": value, "x": round(x, 1), "w": round(slot * 0.7, 1),
                     "y": round(TOP + plot_h - h, 1), "h": round(h, 1), "cx": round(x + slot * 0.35, 1),
                     "show_label": len(points) <= 12 or i % ((len(points) + 11) // 12) == 0})  # fmt: skip
    return {"width": WIDTH, "height": COLUMN_HEIGHT, "base": TOP + plot_h, "bars": bars, "left": LEFT,
            "right": WIDTH - LEFT, "label_y": TOP + plot_h + 18}  # fmt: skip


def row_chart(points: list[tuple[str, int]]) -> dict[str, Any]:
    """Horizontal bars (one row per label, largest first as given) with the label left, the value right."""
    top = _scale_top(max((v for _, v in points), default=0))
    plot_w = WIDTH - LABEL_W - 60
    bars = []
    for i, (label, value) in enumerate(points):
        w = plot_w * value / top if top else 0
        y = TOP / 2 + i * ROW
        bars.append({"label": _short(label), "full": label, "value": value, "x": LABEL_W, "y": y, "w": round(w, 1),
                     "h": ROW - 8, "ty": y + ROW / 2, "vx": round(LABEL_W + w + 6, 1)})  # fmt: skip
    return {"width": WIDTH, "height": int(TOP + ROW * max(len(points), 1)), "bars": bars, "label_x": LABEL_W - 8}


def _scale_top(largest: int) -> int:
    """The value of a full bar: the largest value, at least 1 (a chart of zeros draws no bars)."""
    return max(largest, 1) if largest else 0


def _short(label: str, limit: int = 18) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def duration(seconds: float | None) -> dict[str, Any] | None:
    """A duration as (catalogue unit, number): seconds under 2 minutes, minutes under 2 hours, hours under
    2 days, days beyond."""
    if seconds is None:
        return None
    for unit, size, below in (("seconds", 1, 120), ("minutes", 60, 7200), ("hours", 3600, 172800)):
        if seconds < below:
            return {"unit": unit, "n": _number(seconds / size)}
    return {"unit": "days", "n": _number(seconds / 86400)}


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"
