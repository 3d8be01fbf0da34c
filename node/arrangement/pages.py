"""Web pages of arrangement for readers (issue 11, point 2): browse by 全宗 / volume (卷) / box (盒).

GET /browse lists the fonds the caller may see; GET /browse/{fonds} its volumes, boxes and the items not in
a volume; the volume and box pages list what they hold. Same action and fonds scope as the API reads
beside them (items:read, `check_fonds`: a fonds-limited caller gets 403 for another fonds), the same
views of the arrangement service (node/arrangement/service.py). Long lists come a page at a time.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from anchor.models import Log
from node.arrangement import service as arr
from node.arrangement.routes import FONDS_PATTERN, _scoped
from node.core import web
from node.core.context import NodeContext
from node.core.deps import check_fonds, get_ctx, require
from node.core.errors import NotFound
from node.core.models import Box, Item, ItemPlacement, Volume
from node.core.principal import Principal
from node.core.roles import Action
from node.ingest.service import item_view

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(web.page_session), Depends(web.check_csrf)], tags=["pages"]
)
Ctx = Annotated[NodeContext, Depends(get_ctx)]
Reader = Annotated[Principal, Depends(require(Action.ITEMS_READ))]
Fonds = Annotated[str, Path(max_length=64, pattern=FONDS_PATTERN)]
PageNo = Annotated[int, Query(ge=1, le=100_000)]
PAGE = 50
AUDIT_SUFFIX = "/audit"


def _pager(page: int, total: int) -> dict[str, int]:
    return {"page": page, "pages": max(1, -(-total // PAGE)), "total": total}


def _items(s: Session, query: Any, page: int, order: tuple[Any, ...] = (Item.archival_code, Item.id),
           total: int | None = None) -> tuple[list[dict[str, Any]], int]:  # fmt: skip
    """One page of items (archival-code order) and the total of `query` (a select of Item)."""
    if total is None:
        total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = s.scalars(query.order_by(*order).limit(PAGE).offset((page - 1) * PAGE)).all()
    return [item_view(i) for i in rows], total


def _members(s: Session, placed: Any, page: int) -> tuple[list[dict[str, Any]], int]:
    """One page of the items a volume or box holds (`placed`: the ItemPlacement condition)."""
    return _items(s, select(Item).join(ItemPlacement, ItemPlacement.item_id == Item.id).where(placed), page)


def _in_fonds(principal: Principal, fonds: str, row: Any, what: str) -> Any:
    """A volume or box of the path's fonds, which the caller may see (403 for another fonds, 404 when the
    row belongs to another fonds than the path says)."""
    check_fonds(principal, row.fonds_code)
    if row.fonds_code != fonds:
        raise NotFound(f"no {what} {row.id} in fonds {fonds}", reason=f"{what}_not_found")
    return row


@router.get("/browse")
def fonds_list(request: Request, ctx: Ctx, principal: Reader) -> Response:
    """The fonds the caller may see, with how many items, volumes and boxes each holds."""
    with ctx.reader() as s:
        logs = [c for c in s.scalars(_scoped(select(Log.fonds_code), Log.fonds_code, principal))
                if not c.endswith(AUDIT_SUFFIX)]  # fmt: skip
        items = dict(s.execute(_scoped(select(Item.fonds_code, func.count()), Item.fonds_code, principal)
                               .group_by(Item.fonds_code)).all())  # fmt: skip
        volumes = dict(s.execute(_scoped(select(Volume.fonds_code, func.count()), Volume.fonds_code, principal)
                                 .group_by(Volume.fonds_code)).all())  # fmt: skip
        boxes = dict(s.execute(_scoped(select(Box.fonds_code, func.count()), Box.fonds_code, principal)
                               .group_by(Box.fonds_code)).all())  # fmt: skip
    codes = sorted(set(logs) | set(items) | set(volumes) | set(boxes))
    rows = [{"code": c, "items": items.get(c, 0), "volumes": volumes.get(c, 0), "boxes": boxes.get(c, 0)}
            for c in codes]  # fmt: skip
    return web.render(request, "arrangement/fonds_list.html", fonds=rows)


def _known_fonds(s: Session, fonds: str) -> None:
    if not (s.scalar(select(Log.id).where(Log.fonds_code == fonds))
            or s.scalar(select(Volume.id).where(Volume.fonds_code == fonds).limit(1))
            or s.scalar(select(Box.id).where(Box.fonds_code == fonds).limit(1))):  # fmt: skip
        raise NotFound(f"no fonds {fonds}", reason="fonds_not_found")


@router.get("/browse/{fonds}")
def fonds_page(
    fonds: Fonds, request: Request, ctx: Ctx, principal: Reader, vpage: PageNo = 1, bpage: PageNo = 1,
    page: PageNo = 1,
) -> Response:  # fmt: skip
    """A fonds: its volumes, its boxes, and its items not in any volume (each list a page at a time)."""
    check_fonds(principal, fonds)
    with ctx.reader() as s:
        _known_fonds(s, fonds)
        vq = select(Volume).where(Volume.fonds_code == fonds)
        vtotal = s.scalar(select(func.count()).select_from(vq.subquery())) or 0
        volumes = [arr.volume_view(s, v) for v in s.scalars(
            vq.order_by(Volume.archival_code, Volume.id).limit(PAGE).offset((vpage - 1) * PAGE))]  # fmt: skip
        bq = select(Box).where(Box.fonds_code == fonds)
        btotal = s.scalar(select(func.count()).select_from(bq.subquery())) or 0
        boxes = [arr.box_view(b) for b in s.scalars(bq.order_by(Box.code).limit(PAGE).offset((bpage - 1) * PAGE))]
        # Items not in a volume, by 门类, 年度, 档号: the order of the (fonds, category, year) index, so a page of
        # a fonds of 300,000 items sorts one category-year at a time; the total is the fonds' items less those
        # in its volumes (an item's volume is of its own fonds), two index counts.
        in_volume = exists().where(ItemPlacement.item_id == Item.id, ItemPlacement.volume_id.is_not(None))
        loose = select(Item).where(Item.fonds_code == fonds, ~in_volume)
        filed = s.scalar(select(func.count()).select_from(Item).where(Item.fonds_code == fonds)) or 0
        in_volumes = select(func.count()).select_from(ItemPlacement).join(Volume, Volume.id == ItemPlacement.volume_id)
        arranged = s.scalar(in_volumes.where(Volume.fonds_code == fonds)) or 0
        items, itotal = _items(s, loose, page, (Item.category, Item.year, Item.archival_code, Item.id),
                               filed - arranged)  # fmt: skip
    return web.render(
        request, "arrangement/fonds.html", fonds=fonds, volumes=volumes, boxes=boxes, items=items,
        vpager=_pager(vpage, vtotal), bpager=_pager(bpage, btotal), ipager=_pager(page, itotal),
    )  # fmt: skip


@router.get("/browse/{fonds}/volumes/{volume_id}")
def volume_page(fonds: Fonds, volume_id: str, request: Request, ctx: Ctx, principal: Reader,
                page: PageNo = 1) -> Response:  # fmt: skip
    """A volume (卷): its description, its box, its items in archival-code order."""
    with ctx.reader() as s:
        volume = _in_fonds(principal, fonds, arr.get_volume(s, volume_id), "volume")
        view = arr.volume_view(s, volume)
        items, total = _members(s, ItemPlacement.volume_id == volume.id, page)
    return web.render(request, "arrangement/volume.html", fonds=fonds, volume=view, items=items,
                      ipager=_pager(page, total))  # fmt: skip


@router.get("/browse/{fonds}/boxes/{box_id}")
def box_page(fonds: Fonds, box_id: str, request: Request, ctx: Ctx, principal: Reader,
             page: PageNo = 1) -> Response:  # fmt: skip
    """A box (盒): where it stands, the volumes and the items in it."""
    with ctx.reader() as s:
        box = _in_fonds(principal, fonds, arr.get_box(s, box_id), "box")
        volumes = [arr.volume_view(s, v) for v in s.scalars(
            select(Volume).where(Volume.box_id == box.id).order_by(Volume.archival_code, Volume.id))]  # fmt: skip
        items, total = _members(s, ItemPlacement.box_id == box.id, page)
    return web.render(request, "arrangement/box.html", fonds=fonds, box=arr.box_view(box), volumes=volumes,
                      items=items, ipager=_pager(page, total))  # fmt: skip
