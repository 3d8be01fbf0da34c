"""The query language (node/search/query.py) and the engine on arbitrary input: any `q` parses, any
parsed query runs (no 500 from a stray quote, colon, regex character or NOT alone), highlights escape."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from node.search.index import Doc, Filters, TantivyIndex, Visibility, grams
from node.search.query import And, Not, Or, Term, highlight, parse, positive_terms, snippet

INDEX = TantivyIndex(None, heap_bytes=15_000_000)
INDEX.add([Doc(id="a", fonds="A001", category="WS", year=2020, retention="30y", title="关于码头合同的请示",
               author="张三丰", reference_code="A001-WS-2020-0001", text="全文 码头 (a+b) [x] 100%")])  # fmt: skip
INDEX.commit()
QUERY_TEXT = st.text(alphabet=st.sampled_from(list('码头合同张三 :："()-*+?[]{}\\.^$|#&~AND OR NOT档号题名全文xX1')),
                     max_size=40)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(q=QUERY_TEXT | st.text(max_size=30))
def test_any_query_parses_and_runs(q: str) -> None:
    tree = parse(q)
    for visibility in (Visibility(content_all=True), Visibility(), Visibility(fonds=frozenset({"B002"}))):
        hits = INDEX.search(tree, Filters(), visibility)
        assert 0 <= hits.total <= 1
    for term in positive_terms(tree):
        assert isinstance(term, Term)


def test_the_grammar() -> None:
    assert parse("码头合同") == And((Term("码头"), Term("合同")))
    assert parse('"码头合同"') == Term("码头合同", phrase=True)
    assert parse("题名：合同") == Term("合同", "title")
    assert parse("档号:A001-WS*") == Term("A001-WS*", "reference_code")
    assert parse("合同 OR 协议 NOT 草稿") == Or((Term("合同"), And((Term("协议"), Not(Term("草稿"))))))
    assert parse("-草稿") == Not(Term("草稿"))
    assert parse("") is None and parse("AND OR") is None and parse("((") is None
    assert parse("foo:bar") == And((Term("foo"), Term("bar")))  # not a field name: just words


def test_grams_and_marks() -> None:
    assert grams("码头合同 ABC-12") == ["码头", "头合", "合同", "abc", "12"]
    assert grams("码") == ["码"]
    assert highlight("<b>码头</b>", ["码头"]) == "&lt;b&gt;<mark>码头</mark>&lt;/b&gt;"
    assert highlight("无关", ["码头"]) is None
    text = "前" * 200 + "码头" + "后" * 200
    cut = snippet(text, ["码头"])
    assert cut is not None and cut.startswith("…") and cut.endswith("…") and "<mark>码头</mark>" in cut


def test_field_and_negated_queries_against_one_document() -> None:
    everything = Visibility(content_all=True)

    def total(q: str, visibility: Visibility = everything) -> int:
        return INDEX.search(parse(q), Filters(), visibility).total

    assert total("码头") == 1 and total("码头", Visibility()) == 1  # in the title
    assert total("全文:全文") == 1 and total("全文:全文", Visibility()) == 0  # text: only with content access
    assert total("责任者:三丰") == 1 and total("题名:三丰") == 0
    assert total("档号:a001-ws-2020") == 1 and total("档号:B002") == 0
    assert total("码 NOT 头") == 0 and total("丰") == 1  # single characters
