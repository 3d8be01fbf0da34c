"""Web page of search (issue 11, point 2): GET /find, the borrower's search with facets and highlights.

The page is GET /search in HTML: the same action (items:read), the same service call with the caller's
visibility (permissions are part of the engine's query, so results and facet counts hold only what the
caller may see) and the same audit: `audit_as(items:search)`, each search counted by the search audit
(node/search/service.py, SearchAudit: the first of a caller's window is an event, the rest one aggregate).
A GET form, so the URL of a result page can be shared; facet links narrow the current query.
"""

from __future__ import annotations

import html
import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

from node.audit.request import request_audit
from node.core import web
from node.core.context import NodeContext
from node.core.deps import audit_as, get_ctx, require
from node.core.principal import Principal
from node.core.roles import Action
from node.core.types import YearFilter
from node.search import service as search

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(web.page_session), Depends(web.check_csrf)], tags=["pages"]
)
Ctx = Annotated[NodeContext, Depends(get_ctx)]
Reader = Annotated[Principal, Depends(require(Action.ITEMS_READ))]
PAGE_SIZE = 20
MAX_PAGE = search.MAX_OFFSET // PAGE_SIZE + 1
FACETS = ("fonds", "category", "year", "retention", "classification", "open")
FILTERS = ("fonds", "category", "year_from", "year_to", "retention", "classification", "open", "volume", "box")
FACET_VALUES_SHOWN = 12
# highlight fields shown under a hit's title and code, in this order (the service's META_FIELDS_SHOWN + text)
SNIPPET_FIELDS = ("author", "doc_number", "keywords", "remarks", "text")
_MARK = re.compile(r"(<mark>|</mark>)")


def marks_only(marked: str) -> Markup:
    """A highlight of the service as safe HTML: its <mark> pairs kept, everything else escaped again (the
    service escapes already; this page does not rely on it, so no other tag can ever come through)."""
    out, open_mark = [], False
    for part in _MARK.split(marked):
        if part == "<mark>" and not open_mark:
            out.append("<mark>")
            open_mark = True
        elif part == "</mark>" and open_mark:
            out.append("</mark>")
            open_mark = False
        elif part not in ("<mark>", "</mark>"):
            out.append(str(escape(html.unescape(part))))
    if open_mark:
        out.append("</mark>")
    return Markup("".join(out))


def label_of(lang: str, kind: str, value: str) -> str:
    """A facet value as people read it: retention and open status from the catalogue, others as stored."""
    key = f"search.{kind}.{value}"
    return web.translate(lang, key) if kind in ("retention", "open") and key in web.catalogue(lang) else value


def _url(params: dict[str, Any], **changes: Any) -> str:
    merged = {**params, **changes}
    return "/find?" + urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def facet_links(answer: dict[str, Any], params: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """Per facet: its values (most frequent first) with counts and the link that narrows the query to it."""
    out = []
    for name in FACETS:
        counts = answer["facets"].get(name) or {}
        values = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:FACET_VALUES_SHOWN]
        links = []
        for value, count in values:
            value = str(value)
            narrowed = {"year_from": value, "year_to": value} if name == "year" else {name: value}
            active = all(str(params.get(k) or "") == v for k, v in narrowed.items())
            links.append({"value": value, "label": label_of(lang, name, value), "count": count, "active": active,
                          "url": _url(params, page=None, **narrowed)})  # fmt: skip
        if links:
            out.append({"name": name, "values": links})
    return out


def active_filters(params: dict[str, Any], lang: str) -> list[dict[str, str]]:
    """The filters in force, each with the link that drops it."""
    out = []
    for name in FILTERS:
        value = params.get(name)
        if value not in (None, ""):
            kind = "year" if name in ("year_from", "year_to") else name
            out.append({"name": name, "label": label_of(lang, kind, str(value)), "value": str(value),
                        "url": _url(params, page=None, **{name: None})})  # fmt: skip
    return out


def hit_view(hit: dict[str, Any]) -> dict[str, Any]:
    """A result row: title and 档号 highlighted where they matched (escaped otherwise), the other snippets."""
    marks = hit["highlights"]
    title = marks_only(marks["title"]) if "title" in marks else escape(hit["title"])
    code = hit["reference_code"] or ""
    shown_code = marks_only(marks["reference_code"]) if "reference_code" in marks else escape(code)
    snippets = [(name, marks_only(marks[name])) for name in SNIPPET_FIELDS if name in marks]
    return {**hit, "title_html": title, "code_html": shown_code, "snippets": snippets}


@router.get("/find", dependencies=[Depends(audit_as(search.SEARCH_ACTION))])
async def find(
    request: Request,
    ctx: Ctx,
    principal: Reader,
    q: Annotated[str | None, Query(max_length=1000)] = None,
    fonds: Annotated[str | None, Query(max_length=1000)] = None,
    category: Annotated[str | None, Query(max_length=1000)] = None,
    year_from: YearFilter = None,
    year_to: YearFilter = None,
    retention: Annotated[str | None, Query(max_length=200)] = None,
    classification: Annotated[str | None, Query(max_length=200)] = None,
    open: Annotated[str | None, Query(max_length=16)] = None,
    volume: Annotated[str | None, Query(max_length=128)] = None,
    box: Annotated[str | None, Query(max_length=128)] = None,
    sort: Annotated[str, Query(pattern="^(relevance|date|reference_code)$")] = "relevance",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    """The search form; with a query or a filter, the results (highlights, facets, pages). A page without
    either is only the form: nothing is searched, nothing is audited."""
    lang = web.language_of(request)
    filters = {"fonds": fonds, "category": category, "year_from": year_from, "year_to": year_to,
               "retention": retention, "classification": classification, "open": open, "volume": volume,
               "box": box}  # fmt: skip
    params: dict[str, Any] = {"q": q or "", **filters, "sort": None if sort == "relevance" else sort}
    searched = q is not None or any(v not in (None, "") for v in filters.values())
    if not searched:  # the empty form searched nothing (the middleware still covers /find's refusals)
        request_audit(request).nothing_to_record()
        return web.render(request, "search/find.html", q="", searched=False, answer=None, hits=[], facets=[],
                          active=[], sort=sort, page=1, pages=0, prev_url=None, next_url=None,
                          params=params)  # fmt: skip
    offset = (page - 1) * PAGE_SIZE
    service = ctx.search()

    def run() -> dict[str, Any]:
        visibility = search.visibility_for(principal, lambda: search.borrower_items(ctx, principal))
        return service.search(visibility, q=q or "", sort=sort, limit=PAGE_SIZE, offset=offset, **filters)

    answer = await run_in_threadpool(run)
    used = {k: v for k, v in filters.items() if v is not None}
    details = {"method": "GET", "route": "/find", "q": q or "", "filters": used, "sort": sort, "offset": offset,
               "limit": PAGE_SIZE, "total": answer["total"]}  # fmt: skip
    events = service.audit.add(principal, request.client.host if request.client else None, details)
    await run_in_threadpool(search.write_search_events, ctx, events)
    request_audit(request).recorded_elsewhere()  # counted in the search audit, as GET /search: nothing more
    last = min(MAX_PAGE, max(1, -(-answer["total"] // PAGE_SIZE)))
    return web.render(
        request, "search/find.html", q=q or "", searched=True, answer=answer,
        hits=[hit_view(h) for h in answer["items"]], facets=facet_links(answer, params, lang),
        active=active_filters(params, lang), sort=sort, page=page, pages=last,
        prev_url=_url(params, page=page - 1) if page > 1 else None,
        next_url=_url(params, page=page + 1) if page < last else None, params=params,
    )  # fmt: skip
