"""The search index behind a small interface (`SearchIndex`), and its embedded implementation on tantivy.

The interface speaks in documents (`Doc`), a query tree (node/search/query.py), filter clauses
(`Filters`) and what the caller may see (`Visibility`); an engine returns ids, a total and facet
counts computed by the engine over the *same* query, permissions included. That is all a distributed
engine (OpenSearch with the IK analyzer: bulk API, bool filter clauses, terms aggregations) would have to
implement; highlighting of the page is done by the service over the stored values (node/search/query.py).

Analysis (ours, in Python, so both paths of a term are explicit and testable):
- `*_w` fields: rjieba `cut_for_search` tokens (words and their sub-words), for relevance;
- `*_g` fields: CJK bigrams (a lone CJK character as itself) and lower-cased ASCII words, with positions:
  a query term is a phrase of its grams, so any 2-character word (合同, 码头) or personal name inside a
  longer segmented word always matches, whatever jieba made of it.
Both are fed to tantivy's `whitespace` tokenizer as space-joined tokens.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import rjieba
import tantivy

from node.search.query import And, Node, Not, Or, Term, query_words

SCHEMA_VERSION = 1
FACETS = ("fonds", "category", "year", "retention", "classification", "open")
META_FIELDS = ("title", "author", "doc_number", "keywords", "reference_code", "remarks")
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"([{_CJK}]+)|([0-9A-Za-z\u00c0-\u024f]+)")
MISSING_REF = "\U0010ffff"  # sorts items without a reference code last


def _tiebreak(item_id: str) -> int:
    """A fixed order among items of one date, whatever order they were indexed in (reindex = incremental)."""
    return int(hashlib.sha256(item_id.encode()).hexdigest()[:12], 16) % 10**10


def grams(value: str) -> list[str]:
    """CJK bigrams (a lone CJK character as itself) and lower-cased words, in order (positions)."""
    out: list[str] = []
    for cjk, word in _RUNS.findall(value or ""):
        if cjk:
            out.extend([cjk] if len(cjk) == 1 else [cjk[i : i + 2] for i in range(len(cjk) - 1)])
        else:
            out.append(word.lower())
    return out


def words_for_search(value: str) -> list[str]:
    """rjieba cut_for_search tokens, lower-cased, without blanks and punctuation."""
    return [w for w in rjieba.cut_for_search((value or "").lower()) if w.isalnum()]


@dataclass
class Doc:
    """What the index holds of one item: catalogue metadata, arrangement, and (if extracted) its text."""

    id: str
    fonds: str
    category: str
    year: int
    retention: str
    title: str = ""
    author: str = ""
    doc_number: str = ""
    keywords: str = ""
    reference_code: str = ""
    remarks: str = ""
    date: int = 0  # yyyymmdd (year*10000 when only the year is known)
    classification: str = ""  # 密级
    open: str = ""  # open status: "open" | "closed" | ""
    box: list[str] = field(default_factory=list)  # box id and code
    volume: list[str] = field(default_factory=list)  # volume id and reference code
    text: str = ""


@dataclass
class Filters:
    """Filter clauses (they do not score). None: no condition."""

    fonds: frozenset[str] | None = None
    category: frozenset[str] | None = None
    year_from: int | None = None
    year_to: int | None = None
    retention: frozenset[str] | None = None
    classification: frozenset[str] | None = None
    open: str | None = None
    box: str | None = None
    volume: str | None = None


@dataclass(frozen=True)
class Visibility:
    """What a caller may see, applied inside the engine's query (never to its answer).

    `fonds`: the fonds whose catalogue the caller may browse (None: all). Full text matches count only
    for items whose content the caller may read: every item of `content_fonds` (None with
    `content_all`: every visible item) or an item of `content_items` (a borrower's valid permits)."""

    fonds: frozenset[str] | None = None
    content_all: bool = False
    content_fonds: frozenset[str] = frozenset()
    content_items: frozenset[str] = frozenset()

    @property
    def reads_some_content(self) -> bool:
        return self.content_all or bool(self.content_fonds) or bool(self.content_items)

    def may_read(self, item_id: str, fonds: str) -> bool:
        if self.fonds is not None and fonds not in self.fonds:
            return False
        return self.content_all or fonds in self.content_fonds or item_id in self.content_items


@dataclass
class Hits:
    total: int
    hits: list[tuple[str, float | None]]  # (item id, score or None when sorted by a field)
    facets: dict[str, dict[str, int]]


class SearchIndex(Protocol):
    """What the node needs of a search engine (bulk add, delete, filtered and permissioned query, facets)."""

    def add(self, docs: Iterable[Doc], *, fresh: bool = False) -> int: ...

    def delete(self, ids: Iterable[str]) -> None: ...

    def commit(self) -> None: ...

    def search(
        self, query: Node | None, filters: Filters, visibility: Visibility, *, sort: str = "relevance",
        limit: int = 20, offset: int = 0,
    ) -> Hits: ...  # fmt: skip

    def count(self) -> int: ...


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw", fast=True)
    for name in ("fonds", "category", "retention", "classification", "open", "box", "volume"):
        sb.add_text_field(name, tokenizer_name="raw", fast=True)
    sb.add_integer_field("year", indexed=True, fast=True)
    sb.add_integer_field("date", indexed=True, fast=True)  # yyyymmdd * 10**10 + a tie-break of the id
    sb.add_text_field("ref_sort", tokenizer_name="raw", fast=True)
    sb.add_text_field("reference_code", tokenizer_name="raw")  # lower-cased, for prefix queries
    for name in ("title", "author", "doc_number", "keywords", "meta", "text"):
        sb.add_text_field(f"{name}_g", tokenizer_name="whitespace", index_option="position")
    for name in ("title", "meta", "text"):
        sb.add_text_field(f"{name}_w", tokenizer_name="whitespace", index_option="freq")
    return sb.build()


# Which gram fields a field query searches; None (a bare term) searches the metadata and, where allowed, text.
FIELD_GRAMS = {"title": "title_g", "author": "author_g", "doc_number": "doc_number_g", "keywords": "keywords_g",
               "text": "text_g"}  # fmt: skip


class TantivyIndex:
    """The embedded engine: one tantivy index in a directory of the data dir."""

    def __init__(self, path: Path | None, *, heap_bytes: int = 128_000_000, threads: int = 1) -> None:
        """`path` None: in memory (tests)."""
        self.path = path
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
        self.schema = _schema()
        self.index = tantivy.Index(self.schema, path=str(path) if path is not None else None, reuse=True)
        self.heap_bytes, self.threads = heap_bytes, threads
        self._writer: Any = None

    # -- writing ------------------------------------------------------------------------------------------
    def writer(self) -> Any:
        if self._writer is None:
            self._writer = self.index.writer(heap_size=self.heap_bytes, num_threads=self.threads)
        return self._writer

    def _document(self, doc: Doc) -> tantivy.Document:
        meta = [doc.title, doc.author, doc.doc_number, doc.keywords, doc.reference_code, doc.remarks]
        meta_grams: list[str] = []
        meta_words: list[str] = []
        title_words = words_for_search(doc.title)
        for value in meta:
            meta_grams.extend(grams(value))
            meta_words.extend(title_words if value is doc.title else words_for_search(value))
        return tantivy.Document(
            id=doc.id, fonds=doc.fonds, category=doc.category, retention=doc.retention,
            classification=doc.classification, open=doc.open, box=doc.box or [""], volume=doc.volume or [""],
            year=doc.year, date=doc.date * 10**10 + _tiebreak(doc.id),
            ref_sort=(doc.reference_code or MISSING_REF) + "\x00" + doc.id,
            reference_code=doc.reference_code.lower(),
            title_g=" ".join(grams(doc.title)), author_g=" ".join(grams(doc.author)),
            doc_number_g=" ".join(grams(doc.doc_number)), keywords_g=" ".join(grams(doc.keywords)),
            meta_g=" ".join(meta_grams), text_g=" ".join(grams(doc.text)),
            title_w=" ".join(title_words), meta_w=" ".join(meta_words),
            text_w=" ".join(words_for_search(doc.text)),
        )  # fmt: skip

    def add(self, docs: Iterable[Doc], *, fresh: bool = False) -> int:
        """Add or replace documents (by id): a re-add after a crash is harmless. `fresh`: the index is
        being built from nothing, there is nothing to replace."""
        writer, n = self.writer(), 0
        for doc in docs:
            if not fresh:
                writer.delete_documents_by_term("id", doc.id)
            writer.add_document(self._document(doc))
            n += 1
        return n

    def delete(self, ids: Iterable[str]) -> None:
        writer = self.writer()
        for item_id in ids:
            writer.delete_documents_by_term("id", item_id)

    def commit(self) -> None:
        """Make the writes durable and visible, and let go of the writer (its lock is per directory)."""
        if self._writer is not None:
            self._writer.commit()
            self._writer.wait_merging_threads()
            self._writer = None
        self.index.reload()

    def rollback(self) -> None:
        if self._writer is not None:
            self._writer.rollback()
            self._writer = None

    def count(self) -> int:
        self.index.reload()
        return self.index.searcher().num_docs

    # -- reading ------------------------------------------------------------------------------------------
    def _term_clause(self, term: Term, content_ok: Any) -> Any:
        """A query term: a phrase of its grams (must), plus its words for relevance (should). A bare term
        matches the metadata or (only where `content_ok`) the text."""
        s = self.schema
        if term.field == "reference_code":
            prefix = re.escape(term.text.lower().rstrip("*"))
            return tantivy.Query.regex_query(s, "reference_code", prefix + ".*")
        if term.field is None:
            fields = ["meta_g"] + (["text_g"] if content_ok is not None else [])
        elif term.field == "text" and content_ok is None:
            return tantivy.Query.empty_query()  # the caller reads no content: the text matches nothing
        else:
            fields = [FIELD_GRAMS[term.field]]
        alternatives = []
        for name in fields:
            clause = self._gram_query(name, term.text)
            if clause is None:
                continue
            scoring = self._word_query(name, term.text)
            if scoring is not None:
                clause = tantivy.Query.boolean_query([(tantivy.Occur.Must, clause), (tantivy.Occur.Should, scoring)])
            if name == "text_g":
                clause = tantivy.Query.boolean_query([(tantivy.Occur.Must, clause), (tantivy.Occur.Must, content_ok)])
            alternatives.append((tantivy.Occur.Should, clause))
        if not alternatives:
            return tantivy.Query.empty_query()
        return alternatives[0][1] if len(alternatives) == 1 else tantivy.Query.boolean_query(alternatives)

    def _gram_query(self, name: str, text: str) -> Any:
        tokens = grams(text)
        if not tokens:
            return None
        if len(tokens) == 1:
            token = tokens[0]
            if len(token) == 1 and re.match(rf"[{_CJK}]", token):  # one CJK character: inside any bigram
                c = re.escape(token)
                return tantivy.Query.regex_query(self.schema, name, f"{c}.?|.{c}")
            return tantivy.Query.term_query(self.schema, name, token)
        return tantivy.Query.phrase_query(self.schema, name, tokens)

    def _word_query(self, gram_field: str, text: str) -> Any:
        """The term's words (rjieba `cut`) for relevance: metadata above text, the title above the rest."""
        words = [w.lower() for w in query_words(text)]
        targets = {"meta_g": [("meta_w", 2.0), ("title_w", 3.0)], "text_g": [("text_w", 1.0)],
                   "title_g": [("title_w", 3.0)]}.get(gram_field)  # fmt: skip
        if not words or not targets:
            return None
        clauses = []
        for name, boost in targets:
            q = tantivy.Query.boolean_query(
                [(tantivy.Occur.Should, tantivy.Query.term_query(self.schema, name, w)) for w in words]
            )
            clauses.append((tantivy.Occur.Should, q if boost == 1.0 else tantivy.Query.boost_query(q, boost)))
        return clauses[0][1] if len(clauses) == 1 else tantivy.Query.boolean_query(clauses)

    def _node(self, node: Node, content_ok: Any) -> Any:
        if isinstance(node, Term):
            return self._term_clause(node, content_ok)
        if isinstance(node, Not):
            excluded = self._node(node.part, content_ok)
            return tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, tantivy.Query.all_query()), (tantivy.Occur.MustNot, excluded)]
            )
        occur = tantivy.Occur.Must if isinstance(node, And) else tantivy.Occur.Should
        assert isinstance(node, And | Or)
        return tantivy.Query.boolean_query([(occur, self._node(part, content_ok)) for part in node.parts])

    def _terms(self, name: str, values: Iterable[str]) -> Any:
        return tantivy.Query.term_set_query(self.schema, name, sorted(values))

    def build_query(self, query: Node | None, filters: Filters, visibility: Visibility) -> Any:
        """The whole query: the caller's terms (text only where readable), filters, and the fonds visible."""
        s = self.schema
        content_ok = None
        if visibility.content_all:
            content_ok = tantivy.Query.all_query()
        elif visibility.reads_some_content:
            parts = []
            if visibility.content_fonds:
                parts.append((tantivy.Occur.Should, self._terms("fonds", visibility.content_fonds)))
            if visibility.content_items:
                parts.append((tantivy.Occur.Should, self._terms("id", visibility.content_items)))
            content_ok = tantivy.Query.boolean_query(parts)
        must: list[Any] = [tantivy.Query.all_query() if query is None else self._node(query, content_ok)]
        if visibility.fonds is not None:
            must.append(self._terms("fonds", visibility.fonds))
        if filters.fonds is not None:
            must.append(self._terms("fonds", filters.fonds))
        if filters.category is not None:
            must.append(self._terms("category", filters.category))
        if filters.retention is not None:
            must.append(self._terms("retention", filters.retention))
        if filters.classification is not None:
            must.append(self._terms("classification", filters.classification))
        if filters.open is not None:
            must.append(tantivy.Query.term_query(s, "open", filters.open))
        if filters.box is not None:
            must.append(tantivy.Query.term_query(s, "box", filters.box))
        if filters.volume is not None:
            must.append(tantivy.Query.term_query(s, "volume", filters.volume))
        if filters.year_from is not None or filters.year_to is not None:
            low = filters.year_from if filters.year_from is not None else -(2**62)
            high = filters.year_to if filters.year_to is not None else 2**62
            must.append(tantivy.Query.range_query(s, "year", tantivy.FieldType.Integer, low, high))
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in must])

    def search(
        self, query: Node | None, filters: Filters, visibility: Visibility, *, sort: str = "relevance",
        limit: int = 20, offset: int = 0,
    ) -> Hits:  # fmt: skip
        if visibility.fonds is not None and not visibility.fonds:
            return Hits(0, [], {name: {} for name in FACETS})
        q = self.build_query(query, filters, visibility)
        searcher = self.index.searcher()
        if sort == "relevance":
            result = searcher.search(q, limit, count=True, offset=offset)
        elif sort == "date":
            result = searcher.search(q, limit, count=True, offset=offset, order_by_field="date",
                                     order=tantivy.Order.Desc)  # fmt: skip
        else:  # reference_code
            result = searcher.search(q, limit, count=True, offset=offset, order_by_field="ref_sort",
                                     order=tantivy.Order.Asc)  # fmt: skip
        hits = [(searcher.doc(address)["id"][0], float(key) if sort == "relevance" else None)
                for key, address in result.hits]  # fmt: skip
        aggregations = {name: {"terms": {"field": name, "size": 1000}} for name in FACETS}
        raw = searcher.aggregate(q, aggregations) if result.count else {}
        facets = {
            name: {str(b["key"]): int(b["doc_count"]) for b in raw.get(name, {}).get("buckets", []) if b["key"] != ""}
            for name in FACETS
        }
        return Hits(int(result.count), hits, facets)


def remove_index_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
