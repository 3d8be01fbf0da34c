"""Arrangement (件/卷/盒) and metadata edits after filing, each change a provable record in the fonds' log.

- Boxes (盒) hold items and volumes of one fonds and stand somewhere in a storeroom (storeroom, shelf,
  position). Box changes are audit events only: a box is a container, not an archival description.
- Volumes (卷) group items of one fonds (usually one category, year and retention, DA/T 22); a volume
  may sit in a box. Creating or changing a volume appends a `volume.arranged` record (item_id = the
  volume id, content_sha256 = SHA-256 of the canonical list of its item ids, size = its item count,
  metadata_sha256 = digest of the volume's arrangement object).
- An item's placement (volume and/or box) changes only by a move, which appends an `item.arranged`
  record (content_sha256/size of the item, metadata_sha256 = digest of the arrangement object, kept
  in `arrangement_records` so anyone can recompute it). An item moved into a volume takes the
  volume's box unless a box is given; moving a volume to another box moves its items that sat in the
  volume's old box, each with its own `item.arranged` record.
- A metadata edit appends an `item.metadata_updated` record (same content_sha256, new
  metadata_sha256); the item row shows the newest metadata, `item_versions` keeps every version with
  its leaf index. Version 1 is the ingest record, which stays where it was (the item's `leaf_index`,
  the proof `GET /items/{id}/proof` serves, the permits' item key). Nothing is overwritten in the log.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from anchor.log import MerkleLog
from anchor.models import Log, iso_utc, utcnow
from node.core.errors import Conflict, InvalidInput, NotFound
from node.core.models import ArrangementRecord, Box, Item, ItemPlacement, ItemVersion, Volume
from node.ingest.service import ItemMetadata
from verifier.records import canonical_bytes, metadata_digest, new_record

ITEM_ARRANGED = "item.arranged"
VOLUME_ARRANGED = "volume.arranged"
METADATA_UPDATED = "item.metadata_updated"
IMMUTABLE_KEYS = frozenset({"fonds", "fonds_code"})
# item columns mirrored from the metadata (the row shows the newest version)
ROW_FIELDS = ("title", "category", "year", "retention", "archival_code")
UNSET: Any = object()


def new_id() -> str:
    return uuid.uuid4().hex


# -- views -------------------------------------------------------------------------------------------
def box_view(box: Box) -> dict[str, Any]:
    return {
        "id": box.id, "fonds": box.fonds_code, "code": box.code, "storeroom": box.storeroom, "shelf": box.shelf,
        "position": box.position, "created_at": iso_utc(box.created_at), "updated_at": iso_utc(box.updated_at),
    }  # fmt: skip


def volume_view(s: Session, volume: Volume) -> dict[str, Any]:
    box = s.get(Box, volume.box_id) if volume.box_id else None
    count = s.scalar(select(func.count()).select_from(ItemPlacement).where(ItemPlacement.volume_id == volume.id))
    return {
        "id": volume.id, "fonds": volume.fonds_code, "category": volume.category, "year": volume.year,
        "retention": volume.retention, "archival_code": volume.archival_code, "title": volume.title,
        "box_id": volume.box_id, "box": box_view(box) if box else None, "item_count": count or 0,
        "created_at": iso_utc(volume.created_at), "updated_at": iso_utc(volume.updated_at),
    }  # fmt: skip


def placement_view(s: Session, item_id: str) -> dict[str, Any]:
    row = s.get(ItemPlacement, item_id)
    volume = s.get(Volume, row.volume_id) if row and row.volume_id else None
    box = s.get(Box, row.box_id) if row and row.box_id else None
    return {
        "volume_id": volume.id if volume else None,
        "volume_code": volume.archival_code if volume else None,
        "box_id": box.id if box else None,
        "box_code": box.code if box else None,
        "location": {"storeroom": box.storeroom, "shelf": box.shelf, "position": box.position} if box else None,
    }


# -- loading -----------------------------------------------------------------------------------------
def get_box(s: Session, box_id: str) -> Box:
    box = s.get(Box, box_id)
    if box is None:
        raise NotFound(f"no box {box_id}", reason="box_not_found")
    return box


def get_volume(s: Session, volume_id: str) -> Volume:
    volume = s.get(Volume, volume_id)
    if volume is None:
        raise NotFound(f"no volume {volume_id}", reason="volume_not_found")
    return volume


def get_item(s: Session, item_id: str) -> Item:
    item = s.get(Item, item_id)
    if item is None:
        raise NotFound(f"no item {item_id}", reason="item_not_found")
    return item


def volume_item_ids(s: Session, volume_id: str) -> list[str]:
    """The items of a volume, in archival-code order (then id)."""
    return list(
        s.scalars(
            select(Item.id)
            .join(ItemPlacement, ItemPlacement.item_id == Item.id)
            .where(ItemPlacement.volume_id == volume_id)
            .order_by(Item.archival_code, Item.id)
        )
    )


# -- boxes -------------------------------------------------------------------------------------------
def _same_fonds(kind: str, fonds: str, other: str) -> None:
    if fonds != other:
        raise Conflict(f"the {kind} belongs to fonds {other!r}, not {fonds!r}", reason="fonds_mismatch")


def create_box(s: Session, fonds: str, code: str, storeroom: str = "", shelf: str = "", position: str = "") -> Box:
    if s.scalar(select(Box.id).where(Box.fonds_code == fonds, Box.code == code)):
        raise Conflict(f"fonds {fonds} already has a box {code!r}", reason="duplicate_box_code")
    box = Box(id=new_id(), fonds_code=fonds, code=code, storeroom=storeroom, shelf=shelf, position=position)
    s.add(box)
    s.flush()
    return box


def update_box(s: Session, box: Box, changes: dict[str, Any]) -> Box:
    code = changes.get("code", box.code)
    if code != box.code and s.scalar(select(Box.id).where(Box.fonds_code == box.fonds_code, Box.code == code)):
        raise Conflict(f"fonds {box.fonds_code} already has a box {changes['code']!r}", reason="duplicate_box_code")
    for key in ("code", "storeroom", "shelf", "position"):
        if key in changes:
            setattr(box, key, changes[key])
    box.updated_at = utcnow()
    s.flush()
    return box


# -- records -----------------------------------------------------------------------------------------
def _append(
    s: Session, fonds: str, type_: str, subject_id: str, content_sha256: str, size: int, arrangement: dict[str, Any],
    kind: str, by: str | None,
) -> ArrangementRecord:  # fmt: skip
    digest = metadata_digest(arrangement)
    record = new_record(type=type_, fonds=fonds, item_id=subject_id, content_sha256=content_sha256, size=size,
                        metadata_sha256=digest, time=datetime.now(UTC))  # fmt: skip
    leaf = MerkleLog(s).append(fonds, record)
    row = ArrangementRecord(
        subject_kind=kind, subject_id=subject_id, fonds_code=fonds,
        arrangement_json=json.dumps(arrangement, ensure_ascii=False, sort_keys=True), metadata_sha256=digest,
        leaf_index=leaf.index, created_by=by,
    )  # fmt: skip
    s.add(row)
    s.flush()
    return row


def _volume_arrangement(s: Session, volume: Volume, members: list[str]) -> dict[str, Any]:
    box = s.get(Box, volume.box_id) if volume.box_id else None
    return {
        "volume_id": volume.id, "fonds": volume.fonds_code, "category": volume.category, "year": volume.year,
        "retention": volume.retention, "archival_code": volume.archival_code, "title": volume.title,
        "box": {"id": box.id, "code": box.code} if box else None, "items": members,
    }  # fmt: skip


def record_volume(s: Session, volume: Volume, by: str | None) -> ArrangementRecord:
    members = volume_item_ids(s, volume.id)
    arrangement = _volume_arrangement(s, volume, members)
    content = hashlib.sha256(canonical_bytes(members)).hexdigest()
    return _append(s, volume.fonds_code, VOLUME_ARRANGED, volume.id, content, len(members), arrangement, "volume", by)


def _item_arrangement(s: Session, item: Item, placement: ItemPlacement) -> dict[str, Any]:
    volume = s.get(Volume, placement.volume_id) if placement.volume_id else None
    box = s.get(Box, placement.box_id) if placement.box_id else None
    return {
        "item_id": item.id, "fonds": item.fonds_code,
        "volume": {"id": volume.id, "archival_code": volume.archival_code} if volume else None,
        "box": {"id": box.id, "code": box.code, "storeroom": box.storeroom, "shelf": box.shelf,
                "position": box.position} if box else None,
    }  # fmt: skip


def record_item(s: Session, item: Item, placement: ItemPlacement, by: str | None) -> ArrangementRecord:
    arrangement = _item_arrangement(s, item, placement)
    return _append(s, item.fonds_code, ITEM_ARRANGED, item.id, item.content_sha256, item.size, arrangement, "item", by)


# -- volumes -----------------------------------------------------------------------------------------
def _check_volume_code(s: Session, code: str | None, volume_id: str | None = None) -> None:
    if code is None:
        return
    found = s.scalar(select(Volume.id).where(Volume.archival_code == code))
    if found is not None and found != volume_id:
        raise Conflict(f"archival code {code!r} is already used by volume {found}", reason="duplicate_archival_code")


def create_volume(s: Session, data: dict[str, Any], by: str | None) -> Volume:
    _check_volume_code(s, data.get("archival_code"))
    box_id = data.get("box_id")
    if box_id:
        _same_fonds("box", data["fonds"], get_box(s, box_id).fonds_code)
    volume = Volume(
        id=new_id(), fonds_code=data["fonds"], category=data["category"], year=data["year"],
        retention=data["retention"], archival_code=data.get("archival_code"), title=data["title"], box_id=box_id,
    )  # fmt: skip
    s.add(volume)
    s.flush()
    record_volume(s, volume, by)
    return volume


def update_volume(s: Session, volume: Volume, changes: dict[str, Any], by: str | None) -> Volume:
    if "archival_code" in changes:
        _check_volume_code(s, changes["archival_code"], volume.id)
    old_box = volume.box_id
    if changes.get("box_id"):
        _same_fonds("box", volume.fonds_code, get_box(s, changes["box_id"]).fonds_code)
    for key in ("category", "year", "retention", "archival_code", "title", "box_id"):
        if key in changes:
            setattr(volume, key, changes[key])
    volume.updated_at = utcnow()
    s.flush()
    if volume.box_id != old_box:  # items that sat in the volume's box go with it
        for placement in s.scalars(select(ItemPlacement).where(ItemPlacement.volume_id == volume.id)):
            if placement.box_id == old_box:
                placement.box_id = volume.box_id
                placement.updated_at = utcnow()
                s.flush()
                record_item(s, get_item(s, placement.item_id), placement, by)
    record_volume(s, volume, by)
    return volume


# -- moving items ------------------------------------------------------------------------------------
def move_item(
    s: Session, item: Item, volume_id: Any = UNSET, box_id: Any = UNSET, *, force: bool = False,
    by: str | None = None,
) -> tuple[ItemPlacement, ArrangementRecord | None]:  # fmt: skip
    """Place an item in a volume and/or a box (None takes it out). Returns the placement and the
    `item.arranged` record (None when nothing changed)."""
    if volume_id is UNSET and box_id is UNSET:
        raise InvalidInput("give a volume and/or a box (null takes the item out)", reason="nothing_to_move")
    placement = s.get(ItemPlacement, item.id)
    if placement is None:
        placement = ItemPlacement(item_id=item.id)
        s.add(placement)
    before = (placement.volume_id, placement.box_id)
    if volume_id is not UNSET:
        if volume_id is not None:
            volume = get_volume(s, volume_id)
            _same_fonds("volume", item.fonds_code, volume.fonds_code)
            differs = [
                f"{key} {getattr(item, key)!r} != {getattr(volume, key)!r}"
                for key in ("category", "year", "retention")
                if getattr(item, key) != getattr(volume, key)
            ]
            if differs and not force:
                raise Conflict(f"the item does not fit volume {volume.id}: {'; '.join(differs)} (force to move "
                               "it anyway)", reason="volume_mismatch")  # fmt: skip
            if box_id is UNSET and volume.id != placement.volume_id:
                box_id = volume.box_id
        placement.volume_id = volume_id
    if box_id is not UNSET:
        if box_id is not None:
            _same_fonds("box", item.fonds_code, get_box(s, box_id).fonds_code)
        placement.box_id = box_id
    if (placement.volume_id, placement.box_id) == before:
        return placement, None
    placement.updated_at = utcnow()
    s.flush()
    return placement, record_item(s, item, placement, by)


def arrangement_history(s: Session, kind: str, subject_id: str) -> list[dict[str, Any]]:
    rows = s.scalars(
        select(ArrangementRecord)
        .where(ArrangementRecord.subject_kind == kind, ArrangementRecord.subject_id == subject_id)
        .order_by(ArrangementRecord.id)
    )
    return [
        {"leaf_index": r.leaf_index, "fonds": r.fonds_code, "arrangement": json.loads(r.arrangement_json),
         "metadata_sha256": r.metadata_sha256, "time": iso_utc(r.created_at), "by": r.created_by}
        for r in rows
    ]  # fmt: skip


# -- metadata versions -------------------------------------------------------------------------------
def _ingest_version(s: Session, item: Item) -> ItemVersion:
    """Version 1 as stored by ingest: the record at the item's leaf (its metadata_sha256 as anchored)."""
    log = s.get(Log, item.log_pk)
    record = MerkleLog(s).record(log, item.leaf_index)  # type: ignore[arg-type]
    return ItemVersion(
        item_id=item.id, version=1, record_type=str(record.get("type")), metadata_json=item.metadata_json,
        metadata_sha256=str(record.get("metadata_sha256")), leaf_index=item.leaf_index, created_at=item.created_at,
    )  # fmt: skip


def versions(s: Session, item: Item) -> list[ItemVersion]:
    rows = list(s.scalars(select(ItemVersion).where(ItemVersion.item_id == item.id).order_by(ItemVersion.version)))
    return rows or [_ingest_version(s, item)]


def version(s: Session, item: Item, number: int) -> ItemVersion:
    for row in versions(s, item):
        if row.version == number:
            return row
    raise NotFound(f"item {item.id} has no metadata version {number}", reason="version_not_found")


def version_view(row: ItemVersion) -> dict[str, Any]:
    return {
        "version": row.version, "record_type": row.record_type, "metadata": json.loads(row.metadata_json),
        "metadata_sha256": row.metadata_sha256, "leaf_index": row.leaf_index, "reason": row.reason,
        "created_at": iso_utc(row.created_at), "created_by": row.created_by,
    }  # fmt: skip


def apply_changes(current: dict[str, Any], set_: dict[str, Any], unset: list[str]) -> dict[str, Any]:
    """The metadata after `set` (key or "parent.child" -> value; null removes) and `unset` (keys). Pure."""
    out = json.loads(json.dumps(current))
    changes = [(k, v) for k, v in set_.items()] + [(k, None) for k in unset]
    for key, value in changes:
        parts = key.split(".", 1)
        if parts[0] in IMMUTABLE_KEYS:
            raise InvalidInput(f"{parts[0]} cannot change: an item stays in its fonds' log", reason="fonds_immutable")
        if not parts[0]:
            raise InvalidInput(f"bad metadata key {key!r}", reason="metadata_invalid")
        target = out
        if len(parts) == 2:
            target = out.setdefault(parts[0], {})
            if not isinstance(target, dict):
                raise InvalidInput(f"{parts[0]} is not an object", reason="metadata_invalid")
        name = parts[-1]
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    return out


def _validated(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Metadata of POST /items (ItemMetadata) is validated again; other schemes (filed packages) are
    kept as given, NFC-normalised by the digest."""
    try:
        ItemMetadata.model_validate(before)
    except ValidationError:
        return after
    try:
        return ItemMetadata.model_validate(after).archival()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'metadata'}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"invalid metadata: {problems}", reason="metadata_invalid") from exc


def edit_metadata(
    s: Session, item: Item, set_: dict[str, Any], unset: list[str], reason: str | None, by: str | None
) -> tuple[ItemVersion, bool]:
    """Append an `item.metadata_updated` record and a new version; (newest version, changed?)."""
    history = versions(s, item)
    current = history[-1]
    before = json.loads(current.metadata_json)
    after = _validated(before, apply_changes(before, set_, unset))
    digest = metadata_digest(after)
    if digest == current.metadata_sha256:
        return current, False
    code = after.get("archival_code")
    if code and code != item.archival_code and s.scalar(select(Item.id).where(Item.archival_code == code)):
        raise Conflict(f"archival code {code!r} is already used", reason="duplicate_archival_code")
    if len(history) == 1 and s.get(ItemVersion, (item.id, 1)) is None:
        s.add(history[0])  # version 1 becomes a row the first time the item is edited
    record = new_record(type=METADATA_UPDATED, fonds=item.fonds_code, item_id=item.id,
                        content_sha256=item.content_sha256, size=item.size, metadata_sha256=digest,
                        time=datetime.now(UTC))  # fmt: skip
    leaf = MerkleLog(s).append(item.fonds_code, record)
    row = ItemVersion(
        item_id=item.id, version=current.version + 1, record_type=METADATA_UPDATED,
        metadata_json=json.dumps(after, ensure_ascii=False, sort_keys=True), metadata_sha256=digest,
        leaf_index=leaf.index, reason=reason, created_by=by,
    )  # fmt: skip
    s.add(row)
    item.metadata_json = row.metadata_json
    for key in ROW_FIELDS:
        value = after.get(key)
        if key == "archival_code" and (key in after or key in before):
            item.archival_code = value if isinstance(value, str) and value else None
        elif key == "year" and isinstance(value, int) and not isinstance(value, bool):
            item.year = value
        elif key in ("title", "category", "retention") and isinstance(value, str) and value:
            setattr(item, key, value)
    s.flush()
    return row, True
