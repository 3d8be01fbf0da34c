"""Web pages of an item (issue 11, point 2): GET /records/{id}, the item page (metadata, 档号, arrangement
path, metadata versions, the four-properties report, the anchored checkpoint), "verify now" (the verifier
run on the node against its own trust root, each step shown) and the proof bundle as a download.

Same action and fonds check as GET /items/{id} beside it (items:read, `check_fonds`). The proof download is
a page route because the API does not take the session cookie (GET /items/{id}/proof is the public one).
Nothing here changes anything: verifying computes, like the public POST /verify, which is no audit event.
"""

from __future__ import annotations

import contextlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from anchor.bundles import covering_checkpoint, proof_bundle
from anchor.errors import NotAnchoredYet
from anchor.models import Log
from node.arrangement import service as arr
from node.core import web
from node.core.context import NodeContext
from node.core.deps import check_fonds, get_ctx, require
from node.core.models import Item, ItemCheck
from node.core.principal import Principal
from node.core.roles import Action
from node.ingest.routes import load_item
from node.ingest.service import item_view

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(web.page_session), Depends(web.check_csrf)], tags=["pages"]
)
Ctx = Annotated[NodeContext, Depends(get_ctx)]
Reader = Annotated[Principal, Depends(require(Action.ITEMS_READ))]
FAMILIES = ("authenticity", "integrity", "usability", "security")
# metadata keys shown in the item's head (the rest is listed under "metadata")
SHOWN_ABOVE = frozenset({"fonds", "fonds_code", "title", "category", "year", "retention", "archival_code"})


def _readable_item(ctx: NodeContext, principal: Principal, item_id: str) -> tuple[Item, Log]:
    """The item if the caller may read its fonds (404 `item_not_found`, 403 `fonds_forbidden`)."""
    item, log = load_item(ctx, item_id)
    check_fonds(principal, item.fonds_code)
    return item, log


def _anchor(s: Session, log: Log, leaf_index: int) -> dict[str, Any] | None:
    """The first confirmed checkpoint covering the record (the one its proof bundle is made against)."""
    try:
        cp = covering_checkpoint(s, log, leaf_index)
    except NotAnchoredYet:
        return None
    sub = cp.submission
    return {"tree_size": cp.tree_size, "root": bytes(cp.root).hex(), "time": cp.created_at,
            "tx_hash": sub.tx_hash if sub else None, "block_number": sub.block_number if sub else None,
            "chain_id": sub.chain_id if sub else None, "contract": sub.contract if sub else None}  # fmt: skip


def _checks(s: Session, item_id: str) -> dict[str, Any] | None:
    """The four-properties check report at filing (GET /items/{id}/checks), results grouped by family."""
    row = s.get(ItemCheck, item_id)
    if row is None:
        return None
    report = json.loads(row.report_json)
    results = report.get("results") or []
    families = [{"name": f, "results": [r for r in results if r.get("family") == f]} for f in FAMILIES]
    return {"package_id": row.package_id, "digest": row.report_sha256, "outcome": report.get("outcome"),
            "format": report.get("format"), "families": [f for f in families if f["results"]]}  # fmt: skip


def _flat(metadata: dict[str, Any]) -> list[tuple[str, str]]:
    """Metadata as (key, text) rows: nested objects (`extra`) as "extra.key"."""
    rows: list[tuple[str, str]] = []
    for key, value in sorted(metadata.items()):
        if key in SHOWN_ABOVE:
            continue
        if isinstance(value, dict):
            rows += [(f"{key}.{k}", v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                     for k, v in sorted(value.items())]  # fmt: skip
        else:
            rows.append((key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)))
    return rows


def item_page(request: Request, ctx: NodeContext, principal: Principal, item_id: str,
              verification: dict[str, Any] | None = None) -> Response:  # fmt: skip
    item, log = _readable_item(ctx, principal, item_id)
    with ctx.reader() as s:
        placement = arr.placement_view(s, item.id)
        volume = arr.get_volume(s, placement["volume_id"]) if placement["volume_id"] else None
        versions = [arr.version_view(v) for v in arr.versions(s, item)]
        anchor = _anchor(s, log, item.leaf_index)
        checks = _checks(s, item.id)
    view = item_view(item, log)
    return web.render(
        request, "ingest/item.html", item=view, metadata=_flat(view["metadata"]), placement=placement,
        volume_title=volume.title if volume else None, versions=versions, anchor=anchor, checks=checks,
        verification=verification,
    )  # fmt: skip


@router.get("/records/{item_id}")
def record(item_id: str, request: Request, ctx: Ctx, principal: Reader) -> Response:
    return item_page(request, ctx, principal, item_id)


@router.get("/records/{item_id}/verify")
def verify_now(item_id: str, request: Request, ctx: Ctx, principal: Reader) -> Response:
    """The item's proof bundle verified now by the `verifier` package against the node's trust root (GET
    /trust) and chain, with the stored file as the content: each step with its outcome. The item page with
    the result (htmx swaps in the result section only)."""
    item, log = _readable_item(ctx, principal, item_id)
    try:
        with ctx.reader() as s:
            bundle = proof_bundle(s, log, item.leaf_index)
    except NotAnchoredYet:
        return item_page(request, ctx, principal, item_id, verification={"anchored": False})
    path = ctx.blobs.path_for(item.content_sha256)
    with open(path, "rb") if path.exists() else contextlib.nullcontext() as stream:
        result = ctx.verify_proof(bundle, content=stream)
    return item_page(request, ctx, principal, item_id, verification={"anchored": True, **result.to_dict()})


@router.get("/records/{item_id}/proof")
def proof_download(item_id: str, ctx: Ctx, principal: Reader) -> Response:
    """The proof bundle (as GET /items/{id}/proof) as a file to keep and to check offline
    (`archive-ledger verify`). 409 `not_anchored` while no confirmed checkpoint covers the item."""
    item, log = _readable_item(ctx, principal, item_id)
    with ctx.reader() as s:
        bundle = proof_bundle(s, log, item.leaf_index)
    body = json.dumps(bundle, ensure_ascii=False, indent=1)
    return Response(body, media_type="application/json",
                    headers={"content-disposition": f'attachment; filename="proof-{item.id}.json"'})  # fmt: skip
