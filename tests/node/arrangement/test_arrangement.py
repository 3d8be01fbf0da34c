"""Arrangement (件/卷/盒), metadata edits after filing, loans of a whole volume:
node/arrangement/service.py over HTTP."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from anchor.models import Log, LogEntry
from node.core.models import AuditEvent
from tests.helpers.arrangement import META, ingest
from tests.helpers.people import People
from verifier.records import metadata_digest


def records(ctx: Any, fonds: str = "Z001") -> list[dict[str, Any]]:
    with ctx.reader() as s:
        log = s.scalar(select(Log).where(Log.fonds_code == fonds))
        rows = s.scalars(select(LogEntry).where(LogEntry.log_pk == log.id).order_by(LogEntry.index))
        return [json.loads(r.record) for r in rows]


def test_boxes_volumes_moves_and_listing(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]
    arch = people.auth("archivist")
    r = api.post("/boxes", json={"fonds": "Z001", "code": "H-001", "storeroom": "一号库房", "shelf": "A-03",
                                 "position": "2"}, headers=arch)  # fmt: skip
    assert r.status_code == 201, r.text
    box = r.json()
    assert api.post("/boxes", json={"fonds": "Z001", "code": "H-001"}, headers=arch).json()["error"] == (
        "duplicate_box_code"
    )
    box2 = api.post("/boxes", json={"fonds": "Z001", "code": "H-002"}, headers=arch).json()
    other = api.post("/boxes", json={"fonds": "Z002", "code": "H-001"}, headers=arch).json()
    # Borrowers read but do not arrange; the init API key (an integrator's pipeline) does not arrange either.
    assert api.post("/boxes", json={"fonds": "Z001", "code": "X"}, headers=people.auth("borrower")).status_code == 403
    assert api.post("/boxes", json={"fonds": "Z001", "code": "X"}).status_code == 403

    vol = {"fonds": "Z001", "category": "WS", "year": 2024, "retention": "Y", "title": "2024年调度文件",
           "archival_code": "Z001-WS·2024-Y-J001", "box": box["id"]}  # fmt: skip
    r = api.post("/volumes", json=vol, headers=arch)
    assert r.status_code == 201, r.text
    volume = r.json()
    assert volume["retention"] == "permanent" and volume["box"]["code"] == "H-001" and volume["item_count"] == 0
    assert api.post("/volumes", json=vol, headers=arch).json()["error"] == "duplicate_archival_code"

    a, b, c = (ingest(api, f"item {i}".encode()) for i in range(3))
    odd = ingest(api, b"another year", year=2023)
    size_before = len(records(node_ctx))
    for item in (a, b):
        r = api.post(f"/items/{item['id']}/move", json={"volume": volume["id"]}, headers=arch)
        assert r.status_code == 200, r.text
        moved = r.json()
        assert moved["changed"] and moved["volume_id"] == volume["id"] and moved["box_id"] == box["id"]
        assert moved["location"] == {"storeroom": "一号库房", "shelf": "A-03", "position": "2"}
    # Same move again: nothing changes, no record.
    assert api.post(f"/items/{a['id']}/move", json={"volume": volume["id"]}, headers=arch).json()["changed"] is False
    r = api.post(f"/items/{odd['id']}/move", json={"volume": volume["id"]}, headers=arch)
    assert r.status_code == 409 and r.json()["error"] == "volume_mismatch"
    assert api.post(f"/items/{odd['id']}/move", json={"volume": volume["id"], "force": True},
                    headers=arch).status_code == 200  # fmt: skip
    r = api.post(f"/items/{c['id']}/move", json={"box": other["id"]}, headers=arch)
    assert r.status_code == 409 and r.json()["error"] == "fonds_mismatch"
    assert api.post(f"/items/{c['id']}/move", json={"box": box2["id"]}, headers=arch).json()["box_code"] == "H-002"
    assert api.post(f"/items/{c['id']}/move", json={}, headers=arch).json()["error"] == "nothing_to_move"

    recs = records(node_ctx)
    arranged = [x for x in recs[size_before:] if x["type"] == "item.arranged"]
    assert [x["item_id"] for x in arranged] == [a["id"], b["id"], odd["id"], c["id"]]
    history = api.get(f"/items/{a['id']}/arrangement", headers=arch).json()
    assert len(history["history"]) == 1
    entry = history["history"][0]
    assert recs[entry["leaf_index"]]["metadata_sha256"] == metadata_digest(entry["arrangement"])

    listed = api.get("/items", params={"volume": volume["id"]}).json()
    assert listed["total"] == 3 and {i["id"] for i in listed["items"]} == {a["id"], b["id"], odd["id"]}
    assert api.get("/items", params={"fonds": "Z001", "category": "WS", "year": 2023}).json()["total"] == 1
    assert api.get("/items", params={"box": box2["id"]}).json()["items"][0]["id"] == c["id"]
    inside = api.get(f"/volumes/{volume['id']}/items", headers=people.auth("borrower")).json()
    assert len(inside["items"]) == 3 and inside["volume"]["item_count"] == 3
    assert api.get("/volumes", params={"fonds": "Z001", "year": 2024}).json()["total"] == 1
    assert api.get("/boxes", params={"fonds": "Z002"}).json()["boxes"][0]["id"] == other["id"]

    # The volume moves to another box: the items that sat in its box go with it, each with a record.
    size_before = len(records(node_ctx))
    r = api.patch(f"/volumes/{volume['id']}", json={"box": box2["id"], "title": "2024年调度文件（一）"}, headers=arch)
    assert r.status_code == 200, r.text
    assert r.json()["box_id"] == box2["id"] and r.json()["title"] == "2024年调度文件（一）"
    new = records(node_ctx)[size_before:]
    assert sorted(x["type"] for x in new) == ["item.arranged"] * 3 + ["volume.arranged"]
    assert api.get(f"/items/{a['id']}/arrangement").json()["box_code"] == "H-002"
    r = api.patch(f"/boxes/{box2['id']}", json={"shelf": "B-01"}, headers=arch)
    assert r.status_code == 200 and r.json()["shelf"] == "B-01"
    shown = api.get(f"/volumes/{volume['id']}").json()
    assert shown["box"]["shelf"] == "B-01" and len(shown["history"]) == 2
    # Taking an item out of its volume.
    out = api.post(f"/items/{odd['id']}/move", json={"volume": None}, headers=arch).json()
    assert out["volume_id"] is None and out["changed"]

    with node_ctx.reader() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "items:arrange")).all()
    assert {e.outcome for e in events} >= {"ok", "failed"} and len([e for e in events if e.outcome == "ok"]) >= 12


def test_metadata_edit_keeps_the_original_provable(api, people: People, node_ctx) -> None:  # type: ignore[no-untyped-def]
    arch = people.auth("archivist")
    item = ingest(api, b"the original bytes")
    original_record = records(node_ctx)[item["leaf_index"]]

    body = {"set": {"title": "关于港口调度的通知（更正）", "extra.note": "题名更正"}, "reason": "题名错字"}
    r = api.patch(f"/items/{item['id']}/metadata", json=body, headers=arch)
    assert r.status_code == 200, r.text
    edit = r.json()
    assert edit["changed"] and edit["version"] == 2 and edit["item"]["title"] == "关于港口调度的通知（更正）"
    assert edit["item"]["leaf_index"] == item["leaf_index"]  # the item's own record is still the ingest one
    assert edit["metadata"]["extra"] == {"note": "题名更正"}
    again = api.patch(f"/items/{item['id']}/metadata", json=body, headers=arch).json()
    assert again["changed"] is False and again["version"] == 2
    assert api.patch(f"/items/{item['id']}/metadata", json={"set": {"fonds": "Z009"}}, headers=arch).status_code == 422
    assert api.patch(f"/items/{item['id']}/metadata", json={"set": {"year": 99}}, headers=arch).status_code == 422
    assert api.patch(f"/items/{item['id']}/metadata", json=body).status_code == 403  # init key: no items:arrange

    versions = api.get(f"/items/{item['id']}/versions").json()["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["metadata"]["title"] == META["title"] and versions[0]["record_type"] == "item.ingested"
    assert versions[0]["metadata_sha256"] == original_record["metadata_sha256"]
    new_record = records(node_ctx)[versions[1]["leaf_index"]]
    assert new_record["type"] == "item.metadata_updated"
    assert new_record["content_sha256"] == original_record["content_sha256"]
    assert new_record["metadata_sha256"] == metadata_digest(versions[1]["metadata"])
    assert new_record["metadata_sha256"] != original_record["metadata_sha256"]

    assert api.get(f"/items/{item['id']}/versions/2/proof").status_code == 409  # not anchored yet
    assert api.post("/anchor").status_code == 200
    first = api.get(f"/items/{item['id']}/proof").json()
    assert first["record"] == original_record
    assert api.get(f"/items/{item['id']}/versions/1/proof").json()["record"] == original_record
    second = api.get(f"/items/{item['id']}/versions/2/proof").json()
    assert second["record"] == new_record
    for bundle in (first, second):
        r = api.post("/verify", json={"bundle": bundle, "content_sha256": item["content_sha256"]})
        assert r.json()["result"]["outcome"] == "authentic", r.text
    assert api.get(f"/items/{item['id']}/versions/3/proof").status_code == 404


def test_loan_of_a_whole_volume(api, people: People) -> None:  # type: ignore[no-untyped-def]
    arch, borrower = people.auth("archivist"), people.auth("borrower")
    vol = {"fonds": "Z001", "category": "WS", "year": 2024, "retention": "30y", "title": "卷"}
    volume = api.post("/volumes", json=vol, headers=arch).json()
    r = api.post("/loans", json={"volume": volume["id"], "purpose": "编研", "days": 3}, headers=borrower)
    assert r.status_code == 422 and r.json()["error"] == "empty_volume"
    ids = [ingest(api, f"vol item {i}".encode(), retention="30y")["id"] for i in range(3)]
    for iid in ids:
        assert api.post(f"/items/{iid}/move", json={"volume": volume["id"]}, headers=arch).status_code == 200
    loose = ingest(api, b"a loose item")["id"]
    r = api.post("/loans", json={"volume": volume["id"], "items": [loose, ids[0]], "purpose": "编研", "days": 3},
                 headers=borrower)  # fmt: skip
    assert r.status_code == 201, r.text
    assert sorted(i["item_id"] for i in r.json()["items"]) == sorted([*ids, loose])
    r = api.post("/loans", json={"volume": "0" * 32, "purpose": "编研", "days": 3}, headers=borrower)
    assert r.status_code == 404 and r.json()["error"] == "volume_not_found"
    assert api.post("/loans", json={"purpose": "编研", "days": 3}, headers=borrower).status_code == 422
