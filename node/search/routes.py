"""GET /search: full-text and catalogue search, answered with what the caller may see (node/search/service.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from node.audit.request import request_audit
from node.core.context import NodeContext
from node.core.deps import audit_as, get_ctx, require
from node.core.principal import Principal
from node.core.roles import Action
from node.core.types import YearFilter
from node.search import service as search
from node.search.schemas import SearchAnswer

router = APIRouter(tags=["search"])
Ctx = Annotated[NodeContext, Depends(get_ctx)]


@router.get("/search", dependencies=[Depends(audit_as(search.SEARCH_ACTION))], response_model=SearchAnswer)
async def search_items(
    request: Request,
    ctx: Ctx,
    principal: Annotated[Principal, Depends(require(Action.ITEMS_READ))],
    q: Annotated[str, Query(max_length=1000, description="Words, phrases, AND/OR/NOT, 题名: 责任者: 档号: 文号:")] = "",
    fonds: Annotated[str | None, Query(max_length=1000, description="全宗 (comma-separated for several)")] = None,
    category: Annotated[str | None, Query(max_length=1000, description="门类")] = None,
    year_from: YearFilter = None,
    year_to: YearFilter = None,
    retention: Annotated[str | None, Query(max_length=200, description="保管期限: permanent, 30y, 10y")] = None,
    classification: Annotated[str | None, Query(max_length=200, description="密级")] = None,
    open: Annotated[str | None, Query(max_length=16, description="open status: open | closed")] = None,
    box: Annotated[str | None, Query(max_length=128, description="box id or code")] = None,
    volume: Annotated[str | None, Query(max_length=128, description="volume id or reference code")] = None,
    sort: Annotated[str, Query(description="relevance | date | reference_code")] = "relevance",
    limit: Annotated[int, Query(ge=1, le=search.MAX_LIMIT)] = 20,
    offset: Annotated[int, Query(ge=0, le=search.MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Catalogue metadata of the fonds the caller may browse; full-text hits and text snippets only for
    items whose content the caller may read (permissions are part of the engine's query, so totals and
    facets count only what the caller may see). `highlights` are HTML: matches in <mark>, the rest escaped."""
    service = ctx.search()

    def run() -> dict[str, Any]:
        visibility = search.visibility_for(principal, lambda: search.borrower_items(ctx, principal))
        return service.search(
            visibility, q=q, fonds=fonds, category=category, year_from=year_from, year_to=year_to,
            retention=retention, classification=classification, open=open, box=box, volume=volume, sort=sort,
            limit=limit, offset=offset,
        )  # fmt: skip

    answer = await run_in_threadpool(run)
    filters = {k: v for k, v in {"fonds": fonds, "category": category, "year_from": year_from, "year_to": year_to,
               "retention": retention, "classification": classification, "open": open, "box": box,
               "volume": volume}.items() if v is not None}  # fmt: skip
    details = {"method": "GET", "route": "/search", "q": q, "filters": filters, "sort": sort, "offset": offset,
               "limit": limit, "total": answer["total"]}  # fmt: skip
    events = service.audit.add(principal, request.client.host if request.client else None, details)
    await run_in_threadpool(search.write_search_events, ctx, events)
    request_audit(request).recorded_elsewhere()  # recorded (or aggregated) here; the middleware records refusals only
    return answer
