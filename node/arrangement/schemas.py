"""Response models of the arrangement routes (boxes, volumes, placements, metadata versions)."""

from __future__ import annotations

from pydantic import Field

from node.core.schemas import Answer, ItemView, OpenObject


class BoxView(Answer):
    id: str
    fonds: str
    code: str
    storeroom: str
    shelf: str
    position: str
    created_at: str | None
    updated_at: str | None


class BoxList(Answer):
    total: int
    boxes: list[BoxView]


class VolumeView(Answer):
    id: str
    fonds: str
    category: str
    year: int
    retention: str
    archival_code: str | None
    title: str
    box_id: str | None
    box: BoxView | None
    item_count: int
    created_at: str | None
    updated_at: str | None


class BoxDetail(BoxView):
    """GET /boxes/{id}: the box, its volumes and the items placed in it."""

    volumes: list[VolumeView]
    items: list[str] = Field(description="item ids")


class VolumeList(Answer):
    total: int
    volumes: list[VolumeView]


class ArrangementRecord(Answer):
    """An arrangement record in the fonds' log (`item.arranged` / `volume.arranged`)."""

    leaf_index: int
    fonds: str
    arrangement: OpenObject = Field(description="the placement or volume fields as recorded")
    metadata_sha256: str
    time: str | None
    by: str | None


class VolumeDetail(VolumeView):
    history: list[ArrangementRecord]


class VolumeItems(Answer):
    volume: VolumeView
    items: list[ItemView]


class Location(Answer):
    storeroom: str
    shelf: str
    position: str


class Placement(Answer):
    item_id: str
    volume_id: str | None
    volume_code: str | None
    box_id: str | None
    box_code: str | None
    location: Location | None


class MoveResult(Placement):
    changed: bool
    leaf_index: int | None = Field(description="the `item.arranged` record (null: nothing changed)")


class ItemArrangement(Placement):
    history: list[ArrangementRecord]


class VersionView(Answer):
    version: int
    record_type: str
    metadata: OpenObject
    metadata_sha256: str
    leaf_index: int
    reason: str | None
    created_at: str | None
    created_by: str | None


class MetadataEdited(VersionView):
    item: ItemView
    changed: bool


class VersionList(Answer):
    item_id: str
    versions: list[VersionView]
