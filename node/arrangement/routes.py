"""Arrangement (件/卷/盒) and metadata edits after filing over HTTP (node/arrangement/service.py does the work).

Writes need items:arrange (archivists), reads items:read; every write is an audit event committed with
its change, and every change of an item's placement or metadata is a record in the fonds' log."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select

from anchor.bundles import proof_bundle
from anchor.models import Log
from node.arrangement import service as arr
from node.arrangement.schemas import (
    BoxDetail,
    BoxList,
    BoxView,
    ItemArrangement,
    MetadataEdited,
    MoveResult,
    VersionList,
    VolumeDetail,
    VolumeItems,
    VolumeList,
    VolumeView,
)
from node.audit.middleware import audited
from node.core.context import NodeContext
from node.core.deps import check_fonds, get_ctx, require
from node.core.errors import InvalidInput
from node.core.models import Box, Item, Volume
from node.core.principal import Principal
from node.core.schemas import ProofBundle
from node.core.types import Bool, JsonScalar, Offset, PathInt, YearFilter
from node.ingest.service import RETENTION_ALIASES, item_view

router = APIRouter(tags=["arrangement"])
Ctx = Annotated[NodeContext, Depends(get_ctx)]
Arranger = Annotated[Principal, Depends(require("items:arrange"))]
Reader = Annotated[Principal, Depends(require("items:read"))]
FONDS_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


def _nfc(value: Any) -> Any:
    return unicodedata.normalize("NFC", value).strip() if isinstance(value, str) else value


def _retention(value: Any) -> str:
    key = _nfc(str(value)).lower()
    if key not in RETENTION_ALIASES:
        raise ValueError("retention must be permanent (永久, Y), 30y (30年, D30) or 10y (10年, D10)")
    return RETENTION_ALIASES[key]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        return _nfc(value)


class BoxIn(_Body):
    fonds: str = Field(min_length=1, max_length=64, pattern=FONDS_PATTERN)
    code: str = Field(min_length=1, max_length=128)
    storeroom: str = Field(default="", max_length=200)
    shelf: str = Field(default="", max_length=100)
    position: str = Field(default="", max_length=100)


class BoxPatch(_Body):
    code: str | None = Field(default=None, min_length=1, max_length=128)
    storeroom: str | None = Field(default=None, max_length=200)
    shelf: str | None = Field(default=None, max_length=100)
    position: str | None = Field(default=None, max_length=100)


class VolumeIn(_Body):
    fonds: str = Field(min_length=1, max_length=64, pattern=FONDS_PATTERN)
    category: str = Field(min_length=1, max_length=64)
    year: int = Field(ge=1000, le=2999)
    retention: str
    title: str = Field(min_length=1, max_length=1000)
    archival_code: str | None = Field(default=None, min_length=1, max_length=128)
    box: str | None = None

    @field_validator("retention")
    @classmethod
    def _ret(cls, value: str) -> str:
        return _retention(value)


class VolumePatch(_Body):
    category: str | None = Field(default=None, min_length=1, max_length=64)
    year: int | None = Field(default=None, ge=1000, le=2999)
    retention: str | None = None
    title: str | None = Field(default=None, min_length=1, max_length=1000)
    archival_code: str | None = Field(default=None, min_length=1, max_length=128)
    box: str | None = None  # null takes the volume out of its box

    @field_validator("retention")
    @classmethod
    def _ret(cls, value: str | None) -> str | None:
        return None if value is None else _retention(value)


class MoveIn(_Body):
    volume: str | None = None  # null: out of its volume; absent: unchanged
    box: str | None = None
    force: Bool = False


class MetadataEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    set: dict[str, JsonScalar] = Field(default_factory=dict, max_length=100)
    unset: list[str] = Field(default_factory=list, max_length=100)
    reason: str | None = Field(default=None, max_length=2000)


def _changes(body: BaseModel, rename: dict[str, str] | None = None) -> dict[str, Any]:
    """The fields the client sent (null included: it clears), under the model's column names."""
    rename = rename or {}
    return {rename.get(k, k): getattr(body, k) for k in body.model_fields_set}


def _not_null(changes: dict[str, Any], *nullable: str) -> None:
    bad = [k for k, v in changes.items() if v is None and k not in nullable]
    if bad:
        raise InvalidInput(f"{', '.join(bad)} cannot be null", reason="invalid_input")


def _scoped(query: Any, column: Any, principal: Principal) -> Any:
    return query if principal.fonds is None else query.where(column.in_(sorted(principal.fonds)))


# -- boxes -------------------------------------------------------------------------------------------
@router.post("/boxes", status_code=201, response_model=BoxView)
def create_box(body: BoxIn, request: Request, ctx: Ctx, principal: Arranger) -> dict[str, Any]:
    check_fonds(principal, body.fonds)
    details: dict[str, Any] = {"code": body.code}
    with audited(ctx, request, "/boxes", details, body.fonds) as s:
        box = arr.create_box(s, body.fonds, body.code, body.storeroom, body.shelf, body.position)
        details["box_id"] = box.id  # the event is written when the block ends
        return arr.box_view(box)


@router.get("/boxes", response_model=BoxList)
def list_boxes(
    ctx: Ctx, principal: Reader, fonds: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:  # fmt: skip
    query = _scoped(select(Box), Box.fonds_code, principal)
    if fonds is not None:
        query = query.where(Box.fonds_code == fonds)
    with ctx.reader() as s:
        total = s.scalar(select(func.count()).select_from(query.subquery()))
        rows = s.scalars(query.order_by(Box.fonds_code, Box.code).limit(limit).offset(offset)).all()
        return {"total": total, "boxes": [arr.box_view(b) for b in rows]}


@router.get("/boxes/{box_id}", response_model=BoxDetail)
def get_box(box_id: str, ctx: Ctx, principal: Reader) -> dict[str, Any]:
    from node.core.models import ItemPlacement

    with ctx.reader() as s:
        box = arr.get_box(s, box_id)
        check_fonds(principal, box.fonds_code)
        volumes = s.scalars(select(Volume).where(Volume.box_id == box.id).order_by(Volume.archival_code, Volume.id))
        items = s.scalars(select(ItemPlacement.item_id).where(ItemPlacement.box_id == box.id).order_by(
            ItemPlacement.item_id))  # fmt: skip
        return {**arr.box_view(box), "volumes": [arr.volume_view(s, v) for v in volumes], "items": list(items)}


@router.patch("/boxes/{box_id}", response_model=BoxView)
def update_box(box_id: str, body: BoxPatch, request: Request, ctx: Ctx, principal: Arranger) -> dict[str, Any]:
    changes = _changes(body)
    _not_null(changes, "storeroom", "shelf", "position")
    changes = {k: ("" if v is None else v) for k, v in changes.items()}
    with ctx.reader() as s:
        fonds = arr.get_box(s, box_id).fonds_code
    check_fonds(principal, fonds)
    with audited(ctx, request, f"/boxes/{box_id}", {"changes": changes}, fonds) as s:
        return arr.box_view(arr.update_box(s, arr.get_box(s, box_id), changes))


# -- volumes -----------------------------------------------------------------------------------------
@router.post("/volumes", status_code=201, response_model=VolumeView)
def create_volume(body: VolumeIn, request: Request, ctx: Ctx, principal: Arranger) -> dict[str, Any]:
    check_fonds(principal, body.fonds)
    data = {**body.model_dump(exclude={"box"}), "box_id": body.box}
    details: dict[str, Any] = {"volume": data}
    with audited(ctx, request, "/volumes", details, body.fonds) as s:
        volume = arr.create_volume(s, data, principal.id)
        details["volume_id"] = volume.id
        return arr.volume_view(s, volume)


@router.get("/volumes", response_model=VolumeList)
def list_volumes(
    ctx: Ctx, principal: Reader, fonds: str | None = None, category: str | None = None, year: YearFilter = None,
    box: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:  # fmt: skip
    query = _scoped(select(Volume), Volume.fonds_code, principal)
    for column, value in ((Volume.fonds_code, fonds), (Volume.category, category), (Volume.year, year),
                          (Volume.box_id, box)):  # fmt: skip
        if value is not None:
            query = query.where(column == value)
    with ctx.reader() as s:
        total = s.scalar(select(func.count()).select_from(query.subquery()))
        rows = s.scalars(query.order_by(Volume.fonds_code, Volume.archival_code, Volume.id).limit(limit)
                         .offset(offset)).all()  # fmt: skip
        return {"total": total, "volumes": [arr.volume_view(s, v) for v in rows]}


@router.get("/volumes/{volume_id}", response_model=VolumeDetail)
def get_volume(volume_id: str, ctx: Ctx, principal: Reader) -> dict[str, Any]:
    with ctx.reader() as s:
        volume = arr.get_volume(s, volume_id)
        check_fonds(principal, volume.fonds_code)
        return {**arr.volume_view(s, volume), "history": arr.arrangement_history(s, "volume", volume.id)}


@router.patch("/volumes/{volume_id}", response_model=VolumeView)
def update_volume(volume_id: str, body: VolumePatch, request: Request, ctx: Ctx, principal: Arranger) -> dict[str, Any]:
    changes = _changes(body, {"box": "box_id"})
    _not_null(changes, "archival_code", "box_id")
    with ctx.reader() as s:
        fonds = arr.get_volume(s, volume_id).fonds_code
    check_fonds(principal, fonds)
    target = f"/volumes/{volume_id}"
    with audited(ctx, request, target, {"changes": changes}, fonds) as s:
        volume = arr.update_volume(s, arr.get_volume(s, volume_id), changes, principal.id)
        return arr.volume_view(s, volume)


@router.get("/volumes/{volume_id}/items", response_model=VolumeItems)
def volume_items(volume_id: str, ctx: Ctx, principal: Reader) -> dict[str, Any]:
    with ctx.reader() as s:
        volume = arr.get_volume(s, volume_id)
        check_fonds(principal, volume.fonds_code)
        ids = arr.volume_item_ids(s, volume.id)
        items = {i.id: i for i in s.scalars(select(Item).where(Item.id.in_(ids)))}
        return {"volume": arr.volume_view(s, volume), "items": [item_view(items[i]) for i in ids]}


# -- items: placement, metadata versions -------------------------------------------------------------
@router.post("/items/{item_id}/move", response_model=MoveResult)
def move_item(item_id: str, body: MoveIn, request: Request, ctx: Ctx, principal: Arranger) -> dict[str, Any]:
    """Body: `volume` and/or `box` (an id, or null to take the item out); `force` to put an item in a
    volume of another category, year or retention."""
    given = _changes(body)
    kwargs = {k: given[k] for k in ("volume", "box") if k in given}
    with ctx.reader() as s:
        fonds = arr.get_item(s, item_id).fonds_code
    check_fonds(principal, fonds)
    target = f"/items/{item_id}"
    with audited(ctx, request, target, {"move": kwargs, "force": body.force}, fonds) as s:
        item = arr.get_item(s, item_id)
        _placement, record = arr.move_item(
            s, item, kwargs.get("volume", arr.UNSET), kwargs.get("box", arr.UNSET), force=body.force, by=principal.id
        )
        return {"item_id": item.id, "changed": record is not None, "leaf_index": record.leaf_index if record else None,
                **arr.placement_view(s, item.id)}  # fmt: skip


@router.get("/items/{item_id}/arrangement", response_model=ItemArrangement)
def item_arrangement(item_id: str, ctx: Ctx, principal: Reader) -> dict[str, Any]:
    """Where the item is arranged now, and every `item.arranged` record of it (leaf index, arrangement)."""
    with ctx.reader() as s:
        item = arr.get_item(s, item_id)
        check_fonds(principal, item.fonds_code)
        return {"item_id": item.id, **arr.placement_view(s, item.id),
                "history": arr.arrangement_history(s, "item", item.id)}  # fmt: skip


@router.patch("/items/{item_id}/metadata", response_model=MetadataEdited)
def edit_metadata(item_id: str, body: MetadataEdit, request: Request, ctx: Ctx, principal: Arranger) -> dict[str, Any]:
    """A new metadata version: `set` (key or "extra.key" -> value, null removes), `unset` (keys),
    `reason`. Appends an `item.metadata_updated` record; the earlier records stay provable."""
    if not body.set and not body.unset:
        raise InvalidInput("nothing to change: give set and/or unset", reason="nothing_to_change")
    with ctx.reader() as s:
        fonds = arr.get_item(s, item_id).fonds_code
    check_fonds(principal, fonds)
    details: dict[str, Any] = {"set": body.set, "unset": body.unset, "reason": body.reason}
    with audited(ctx, request, f"/items/{item_id}/metadata", details, fonds) as s:
        item = arr.get_item(s, item_id)
        row, changed = arr.edit_metadata(s, item, body.set, body.unset, body.reason, principal.id)
        details.update(version=row.version, changed=changed)
        return {"item": item_view(item, s.get(Log, item.log_pk)), "changed": changed, **arr.version_view(row)}


@router.get("/items/{item_id}/versions", response_model=VersionList)
def item_versions(item_id: str, ctx: Ctx, principal: Reader) -> dict[str, Any]:
    with ctx.reader() as s:
        item = arr.get_item(s, item_id)
        check_fonds(principal, item.fonds_code)
        return {"item_id": item.id, "versions": [arr.version_view(v) for v in arr.versions(s, item)]}


@router.get("/items/{item_id}/versions/{version}/proof", response_model=ProofBundle)
def version_proof(
    item_id: str, version: PathInt, ctx: Ctx, against: Literal["first", "latest"] = "first"
) -> dict[str, Any]:
    """The proof bundle of one metadata version's record (public, like GET /items/{id}/proof, which
    serves version 1, the ingest record). 409 while no confirmed checkpoint covers it."""
    with ctx.reader() as s:
        item = arr.get_item(s, item_id)
        row = arr.version(s, item, version)
        return proof_bundle(s, s.get(Log, item.log_pk), row.leaf_index, against)  # type: ignore[arg-type]
