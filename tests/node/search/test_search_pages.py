"""The borrower's reading pages without a browser (issue 11, point 2): GET /find (results, highlights that
can carry no markup but <mark>, facets that narrow, paging, the search audit), browse by 全宗 / volume /
box, the item page (档号, arrangement path, versions, four-properties report, the anchored checkpoint),
"verify now" and the proof bundle download; refused to a wrong role and outside the caller's fonds.
The browser test is tests/e2e/test_web_search.py."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from node.core.models import AuditEvent, ItemText, TextStatus
from node.search.pages import marks_only
from node.users import service as users
from tests.helpers.arrangement import ingest
from tests.helpers.checks_builders import good_items, write_package, zip_of
from tests.helpers.people import PEOPLE_PASSWORD, People
from tests.node.core.test_web_pages import browser, login

CORPUS: list[dict[str, Any]] = [
    {"fonds": "A001", "title": "关于码头建设合同的请示", "category": "WS", "year": 2020, "retention": "永久",
     "archival_code": "A001-WS-2020-Y-0001", "extra": {"responsible": "张三丰", "keywords": "码头 建设"}},
    {"fonds": "A001", "title": "码头年度财务报告", "category": "KJ", "year": 2021, "retention": "30年",
     "archival_code": "A001-KJ-2021-D30-0002"},
    {"fonds": "B002", "title": "码头调度通知 <img src=x onerror=alert(1)>", "category": "WS", "year": 2022,
     "retention": "永久", "extra": {"responsible": "<b>赵六</b>"}},
]  # fmt: skip
HIT_RE = re.compile(r'<li class="hit card" data-item="([0-9a-f]+)"')


@pytest.fixture
def corpus(api: Any, node_ctx: Any) -> list[str]:
    ids = [ingest(api, f"doc {i}".encode(), **meta)["id"] for i, meta in enumerate(CORPUS)]
    with node_ctx.sessions() as s, s.begin():  # a full text only a reader of the content may search
        s.add(ItemText(item_id=ids[0], status=TextStatus.DONE, method="txt", text="全文提到港口疏浚工程。",
                       extracted_at=datetime.now(UTC)))  # fmt: skip
    node_ctx.search().catch_up()
    return ids


def logged_in(api: Any, username: str, password: str = PEOPLE_PASSWORD) -> Any:
    client = browser(api)
    assert login(client, username, password).status_code == 303
    return client


def search_events(node_ctx: Any) -> list[AuditEvent]:
    with node_ctx.reader() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == "items:search").order_by(AuditEvent.seq)))


def hits(page: Any) -> list[str]:
    assert page.status_code == 200, page.text[:2000]
    return HIT_RE.findall(page.text)


def facet_link(page: Any, facet: str, value: str) -> str:
    block = re.search(rf'<ul class="plain facet" data-facet="{facet}">(.*?)</ul>', page.text, re.S)
    assert block, page.text[:3000]
    found = re.search(rf'<a href="([^"]+)" data-value="{re.escape(value)}">', block.group(1))
    assert found, block.group(1)
    return found.group(1).replace("&amp;", "&")


# -- search -------------------------------------------------------------------------------------------
def test_search_results_highlights_facets_paging_and_one_audit_event(
    api: Any, node_ctx: Any, people: People, corpus: list[str]
) -> None:
    client = logged_in(api, "borrower")
    before = len(search_events(node_ctx))
    form = client.get("/find")  # the form alone: nothing searched, nothing audited
    assert form.status_code == 200 and 'id="q"' in form.text and "autofocus" in form.text
    assert 'id="results"' not in form.text and len(search_events(node_ctx)) == before
    page = client.get("/find", params={"q": "码头"})
    assert set(hits(page)) == set(corpus) and "共找到 3 条结果" in page.text
    assert "<mark>码头</mark>" in page.text
    # the first search of the window is one items:search event naming the page and the query
    new = search_events(node_ctx)[before:]
    assert len(new) == 1 and new[0].outcome == "ok" and new[0].principal_name == "borrower"
    details = json.loads(new[0].details_json)
    assert (details["route"], details["q"], details["total"], details["aggregated"]) == ("/find", "码头", 3, False)
    # facets narrow the query: fonds, then year (year_from = year_to); the URL is shareable
    narrowed = client.get(facet_link(page, "fonds", "A001"))
    assert set(hits(narrowed)) == {corpus[0], corpus[1]}
    year_url = facet_link(narrowed, "year", "2021")
    assert parse_qs(urlsplit(year_url).query) == {"q": ["码头"], "fonds": ["A001"], "year_from": ["2021"],
                                                   "year_to": ["2021"]}  # fmt: skip
    assert hits(client.get(year_url)) == [corpus[1]]
    assert 'data-filter="fonds"' in narrowed.text  # the filter in force, with the link that drops it
    retention = client.get(facet_link(page, "retention", "permanent"))
    assert set(hits(retention)) == {corpus[0], corpus[2]} and "永久" in retention.text
    # a field query and the catalogue's other fields
    assert hits(client.get("/find", params={"q": "责任者:张三丰"})) == [corpus[0]]
    # the borrower may not read item 0's content: its full text is not searched for them
    assert hits(client.get("/find", params={"q": "疏浚"})) == [] and 'id="no-results"' in client.get(
        "/find", params={"q": "疏浚"}).text  # fmt: skip
    archivist = logged_in(api, "archivist")
    text_hit = archivist.get("/find", params={"q": "疏浚"})
    assert hits(text_hit) == [corpus[0]] and "<mark>疏浚</mark>" in text_hit.text
    # each hit links to its item page and offers the request cart (a borrower's)
    assert f'href="/records/{corpus[0]}"' in page.text
    assert page.text.count('action="/cart/add"') == 3 and f'name="item_id" value="{corpus[0]}"' in page.text
    assert 'action="/cart/add"' not in text_hit.text  # an archivist borrows nothing
    # the rest of the window's searches are one aggregate, written when the window is over
    assert [e.principal_name for e in search_events(node_ctx)[before:]] == ["borrower", "archivist"]
    due = node_ctx.search().audit.due(everything=True)
    mine = [d for p, _, d in due if p is not None and p.name == "borrower"]
    assert len(mine) == 1 and mine[0]["count"] >= 5
    assert {q["route"] for q in mine[0]["queries"]} == {"/find"}


def test_paging(api: Any, node_ctx: Any, people: People) -> None:
    for n in range(23):
        ingest(api, f"page {n}".encode(), title=f"港口档案 第{n}号")
    node_ctx.search().catch_up()
    client = logged_in(api, "borrower")
    first = client.get("/find", params={"q": "港口", "sort": "reference_code"})
    assert len(hits(first)) == 20 and 'id="prev-page"' not in first.text and "第 1 页，共 2 页" in first.text
    next_url = re.search(r'<a href="([^"]+)" rel="next" id="next-page">', first.text).group(1).replace("&amp;", "&")
    second = client.get(next_url)
    assert len(hits(second)) == 3 and not set(hits(second)) & set(hits(first)) and 'id="next-page"' not in second.text
    assert client.get("/find", params={"q": "港口", "page": 0}).status_code == 422
    refused = client.get("/find", params={"q": "x", "year_from": 2022, "year_to": 2020})
    assert refused.status_code == 422 and 'data-reason="invalid_year_range"' in refused.text


def test_highlights_carry_no_markup_but_mark(api: Any, people: People, corpus: list[str]) -> None:
    client = logged_in(api, "borrower")
    page = client.get("/find", params={"q": "调度 OR 赵六"})
    assert hits(page) == [corpus[2]]
    assert "<img" not in page.text and "<b>" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text and "&lt;b&gt;<mark>赵六</mark>&lt;/b&gt;" in page.text
    # the filter itself: only balanced <mark> pairs survive, whatever the service would send
    assert marks_only("<mark>a</mark><script>x()</script>") == "<mark>a</mark>&lt;script&gt;x()&lt;/script&gt;"
    assert marks_only("&lt;mark&gt;x&lt;/mark&gt;") == "&lt;mark&gt;x&lt;/mark&gt;"  # escaped text stays text
    assert marks_only("</mark>a<mark>b") == "a<mark>b</mark>"
    assert marks_only('<mark onclick="x">a</mark>') == "&lt;mark onclick=&#34;x&#34;&gt;a"


def test_wrong_role_gets_the_refused_page(api: Any, people: People, corpus: list[str]) -> None:
    sysadmin = logged_in(api, "sysadmin", people.passwords["system_admin"])  # no items:read
    for url in ("/find?q=码头", "/browse", "/browse/A001", f"/records/{corpus[0]}", f"/records/{corpus[0]}/verify",
                f"/records/{corpus[0]}/proof"):  # fmt: skip
        refused = sysadmin.get(url)
        assert refused.status_code == 403 and 'data-reason="forbidden"' in refused.text, url
    assert 'href="/find"' not in sysadmin.get("/").text  # and no link to it
    assert 'href="/find"' in logged_in(api, "borrower").get("/").text


def test_a_fonds_limited_caller_sees_only_its_fonds(api: Any, node_ctx: Any, people: People,
                                                    corpus: list[str]) -> None:  # fmt: skip
    with node_ctx.sessions() as s, s.begin():
        _, key = users.create_api_key(s, "b002 reader", ["items:read"], ["B002"])
    headers = {"Authorization": f"Bearer {key}", "Accept": "text/html"}
    page = api.get("/find", params={"q": "码头"}, headers=headers)
    assert hits(page) == [corpus[2]] and 'data-value="A001"' not in page.text  # facets count only B002
    for url in (f"/records/{corpus[0]}", f"/records/{corpus[0]}/verify", f"/records/{corpus[0]}/proof",
                "/browse/A001"):  # fmt: skip
        refused = api.get(url, headers=headers)
        assert refused.status_code == 403 and 'data-reason="fonds_forbidden"' in refused.text, url
    assert api.get(f"/records/{corpus[2]}", headers=headers).status_code == 200
    listed = api.get("/browse", headers=headers).text
    assert re.findall(r'<tr data-fonds="([^"]+)"', listed) == ["B002"]
    assert re.findall(r'<tr data-fonds="([^"]+)"', logged_in(api, "borrower").get("/browse").text) == ["A001", "B002"]


# -- browse -------------------------------------------------------------------------------------------
def test_browse_fonds_volume_and_box(api: Any, people: People, corpus: list[str]) -> None:
    arch = people.auth("archivist")
    box = api.post("/boxes", json={"fonds": "A001", "code": "H-007", "storeroom": "一号库房", "shelf": "3"},
                   headers=arch).json()  # fmt: skip
    volume = api.post("/volumes", json={"fonds": "A001", "category": "WS", "year": 2020, "retention": "永久",
                                        "title": "码头建设卷", "archival_code": "A001-WS-2020-Y-J01",
                                        "box": box["id"]}, headers=arch).json()  # fmt: skip
    moved = api.post(f"/items/{corpus[0]}/move", json={"volume": volume["id"]}, headers=arch)
    assert moved.status_code == 200 and moved.json()["box_id"] == box["id"], moved.text
    client = logged_in(api, "borrower")
    listed = client.get("/browse")
    assert re.search(r'<tr data-fonds="A001"><td><a href="/browse/A001">A001</a></td><td>2</td><td>1</td><td>1</td>',
                     listed.text), listed.text  # fmt: skip
    fonds = client.get("/browse/A001")
    assert fonds.status_code == 200
    assert f'data-volume="{volume["id"]}"' in fonds.text and f'data-box="{box["id"]}"' in fonds.text
    loose = re.search(r'<section id="loose-items".*?</section>', fonds.text, re.S).group(0)
    assert f'data-item="{corpus[1]}"' in loose and f'data-item="{corpus[0]}"' not in loose  # in its volume
    assert '<span class="count">1</span>' in loose  # the fonds' two items less the one in its volume
    vol = client.get(f"/browse/A001/volumes/{volume['id']}")
    assert vol.status_code == 200 and "A001-WS-2020-Y-J01" in vol.text and f'data-item="{corpus[0]}"' in vol.text
    assert 'action="/cart/add"' in vol.text
    boxed = client.get(f"/browse/A001/boxes/{box['id']}")
    assert boxed.status_code == 200 and "一号库房" in boxed.text and f'data-volume="{volume["id"]}"' in boxed.text
    assert f'data-item="{corpus[0]}"' in boxed.text
    # the item page's arrangement path: fonds > volume > box
    item = client.get(f"/records/{corpus[0]}").text
    path = re.search(r'<nav class="breadcrumb".*?</nav>', item, re.S).group(0)
    assert re.findall(r'data-level="(\w+)"', path) == ["fonds", "volume", "box"]
    assert "A001-WS-2020-Y-J01" in path and "H-007" in path
    # a volume or box named under another fonds, an unknown fonds: not found
    assert client.get(f"/browse/B002/volumes/{volume['id']}").status_code == 404
    assert client.get(f"/browse/B002/boxes/{box['id']}").status_code == 404
    assert client.get("/browse/A001/volumes/nope").status_code == 404
    assert client.get("/browse/Q999").status_code == 404


# -- the item page ------------------------------------------------------------------------------------
def test_item_page_verify_now_and_proof_download(api: Any, node_ctx: Any, people: People, tmp_path: Path) -> None:
    filed = api.post("/packages", content=zip_of(write_package(tmp_path / "pkg", good_items(1))),
                     headers={"Content-Type": "application/zip"})  # fmt: skip
    assert filed.status_code == 201, filed.text
    item = filed.json()["items"][0]
    edited = api.patch(f"/items/{item['id']}/metadata", json={"set": {"extra.remarks": "补充说明"}, "reason": "补录"},
                       headers=people.auth("archivist"))  # fmt: skip
    assert edited.status_code == 200, edited.text
    client = logged_in(api, "borrower")
    page = client.get(f"/records/{item['id']}")
    assert page.status_code == 200
    code = re.search(r'<p class="archival-code" id="archival-code">.*?<code>([^<]+)</code>', page.text).group(1)
    assert code == item["archival_code"] == "Z001-WS·2024-Y-BGS-0001"
    assert re.findall(r'<tr data-version="(\d+)">', page.text) == ["1", "2"] and "补录" in page.text
    assert 'id="checks-outcome"' in page.text and 'data-code="AUTH-DIGEST"' in page.text and "真实性" in page.text
    assert 'id="not-anchored"' in page.text and 'id="verify-now"' not in page.text  # not anchored yet
    not_yet = client.get(f"/records/{item['id']}/proof")
    assert not_yet.status_code == 409 and 'data-reason="not_anchored"' in not_yet.text
    assert 'id="verify-not-anchored"' in client.get(f"/records/{item['id']}/verify").text
    assert api.post("/anchor").status_code == 200
    page = client.get(f"/records/{item['id']}")
    tx = re.search(r'<code id="anchor-tx">(0x[0-9a-f]{64})</code>', page.text)
    block = re.search(r'<dd id="anchor-block">(\d+)</dd>', page.text)
    assert tx and block and 'id="verify-now"' in page.text
    verified = client.get(f"/records/{item['id']}/verify")
    assert verified.status_code == 200 and 'data-outcome="authentic"' in verified.text
    steps = re.findall(r'data-step="(\w+)" data-status="(\w+)"', verified.text)
    assert steps == [(n, "passed") for n in ("content_hash", "record", "inclusion", "chain")]
    bundle = client.get(f"/records/{item['id']}/proof")
    assert bundle.status_code == 200 and bundle.headers["content-type"].startswith("application/json")
    assert bundle.headers["content-disposition"] == f'attachment; filename="proof-{item["id"]}.json"'
    body = bundle.json()
    assert body == api.get(f"/items/{item['id']}/proof").json()
    assert body["record"]["item_id"] == item["id"] and body["anchor"]["tx_hash"] == tx.group(1)
    assert body["anchor"]["block_number"] == int(block.group(1))
    # the stored file changed behind the node's back: the content step fails, the later ones do not run
    path = node_ctx.blobs.path_for(item["content_sha256"])
    path.chmod(0o644)
    path.write_bytes(b"not the filed bytes")
    tampered = client.get(f"/records/{item['id']}/verify").text
    assert 'data-outcome="not_authentic"' in tampered
    assert re.findall(r'data-step="(\w+)" data-status="(\w+)"', tampered)[:2] == [("content_hash", "failed"),
                                                                               ("record", "not_run")]  # fmt: skip
    assert "content_mismatch" in tampered
    assert client.get("/records/nope").status_code == 404


def test_english_labels(api: Any, people: People, corpus: list[str]) -> None:
    client = logged_in(api, "borrower")
    client.cookies.set("al_lang", "en")
    page = client.get("/find", params={"q": "码头"})
    assert "3 result(s)" in page.text and "Add to request cart" in page.text and "permanent" in page.text
    item = client.get(f"/records/{corpus[0]}").text
    assert "Archival code" in item and "A001-WS-2020-Y-0001" in item and "not anchored yet" in item
