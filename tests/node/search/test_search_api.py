"""GET /search over a corpus with known answers (issue 10, points 2-5): words, phrases, AND/OR/NOT, field
queries, filters, facets, sorting, paging, highlights; who sees what; the audit trail of searches; the
index following metadata edits and arrangement moves."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from node.core.models import AuditEvent, ItemText, TextStatus
from tests.helpers.arrangement import ingest
from tests.helpers.people import People

CORPUS: list[dict[str, Any]] = [
    {"fonds": "A001", "title": "关于码头建设合同的请示", "category": "WS", "year": 2020, "retention": "永久",
     "archival_code": "A001-WS-2020-Y-0001",
     "extra": {"responsible": "张三丰", "document_number": "港发〔2020〕12号", "keywords": "码头 建设",
               "date": "2020-03-15"}},
    {"fonds": "A001", "title": "年度财务报告", "category": "WS", "year": 2021, "retention": "30年",
     "archival_code": "A001-WS-2021-D30-0002", "extra": {"responsible": "李四", "date": "2021-12-01"}},
    {"fonds": "B002", "title": "会计凭证汇总", "category": "KJ", "year": 2019, "retention": "10年",
     "archival_code": "B002-KJ-2019-D10-0001", "extra": {"responsible": "王五", "classification": "内部"}},
    {"fonds": "B002", "title": "港口调度通知 <img src=x onerror=alert(1)>", "category": "WS", "year": 2022,
     "retention": "永久", "extra": {"responsible": "赵六", "open_status": "开放"}},
]  # fmt: skip
TEXTS = {
    3: "本通知涉及码头合同的执行情况，请各单位<script>alert(1)</script>遵照执行。",
    0: "请示全文：拟与某公司签订码头建设合同，金额若干。",
}


@pytest.fixture
def corpus(api: Any, node_ctx: Any) -> list[str]:
    ids = [ingest(api, f"doc {i}".encode(), **meta)["id"] for i, meta in enumerate(CORPUS)]
    with node_ctx.sessions() as s, s.begin():
        for n, text in TEXTS.items():
            s.add(ItemText(item_id=ids[n], status=TextStatus.DONE, method="txt", text=text,
                           extracted_at=datetime.now(UTC)))  # fmt: skip
    node_ctx.search().catch_up()
    return ids


def search(api: Any, headers: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
    r = api.get("/search", params=params, headers=headers or {})
    assert r.status_code == 200, r.text
    return r.json()


def found(answer: dict[str, Any], ids: list[str]) -> set[int]:
    """The corpus positions of the items of an answer."""
    return {ids.index(item["id"]) for item in answer["items"]}


def test_words_phrases_and_boolean_queries(api: Any, corpus: list[str], people: People) -> None:
    arch = people.auth("archivist")
    assert found(search(api, arch, q="码头"), corpus) == {0, 3}  # 3 by its text only
    assert found(search(api, arch, q="合同"), corpus) == {0, 3}  # a 2-character word
    assert found(search(api, arch, q="码头合同"), corpus) == {0, 3}  # words: both, anywhere
    assert found(search(api, arch, q='"码头合同"'), corpus) == {3}  # a phrase: adjacent (only 3's text)
    assert found(search(api, arch, q="财务 OR 会计"), corpus) == {1, 2}
    assert found(search(api, arch, q="码头 NOT 通知"), corpus) == {0}
    assert found(search(api, arch, q="码头 -通知"), corpus) == {0}
    assert found(search(api, arch, q="(财务 OR 会计) AND 凭证"), corpus) == {2}
    assert found(search(api, arch, q="不存在的词"), corpus) == set()
    assert search(api, arch, q="")["total"] == 4  # no words: every visible item


def test_field_queries(api: Any, corpus: list[str], people: People) -> None:
    arch = people.auth("archivist")
    assert found(search(api, arch, q="题名:财务"), corpus) == {1}
    assert found(search(api, arch, q="title:码头"), corpus) == {0}
    assert found(search(api, arch, q="题名:合同"), corpus) == {0}  # not 3, whose text has it
    assert found(search(api, arch, q="责任者:三丰"), corpus) == {0}  # part of a personal name
    assert found(search(api, arch, q="author:李四"), corpus) == {1}
    assert found(search(api, arch, q="档号:A001-WS"), corpus) == {0, 1}  # prefix
    assert found(search(api, arch, q="reference_code:a001-ws-2021*"), corpus) == {1}
    assert found(search(api, arch, q="文号:港发"), corpus) == {0}
    assert found(search(api, arch, q="全文:执行"), corpus) == {3}


def test_filters_facets_sort_and_pages(api: Any, corpus: list[str], people: People) -> None:
    arch = people.auth("archivist")
    assert found(search(api, arch, fonds="B002"), corpus) == {2, 3}
    assert found(search(api, arch, fonds="A001,B002", category="KJ"), corpus) == {2}
    assert found(search(api, arch, year_from=2020, year_to=2021), corpus) == {0, 1}
    assert found(search(api, arch, year_from=2022), corpus) == {3}
    assert found(search(api, arch, retention="永久"), corpus) == {0, 3}
    assert found(search(api, arch, retention="permanent", fonds="A001"), corpus) == {0}
    assert found(search(api, arch, classification="内部"), corpus) == {2}
    assert found(search(api, arch, open="open"), corpus) == {3}
    every = search(api, arch)
    assert every["facets"]["fonds"] == {"A001": 2, "B002": 2}
    assert every["facets"]["category"] == {"WS": 3, "KJ": 1}
    assert every["facets"]["year"] == {"2019": 1, "2020": 1, "2021": 1, "2022": 1}
    assert every["facets"]["retention"] == {"permanent": 2, "30y": 1, "10y": 1}
    narrowed = search(api, arch, q="码头", fonds="A001")
    assert narrowed["total"] == 1 and narrowed["facets"]["fonds"] == {"A001": 1}
    by_code = [i["reference_code"] for i in search(api, arch, sort="reference_code")["items"]]
    assert by_code == ["A001-WS-2020-Y-0001", "A001-WS-2021-D30-0002", "B002-KJ-2019-D10-0001", None]
    by_date = [i["year"] for i in search(api, arch, sort="date")["items"]]
    assert by_date == [2022, 2021, 2020, 2019]
    pages = [search(api, arch, sort="reference_code", limit=2, offset=o) for o in (0, 2, 4)]
    assert [len(p["items"]) for p in pages] == [2, 2, 0] and all(p["total"] == 4 for p in pages)
    assert [i["id"] for p in pages for i in p["items"]] == [
        i["id"] for i in search(api, arch, sort="reference_code")["items"]
    ]
    item = search(api, arch, q="财务")["items"][0]
    assert set(item) == {"id", "reference_code", "title", "fonds", "year", "category", "retention", "score",
                         "highlights"}  # fmt: skip
    assert item["score"] > 0 and item["retention"] == "30y"


@pytest.mark.parametrize(
    ("params", "reason"),
    [({"sort": "size"}, "invalid_sort"), ({"limit": 0}, "invalid_input"), ({"limit": 101}, "invalid_input"),
     ({"offset": -1}, "invalid_input"), ({"year_from": 2022, "year_to": 2020}, "invalid_year_range"),
     ({"open": "maybe"}, "invalid_open")],
)  # fmt: skip
def test_bad_parameters_are_refused(api: Any, corpus: list[str], params: dict[str, Any], reason: str) -> None:
    r = api.get("/search", params=params)
    assert r.status_code == 422 and r.json()["error"] == reason


def test_highlights_mark_matches_and_escape_everything_else(api: Any, corpus: list[str], people: People) -> None:
    arch = people.auth("archivist")
    item = search(api, arch, q="码头")["items"]
    by_id = {i["id"]: i for i in item}
    first = by_id[corpus[0]]["highlights"]
    assert first["title"] == "关于<mark>码头</mark>建设合同的请示"
    assert "<mark>码头</mark>" in first["text"]
    text = by_id[corpus[3]]["highlights"]["text"]
    assert "<mark>码头</mark>" in text and "<script>" not in text and "&lt;script&gt;" in text
    injected = search(api, arch, q="港口")["items"][0]["highlights"]["title"]
    assert injected == "<mark>港口</mark>调度通知 &lt;img src=x onerror=alert(1)&gt;"
    assert search(api, arch, q="题名:码头")["items"][0]["highlights"].get("author") is None


def test_roles_see_metadata_text_only_with_content_access(
    api: Any, corpus: list[str], people: People, node_ctx: Any
) -> None:
    from sqlalchemy import select

    # the approver browses the catalogue but reads no content: no text hits, no snippets
    for role in ("approver", "auditor", "borrower", "security_admin", "security_auditor"):
        answer = search(api, people.auth(role), q="码头")
        assert found(answer, corpus) == {0}, role
        assert answer["total"] == 1 and answer["facets"]["fonds"] == {"A001": 1}
        assert all("text" not in i["highlights"] for i in answer["items"])
        assert found(search(api, people.auth(role), q="全文:执行"), corpus) == set()
    # the system admin does not browse the catalogue at all
    r = api.get("/search", params={"q": "码头"}, headers=people.auth("system_admin"))
    assert r.status_code == 403
    with node_ctx.reader() as s:  # a refused search is in the trail too (the audit middleware's event)
        refused = s.scalars(select(AuditEvent).where(AuditEvent.principal_id == people.ids["system_admin"],
                                                     AuditEvent.target == "/search")).all()  # fmt: skip
    assert [e.outcome for e in refused] == ["denied"]
    assert api.get("/search", headers={"Authorization": ""}).status_code == 401


def test_fonds_limited_key_sees_nothing_of_another_fonds(api: Any, corpus: list[str], node_ctx: Any) -> None:
    from node.users import service as users

    with node_ctx.sessions() as s, s.begin():
        _, key = users.create_api_key(s, "b-reader", ["items:read"], ["B002"])
    headers = {"Authorization": f"Bearer {key}"}
    every = search(api, headers)
    assert found(every, corpus) == {2, 3} and every["total"] == 2
    assert every["facets"]["fonds"] == {"B002": 2} and "2020" not in every["facets"]["year"]
    assert search(api, headers, q="财务")["total"] == 0
    assert search(api, headers, fonds="A001")["total"] == 0  # asking for it shows nothing either
    assert search(api, headers, q="档号:A001")["facets"]["fonds"] == {}


def test_every_search_is_in_the_audit_trail_aggregated(api: Any, corpus: list[str], people: People,
                                                       node_ctx: Any) -> None:  # fmt: skip
    from sqlalchemy import select

    def events() -> list[AuditEvent]:
        with node_ctx.reader() as s:
            return list(s.scalars(select(AuditEvent).where(AuditEvent.action == "items:search")
                                  .order_by(AuditEvent.seq)))  # fmt: skip

    before = len(events())
    search(api, people.auth("approver"), q="码头", fonds="A001")
    first = events()[before:]
    assert len(first) == 1
    details = json.loads(first[0].details_json)
    assert details["q"] == "码头" and details["filters"] == {"fonds": "A001"} and details["aggregated"] is False
    assert first[0].principal_id == people.ids["approver"] and first[0].outcome == "ok"
    for q in ("合同", "合同", "财务"):
        search(api, people.auth("approver"), q=q)
    assert len(events()) == before + 1  # the rest of the window is one event, later
    from node.search.service import flush_audit

    flush_audit(node_ctx)
    last = events()[-1]
    details = json.loads(last.details_json)
    assert details["aggregated"] is True and details["count"] == 3
    assert sorted((d["q"], d["count"]) for d in details["queries"]) == [("合同", 2), ("财务", 1)]


def test_index_follows_metadata_edits_and_moves(api: Any, corpus: list[str], people: People,
                                                node_ctx: Any) -> None:  # fmt: skip
    arch = people.auth("archivist")
    r = api.patch(f"/items/{corpus[1]}/metadata", json={"set": {"title": "年度审计报告"}, "reason": "typo"},
                  headers=arch)  # fmt: skip
    assert r.status_code == 200, r.text
    box = api.post("/boxes", json={"fonds": "A001", "code": "BOX-7"}, headers=arch).json()
    assert api.post(f"/items/{corpus[0]}/move", json={"box": box["id"]}, headers=arch).status_code == 200
    node_ctx.search().catch_up()
    assert found(search(api, arch, q="审计"), corpus) == {1}
    assert found(search(api, arch, q="财务"), corpus) == set()
    assert found(search(api, arch, box=box["id"]), corpus) == {0}
    assert found(search(api, arch, box="BOX-7"), corpus) == {0}
    assert api.post(f"/items/{corpus[0]}/move", json={"box": None}, headers=arch).status_code == 200
    node_ctx.search().catch_up()
    assert found(search(api, arch, box=box["id"]), corpus) == set()


def test_new_text_is_followed_by_its_watermark(api: Any, corpus: list[str], people: People, node_ctx: Any) -> None:
    arch = people.auth("archivist")
    assert found(search(api, arch, q="凭证号码"), corpus) == set()
    with node_ctx.sessions() as s, s.begin():
        now = datetime.now(UTC)
        s.add(ItemText(item_id=corpus[2], status=TextStatus.DONE, text="记账凭证号码表", extracted_at=now))
        s.add(ItemText(item_id=corpus[1], status=TextStatus.FAILED, text="", message="bound"))
    assert node_ctx.search().catch_up() >= 1
    assert found(search(api, arch, q="凭证号码"), corpus) == {2}
