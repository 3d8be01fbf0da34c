"""The archivist's arrangement pages without a browser (issue 11, point 5): volumes and boxes made from
forms, items moved between them, metadata edited into a new version with its history; each post the
API's route (same checks, same ledger record, one audit event); wrong roles and CSRF refused."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from node.core.models import Box, ItemPlacement, Volume
from tests.helpers.arrangement import ingest
from tests.helpers.people import PEOPLE_PASSWORD, People
from tests.node.core.test_web_pages import browser, csrf_of, events, last_seq, login


@pytest.fixture
def archivist(api: Any, people: People) -> TestClient:
    client = browser(api)
    assert login(client, "archivist", PEOPLE_PASSWORD).status_code == 303
    return client


def post(client: TestClient, url: str, data: dict[str, Any], page: str = "/arrange") -> Any:
    return client.post(url, data={"csrf_token": csrf_of(client.get(page)), **data})


def one_event(ctx: Any, before: int) -> Any:
    new = events(ctx, before)
    assert len(new) == 1, [(e.action, e.outcome) for e in new]
    return new[0]


def test_boxes_volumes_and_moves_from_the_forms(archivist: TestClient, api: Any, node_ctx: Any) -> None:
    page = archivist.get("/arrange")
    assert page.status_code == 200 and 'id="volumes-empty"' in page.text and 'id="boxes-empty"' in page.text
    item = ingest(api, b"a letter to arrange")
    before = last_seq(node_ctx)
    r = post(archivist, "/arrange/boxes", {"fonds": "Z001", "code": "B-001", "storeroom": "一号库房", "shelf": "3"})
    assert r.status_code == 303 and r.headers["location"] == "/arrange?notice=arrange.box_created"
    event = one_event(node_ctx, before)
    assert (event.action, event.outcome, event.target, event.fonds) == ("items:arrange", "ok", "/boxes", "Z001")
    with node_ctx.reader() as s:
        box = s.scalar(select(Box).where(Box.code == "B-001"))
        assert box.storeroom == "一号库房"
    # the same box code twice: the API's refusal, shown on the form (one event, failed)
    before = last_seq(node_ctx)
    r = post(archivist, "/arrange/boxes", {"fonds": "Z001", "code": "B-001"})
    assert r.status_code == 409 and 'id="arrange-error" data-reason="duplicate_box_code"' in r.text
    assert 'value="B-001"' in r.text  # the form keeps what was typed
    event = one_event(node_ctx, before)
    assert (event.outcome, json.loads(event.details_json)["reason"]) == ("failed", "duplicate_box_code")

    before = last_seq(node_ctx)
    form = {"fonds": "Z001", "category": "WS", "year": "2024", "retention": "permanent", "title": "2024年通知",
            "archival_code": "Z001-WS-2024-Y-0001", "box": box.id}  # fmt: skip
    r = post(archivist, "/arrange/volumes", form)
    assert r.status_code == 303, r.text
    assert one_event(node_ctx, before).action == "items:arrange"
    with node_ctx.reader() as s:
        volume = s.scalar(select(Volume).where(Volume.archival_code == "Z001-WS-2024-Y-0001"))
        assert (volume.box_id, volume.year, volume.retention) == (box.id, 2024, "permanent")
    r = post(archivist, "/arrange/volumes", {"fonds": "Z001", "category": "WS", "year": "20x4", "retention": "y",
                                             "title": "t"})  # fmt: skip
    assert r.status_code == 422 and 'data-reason="invalid_input"' in r.text

    # move the item into the volume (and so into its box): a ledger record, one event
    before = last_seq(node_ctx)
    r = post(archivist, "/arrange/move", {"item": item["id"], "volume": volume.id})
    assert r.status_code == 303 and r.headers["location"].endswith("notice=arrange.moved")
    event = one_event(node_ctx, before)
    assert (event.action, event.target) == ("items:arrange", f"/items/{item['id']}")
    with node_ctx.reader() as s:
        placed = s.get(ItemPlacement, item["id"])
        assert (placed.volume_id, placed.box_id) == (volume.id, box.id)
    page = archivist.get("/arrange")
    row = re.search(rf'<tr data-volume="{volume.id}">.*?</tr>', page.text, re.S)
    assert row and "<td>1</td>" in row.group(0) and "B-001" in row.group(0)
    # by its archival code, out of the box again
    code = item["archival_code"] or item["id"]
    r = post(archivist, "/arrange/move", {"item": code, "box": "-"})
    assert r.status_code == 303
    with node_ctx.reader() as s:
        assert s.get(ItemPlacement, item["id"]).box_id is None
    # an item of another year does not fit the volume unless forced
    other = ingest(api, b"a letter of 2023", year=2023)
    r = post(archivist, "/arrange/move", {"item": other["id"], "volume": volume.id})
    assert r.status_code == 409 and 'data-reason="volume_mismatch"' in r.text
    r = post(archivist, "/arrange/move", {"item": other["id"], "volume": volume.id, "force": "true"})
    assert r.status_code == 303
    r = post(archivist, "/arrange/move", {"item": "no-such-item", "volume": volume.id})
    assert r.status_code == 404 and 'data-reason="item_not_found"' in r.text
    r = post(archivist, "/arrange/move", {"item": item["id"]})
    assert r.status_code == 422 and 'data-reason="nothing_to_move"' in r.text


def test_metadata_edit_makes_a_version_and_shows_what_changed(
    archivist: TestClient, api: Any, node_ctx: Any
) -> None:
    item = ingest(api, b"a letter whose title was wrong")
    url = f"/arrange/items/{item['id']}/metadata"
    page = archivist.get(url)
    assert page.status_code == 200 and 'data-version="1"' in page.text and 'name="field.title"' in page.text
    assert 'name="field.fonds"' not in page.text  # the fonds never changes
    before = last_seq(node_ctx)
    form = {"field.title": "关于港口调度的通知（更正）", "field.year": "2024", "new_key": "extra.remarks",
            "new_value": "题名更正", "reason": "题名有误"}  # fmt: skip
    r = post(archivist, url, form, page=url)
    assert r.status_code == 303 and r.headers["location"] == f"{url}?notice=arrange.metadata_saved"
    event = one_event(node_ctx, before)
    assert (event.action, event.target, event.outcome) == ("items:arrange", f"{url.removeprefix('/arrange')}", "ok")
    details = json.loads(event.details_json)
    assert details["set"] == {"title": "关于港口调度的通知（更正）", "extra.remarks": "题名更正"}
    assert details["version"] == 2
    versions = api.get(f"/items/{item['id']}/versions").json()["versions"]
    assert [v["version"] for v in versions] == [1, 2] and versions[1]["reason"] == "题名有误"
    page = archivist.get(url)
    v2 = re.search(r'<li data-version="2".*?</li>', page.text, re.S)
    assert v2 and 'data-changed="title"' in v2.group(0) and 'data-changed="extra.remarks"' in v2.group(0)
    assert "archivist" in v2.group(0)  # who made it, by name
    assert 'name="field.extra.remarks" value="题名更正"' in page.text  # an extra field is edited like the others
    assert 'data-changed="year"' not in v2.group(0) and "题名有误" in v2.group(0)
    # a field emptied is removed; nothing changed is refused; the fonds stays
    r = post(archivist, url, {"field.extra.remarks": ""}, page=url)
    assert r.status_code == 303
    assert "remarks" not in api.get(f"/items/{item['id']}/versions").json()["versions"][-1]["metadata"].get("extra", {})
    before = last_seq(node_ctx)
    r = post(archivist, url, {"field.title": "关于港口调度的通知（更正）"}, page=url)
    assert r.status_code == 422 and 'id="meta-error" data-reason="nothing_to_change"' in r.text
    assert one_event(node_ctx, before).outcome == "failed"
    r = post(archivist, url, {"new_key": "fonds", "new_value": "Z999"}, page=url)
    assert r.status_code == 422 and 'data-reason="fonds_immutable"' in r.text
    r = post(archivist, url, {"field.year": "not a year"}, page=url)
    assert r.status_code == 422 and 'data-reason="metadata_invalid"' in r.text
    assert len(api.get(f"/items/{item['id']}/versions").json()["versions"]) == 3
    assert archivist.get("/arrange/items/nobody/metadata").status_code == 404


def test_wrong_roles_and_csrf(api: Any, people: People, archivist: TestClient, node_ctx: Any) -> None:
    item = ingest(api, b"an item nobody else may arrange")
    borrower = browser(api)
    assert login(borrower, "borrower", PEOPLE_PASSWORD).status_code == 303
    for url in ("/arrange", f"/arrange/items/{item['id']}/metadata"):
        r = borrower.get(url)
        assert r.status_code == 403 and 'data-reason="forbidden"' in r.text, url
    token = csrf_of(borrower.get("/profile"))
    r = borrower.post("/arrange/boxes", data={"csrf_token": token, "fonds": "Z001", "code": "B-9"})
    assert r.status_code == 403
    before = last_seq(node_ctx)
    r = archivist.post("/arrange/boxes", data={"fonds": "Z001", "code": "B-9"})  # no token
    assert r.status_code == 403 and 'data-reason="csrf_failed"' in r.text
    assert one_event(node_ctx, before).outcome == "denied"
    with node_ctx.reader() as s:
        assert s.scalar(select(Box).where(Box.code == "B-9")) is None
