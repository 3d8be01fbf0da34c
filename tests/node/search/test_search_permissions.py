"""The permission property of search (issue 10, point 4): what a caller gets from the whole index is
exactly what an all-seeing caller gets from the corpus cut down to what that caller may see (its fonds,
and text only of the items whose content it may read). So no result, count, facet or snippet depends on
anything hidden from the caller. Random items, roles, fonds limits, permits, queries and filters."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.core.principal import Principal
from node.core.roles import actions_of
from node.search.index import Doc, Filters, TantivyIndex, Visibility
from node.search.query import parse
from node.search.service import present, visibility_for

WORDS = ["码头", "合同", "财务", "张三", "港口", "审计", "报告", "凭证"]
FONDS = ["A001", "B002", "C003"]


@st.composite
def docs(draw: Any) -> list[Doc]:
    n = draw(st.integers(min_value=0, max_value=10))
    out = []
    for i in range(n):
        title = "".join(draw(st.lists(st.sampled_from(WORDS[:5]), min_size=1, max_size=2)))  # text has more words
        text = "，".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=4)))
        out.append(Doc(
            id=f"item{i:02d}", fonds=draw(st.sampled_from(FONDS)), category=draw(st.sampled_from(["WS", "KJ"])),
            year=draw(st.integers(2018, 2021)), retention=draw(st.sampled_from(["permanent", "30y"])),
            title=title, author=draw(st.sampled_from(["张三", "李四", ""])), reference_code=f"R-{i:03d}",
            text=text,
        ))  # fmt: skip
    return out


PERSONAS = [
    ("archivist",),
    ("borrower",),
    ("borrower",),
    ("approver",),
    ("auditor",),
    ("borrower", "approver"),
    ("system_admin",),
    ("security_admin",),
    ("security_auditor",),
    ("archivist", "borrower"),
]


@st.composite
def principals(draw: Any) -> Principal:
    fonds = draw(st.none() | st.frozensets(st.sampled_from(FONDS)))
    if draw(st.integers(0, 4)) == 0:  # an API key: explicit actions
        actions = draw(st.frozensets(st.sampled_from(["items:read", "items:content", "loans:request"])))
        return Principal("api_key", "7", "key", frozenset(), frozenset(actions), fonds)
    roles = frozenset(draw(st.sampled_from(PERSONAS)))
    return Principal("user", "u1", "someone", roles, actions_of(roles), fonds)


QUERIES = st.one_of(
    st.sampled_from(WORDS), st.just(""), st.sampled_from(WORDS),
    st.builds(lambda a, b: f"{a} OR {b}", st.sampled_from(WORDS), st.sampled_from(WORDS)),
    st.builds(lambda a, b: f"{a} -{b}", st.sampled_from(WORDS), st.sampled_from(WORDS)),
    st.builds(lambda a: f"全文:{a}", st.sampled_from(WORDS)), st.builds(lambda a: f"题名:{a}", st.sampled_from(WORDS)),
    st.builds(lambda a, b: f'"{a}{b}"', st.sampled_from(WORDS), st.sampled_from(WORDS)),
)  # fmt: skip
FILTERS = st.builds(
    Filters, fonds=st.none() | st.frozensets(st.sampled_from(FONDS), min_size=1),
    category=st.none() | st.just(frozenset({"WS"})), year_from=st.none() | st.just(2019),
)  # fmt: skip


def answer(corpus: list[Doc], visibility: Visibility, q: str, filters: Filters) -> dict[str, Any]:
    index = TantivyIndex(None, heap_bytes=15_000_000)
    index.add(corpus)
    index.commit()
    tree = parse(q)
    hits = index.search(tree, filters, visibility, sort="reference_code", limit=100)
    out = present(hits, {d.id: d for d in corpus}, tree, visibility)
    for item in out["items"]:
        item.pop("score")
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), corpus=docs(), principal=principals(), q=QUERIES, filters=FILTERS)
def test_nothing_escapes(data: Any, corpus: list[Doc], principal: Principal, q: str, filters: Filters) -> None:
    permits = frozenset(d.id for d in corpus if data.draw(st.booleans()))  # a borrower's valid permits now
    visibility = visibility_for(principal, lambda: permits)
    got = answer(corpus, visibility, q, filters)
    # the corpus as this caller may see it: its fonds only, text only where it may read the content
    seen = [Doc(**{**d.__dict__, "text": d.text if visibility.may_read(d.id, d.fonds) else ""}) for d in corpus
            if visibility.fonds is None or d.fonds in visibility.fonds]  # fmt: skip
    expected = answer(seen, Visibility(content_all=True), q, filters)
    assert got == expected
    by_id = {d.id: d for d in corpus}
    for item in got["items"]:
        doc = by_id[item["id"]]
        assert visibility.fonds is None or doc.fonds in visibility.fonds
        assert "text" not in item["highlights"] or visibility.may_read(doc.id, doc.fonds)
    if principal.kind == "user" and "system_admin" in principal.roles:  # an officer reads no text
        assert not visibility.reads_some_content


def test_who_reads_content() -> None:
    """The rules the property stands on: content holders read every visible item's text, a borrower only
    its permitted items, everyone else (an approver, the system admin, a plain key) none."""

    def user(*roles: str, fonds: frozenset[str] | None = None) -> Principal:
        return Principal("user", "u", "u", frozenset(roles), actions_of(roles), fonds)

    permits = frozenset({"x"})
    assert visibility_for(user("archivist"), lambda: permits).content_all
    borrower = visibility_for(user("borrower"), lambda: permits)
    assert borrower.content_items == permits and not borrower.content_all
    assert borrower.may_read("x", "A001") and not borrower.may_read("y", "A001")
    for roles in (("approver",), ("auditor",), ("system_admin",), ("security_admin",)):
        assert not visibility_for(user(*roles), lambda: permits).reads_some_content
    key = Principal("api_key", "1", "k", frozenset(), frozenset({"items:read", "loans:request"}), frozenset({"A001"}))
    assert not visibility_for(key, lambda: permits).reads_some_content  # the permit branch is for people
    limited = visibility_for(user("archivist", fonds=frozenset({"A001"})), lambda: permits)
    assert limited.may_read("x", "A001") and not limited.may_read("x", "B002")
