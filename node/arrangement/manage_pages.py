"""The archivist's arrangement pages (issue 11): volumes and boxes (list, create), moving items between
them, and an item's metadata edit with its version history. Each form post calls the API route beside
it (node/arrangement/routes.py) with the body that route validates, so the role, the fonds check, the
service call, the ledger record and the one audit event are the API's own. (Read-only browsing by
全宗 / volume / box is node/arrangement/pages.py.)"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from node.arrangement import routes as api
from node.arrangement import service as arr
from node.audit.request import note_refusal
from node.core import web
from node.core.context import NodeContext
from node.core.deps import check_fonds, get_ctx, require
from node.core.errors import InvalidInput, NodeError, NotFound
from node.core.models import Box, Item, User, Volume
from node.core.principal import Principal

router = APIRouter(
    include_in_schema=False, dependencies=[Depends(web.page_session), Depends(web.check_csrf)], tags=["pages"]
)
Ctx = Annotated[NodeContext, Depends(get_ctx)]
Arranger = Annotated[Principal, Depends(require("items:arrange"))]
Text = Annotated[str, Form(max_length=1000)]
LISTED = 500  # volumes and boxes on the page
KEEP, TAKE_OUT = "", "-"  # the move form's choices besides a volume or box: unchanged, out of it


def _model(kind: type[BaseModel], **values: Any) -> Any:
    """The API route's body model from form values (its validation, answered as invalid_input)."""
    try:
        return kind(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(problems, reason="invalid_input") from exc


def _listing(ctx: NodeContext, principal: Principal) -> dict[str, Any]:
    with ctx.reader() as s:
        volumes = s.scalars(api._scoped(select(Volume), Volume.fonds_code, principal)
                            .order_by(Volume.fonds_code, Volume.archival_code, Volume.id).limit(LISTED)).all()
        boxes = s.scalars(api._scoped(select(Box), Box.fonds_code, principal)
                          .order_by(Box.fonds_code, Box.code).limit(LISTED)).all()  # fmt: skip
        return {"volumes": [arr.volume_view(s, v) for v in volumes], "boxes": [arr.box_view(b) for b in boxes]}


def _page(request: Request, ctx: Ctx, principal: Principal, *, error: str | None = None, status: int = 200,
          form: dict[str, Any] | None = None) -> Response:  # fmt: skip
    return web.render(request, "arrangement/manage_arrange.html", status_code=status, error=error, form=form or {},
                      **_listing(ctx, principal))  # fmt: skip


def _refused(request: Request, exc: NodeError) -> tuple[str, int]:
    note_refusal(request, exc.reason)  # the request's one event (written by the middleware) says why
    return exc.reason, exc.status


@router.get("/arrange")
def arrange(request: Request, ctx: Ctx, principal: Arranger) -> Response:
    """Volumes and boxes with the forms to make them, and the move form."""
    return _page(request, ctx, principal)


@router.post("/arrange/boxes")
def create_box(
    request: Request, ctx: Ctx, principal: Arranger, fonds: Text, code: Text, storeroom: Text = "", shelf: Text = "",
    position: Text = "",
) -> Response:  # fmt: skip
    """POST /boxes."""
    form = {"box_fonds": fonds, "box_code": code, "storeroom": storeroom, "shelf": shelf, "position": position}
    try:
        body = _model(api.BoxIn, fonds=fonds, code=code, storeroom=storeroom, shelf=shelf, position=position)
        api.create_box(body, request, ctx, principal)
    except NodeError as exc:
        error, status = _refused(request, exc)
        return _page(request, ctx, principal, error=error, status=status, form=form)
    return web.redirect("/arrange", "arrange.box_created")


@router.post("/arrange/volumes")
def create_volume(
    request: Request, ctx: Ctx, principal: Arranger, fonds: Text, category: Text, year: Text, retention: Text,
    title: Text, archival_code: Text = "", box: Text = "",
) -> Response:  # fmt: skip
    """POST /volumes."""
    form = {"volume_fonds": fonds, "category": category, "year": year, "retention": retention, "title": title,
            "archival_code": archival_code, "box": box}  # fmt: skip
    try:
        body = _model(api.VolumeIn, fonds=fonds, category=category, year=year, retention=retention, title=title,
                      archival_code=archival_code or None, box=box or None)  # fmt: skip
        api.create_volume(body, request, ctx, principal)
    except NodeError as exc:
        error, status = _refused(request, exc)
        return _page(request, ctx, principal, error=error, status=status, form=form)
    return web.redirect("/arrange", "arrange.volume_created")


def _item_id(ctx: NodeContext, ref: str) -> str:
    """An item by its id or its archival code (档号)."""
    ref = ref.strip()
    with ctx.reader() as s:
        found = s.scalar(select(Item.id).where((Item.id == ref) | (Item.archival_code == ref)))
    if found is None:
        raise NotFound(f"no item {ref}", reason="item_not_found")
    return found


@router.post("/arrange/move")
def move(
    request: Request, ctx: Ctx, principal: Arranger, item: Text, volume: Text = KEEP, box: Text = KEEP,
    force: Annotated[bool, Form()] = False,
) -> Response:  # fmt: skip
    """POST /items/{id}/move: into a volume and/or a box, or out of them ("-")."""
    form = {"item": item, "volume": volume, "box": box, "force": force}
    try:
        given = {k: (None if v == TAKE_OUT else v) for k, v in (("volume", volume), ("box", box)) if v != KEEP}
        if not given:
            raise InvalidInput("choose a volume and/or a box", reason="nothing_to_move")
        body = _model(api.MoveIn, **given, force=force)
        result = api.move_item(_item_id(ctx, item), body, request, ctx, principal)
    except NodeError as exc:
        error, status = _refused(request, exc)
        return _page(request, ctx, principal, error=error, status=status, form=form)
    return web.redirect("/arrange", "arrange.moved" if result["changed"] else "arrange.unchanged")


# -- metadata and its versions ----------------------------------------------------------------------------
def _changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[dict[str, Any]]:
    """What a version changed against the one before it: key (extra.* one by one), old value, new value."""
    if before is None:
        return []
    before, after = _flat(before), _flat(after)
    out = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            out.append({"key": key, "old": _shown(old) if key in before else None,
                        "new": _shown(new) if key in after else None})  # fmt: skip
    return out


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _names(ctx: NodeContext, user_ids: set[str]) -> dict[str, str]:
    """user id -> username, for who made each version."""
    if not user_ids:
        return {}
    with ctx.reader() as s:
        rows = s.execute(select(User.id, User.username).where(User.id.in_(sorted(user_ids))))
        return {uid: name for uid, name in rows}


def _metadata_page(request: Request, ctx: NodeContext, principal: Principal, item_id: str, *,
                   error: str | None = None, status: int = 200) -> Response:  # fmt: skip
    with ctx.reader() as s:
        item = arr.get_item(s, item_id)
        check_fonds(principal, item.fonds_code)
        views = [arr.version_view(v) for v in arr.versions(s, item)]
        placement = arr.placement_view(s, item.id)
        info = {"id": item.id, "title": item.title, "fonds": item.fonds_code, "archival_code": item.archival_code}
    names = _names(ctx, {v["created_by"] for v in views if v["created_by"]})
    history = []
    for n, view in enumerate(views):
        view["created_by"] = names.get(view["created_by"], view["created_by"])
        history.append({**view, "changes": _changes(views[n - 1]["metadata"] if n else None, view["metadata"])})
    fields = [{"key": k, "value": _shown(v), "editable": _editable(k, v)}
              for k, v in sorted(_flat(views[-1]["metadata"]).items())]  # fmt: skip
    return web.render(request, "arrangement/manage_metadata.html", status_code=status, item=info, fields=fields,
                      history=list(reversed(history)), placement=placement, error=error)  # fmt: skip


def _flat(metadata: dict[str, Any]) -> dict[str, Any]:
    """Top-level keys, and "parent.child" for the keys of an object (extra.*), as PATCH /items/{id}/metadata
    names them."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if isinstance(value, dict) and value:
            out.update({f"{key}.{child}": v for child, v in value.items()})
        else:
            out[key] = value
    return out


def _editable(key: str, value: Any) -> bool:
    return key.split(".", 1)[0] not in arr.IMMUTABLE_KEYS and not isinstance(value, dict | list)


@router.get("/arrange/items/{item_id}/metadata")
def metadata(item_id: str, request: Request, ctx: Ctx, principal: Arranger) -> Response:
    """The item's metadata as a form, and every version with what it changed (GET /items/{id}/versions)."""
    return _metadata_page(request, ctx, principal, item_id)


def _typed(text: str, like: Any) -> Any:
    """A form value in the type of the value it replaces (numbers stay numbers)."""
    if isinstance(like, bool):
        return text.strip().lower() in ("true", "1", "yes")
    if isinstance(like, int):
        try:
            return int(text.strip())
        except ValueError:
            return text
    if isinstance(like, float):
        try:
            return float(text.strip())
        except ValueError:
            return text
    return text


@router.post("/arrange/items/{item_id}/metadata")
async def edit_metadata(item_id: str, request: Request, ctx: Ctx, principal: Arranger) -> Response:
    """PATCH /items/{id}/metadata from the form: fields `field.<key>` (changed ones are set, empty ones
    removed), `remove` (keys), `new_key`/`new_value` (e.g. extra.remarks; no value removes it), `reason`."""
    form = await request.form()  # (read already by check_csrf: no second parse)
    return await run_in_threadpool(_save_metadata, item_id, request, ctx, principal, form)


def _save_metadata(item_id: str, request: Request, ctx: NodeContext, principal: Principal, form: Any) -> Response:
    try:
        with ctx.reader() as s:
            item = arr.get_item(s, item_id)
            current = _flat(json.loads(arr.versions(s, item)[-1].metadata_json))
        set_: dict[str, Any] = {}
        unset = sorted({str(k) for k in form.getlist("remove")} & set(current))
        for name, value in form.multi_items():
            if not name.startswith("field.") or not isinstance(value, str):
                continue
            key = name.removeprefix("field.")
            if key not in current or key in unset or not _editable(key, current[key]):
                continue
            if value.strip() == "":
                unset.append(key)
            elif _typed(value, current[key]) != current[key]:
                set_[key] = _typed(value, current[key])
        new_key, new_value = str(form.get("new_key") or "").strip(), str(form.get("new_value") or "")
        if new_key and new_value.strip():
            set_[new_key] = new_value
        elif new_key:
            unset.append(new_key)
        reason = str(form.get("reason") or "").strip() or None
        body = _model(api.MetadataEdit, set=set_, unset=sorted(set(unset)), reason=reason)
        api.edit_metadata(item_id, body, request, ctx, principal)
    except NodeError as exc:
        error, status = _refused(request, exc)
        if exc.reason == "item_not_found":
            raise
        return _metadata_page(request, ctx, principal, item_id, error=error, status=status)
    return web.redirect(f"/arrange/items/{item_id}/metadata", "arrange.metadata_saved")
