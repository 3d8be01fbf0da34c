"""The query language of GET /search (pure): words and "phrases", AND / OR / NOT (and `-word`),
parentheses, field queries, and the `<mark>` highlights of a page.

    码头合同                 words (rjieba `cut`): every word must occur (码头 AND 合同), anywhere
    "码头合同"               a phrase: the characters in this order
    题名:合同  title:合同     field queries: 题名/title, 责任者/author, 文号/doc_number, 主题词/keywords,
    档号:A001-WS-2020*       全文/text; 档号/reference_code matches by prefix (a trailing * is optional)
    合同 OR 协议 NOT 草稿     OR binds weaker than AND (implicit between terms); NOT / - excludes

Bad syntax never fails: an unbalanced quote or parenthesis is read as far as it goes.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import rjieba

FIELDS = {
    "题名": "title", "title": "title", "责任者": "author", "author": "author", "档号": "reference_code",
    "reference_code": "reference_code", "文号": "doc_number", "doc_number": "doc_number", "主题词": "keywords",
    "keywords": "keywords", "全文": "text", "text": "text",
}  # fmt: skip
_WORDLIKE = re.compile(r"[0-9A-Za-z\u00c0-\u024f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
MAX_TERMS = 32  # a query is bounded: more terms than this are dropped


@dataclass(frozen=True)
class Term:
    text: str
    field: str | None = None  # None: any metadata field or (where allowed) the full text
    phrase: bool = False


@dataclass(frozen=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    part: Node


Node = Term | And | Or | Not


def query_words(text: str) -> list[str]:
    """rjieba `cut` (query time): the words of a term, without blanks and punctuation."""
    return [w for w in rjieba.cut(text) if _WORDLIKE.search(w)]


_TOKEN = re.compile(r'\s+|(\()|(\))|(-)?(?:([^\s:：()"]+)[:：])?(?:"([^"]*)"?|([^\s()"]+))')


def _lex(text: str) -> list[tuple[str, str | None, str | None, bool]]:
    """(kind, field, value, negated): kind is "(" , ")", "op" or "term"."""
    out: list[tuple[str, str | None, str | None, bool]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            pos += 1
            continue
        pos = m.end()
        if m.group(1):
            out.append(("(", None, None, False))
        elif m.group(2):
            out.append((")", None, None, False))
        elif m.group(5) is not None or m.group(6) is not None:
            field = FIELDS.get((m.group(4) or "").lower()) if m.group(4) else None
            if m.group(4) and field is None:  # not a field name: the colon is part of the word
                value = m.group(4) + ":" + (m.group(5) if m.group(5) is not None else m.group(6))
                out.append(("term", None, value, bool(m.group(3))))
                continue
            if m.group(5) is not None:
                out.append(("phrase", field, m.group(5), bool(m.group(3))))
            elif m.group(6) in ("AND", "OR", "NOT", "&&", "||") and not m.group(3) and not m.group(4):
                out.append(("op", None, {"&&": "AND", "||": "OR"}.get(m.group(6), m.group(6)), False))
            else:
                out.append(("term", field, m.group(6), bool(m.group(3))))
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str | None, str | None, bool]]) -> None:
        self.tokens, self.pos, self.terms = tokens, 0, 0

    def peek(self) -> tuple[str, str | None, str | None, bool] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse_or(self) -> Node | None:
        parts = [p for p in [self.parse_and()] if p is not None]
        while (tok := self.peek()) is not None and tok[0] == "op" and tok[2] == "OR":
            self.pos += 1
            part = self.parse_and()
            if part is not None:
                parts.append(part)
        return None if not parts else parts[0] if len(parts) == 1 else Or(tuple(parts))

    def parse_and(self) -> Node | None:
        parts: list[Node] = []
        while (tok := self.peek()) is not None and tok[0] != ")" and not (tok[0] == "op" and tok[2] == "OR"):
            if tok[0] == "op" and tok[2] == "AND":
                self.pos += 1
                continue
            part = self.parse_unary()
            if part is not None:
                parts.append(part)
        return None if not parts else parts[0] if len(parts) == 1 else And(tuple(parts))

    def parse_unary(self) -> Node | None:
        tok = self.peek()
        assert tok is not None
        if tok[0] == "op" and tok[2] == "NOT":
            self.pos += 1
            if self.peek() is None:
                return None
            part = self.parse_unary()
            return Not(part) if part is not None else None
        self.pos += 1
        if tok[0] == "(":
            inner = self.parse_or()
            if (close := self.peek()) is not None and close[0] == ")":
                self.pos += 1
            return inner
        if tok[0] == ")":
            return None
        kind, field, value, negated = tok
        node = self._term(kind, field, value or "")
        if node is None:
            return None
        return Not(node) if negated else node

    def _term(self, kind: str, field: str | None, value: str) -> Node | None:
        value = value.strip()
        if not value or self.terms >= MAX_TERMS:
            return None
        self.terms += 1
        if field == "reference_code":
            return Term(value, field)
        if kind == "phrase":
            return Term(value, field, phrase=True) if _WORDLIKE.search(value) else None
        words = query_words(value)
        if not words:
            return None
        terms = tuple(Term(w, field) for w in words)
        return terms[0] if len(terms) == 1 else And(terms)


def parse(text: str) -> Node | None:
    """The query tree of `q` (None: no condition, every visible item)."""
    return _Parser(_lex(text or "")).parse_or()


def positive_terms(node: Node | None, negated: bool = False) -> list[Term]:
    """The terms that make an item match (not those under NOT): what the highlights mark."""
    if node is None:
        return []
    if isinstance(node, Term):
        return [] if negated else [node]
    if isinstance(node, Not):
        return positive_terms(node.part, not negated)
    return [t for part in node.parts for t in positive_terms(part, negated)]


# -- highlights -----------------------------------------------------------------------------------------
def _spans(value: str, needles: list[str]) -> list[tuple[int, int]]:
    lowered = value.lower()
    spans: list[tuple[int, int]] = []
    for needle in {n.lower() for n in needles if n}:
        start = lowered.find(needle)
        while start >= 0:
            spans.append((start, start + len(needle)))
            start = lowered.find(needle, start + 1)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def _marked(value: str, spans: list[tuple[int, int]]) -> str:
    out, pos = [], 0
    for a, b in spans:
        out.append(html.escape(value[pos:a]))
        out.append(f"<mark>{html.escape(value[a:b])}</mark>")
        pos = b
    out.append(html.escape(value[pos:]))
    return "".join(out)


def highlight(value: str, needles: list[str]) -> str | None:
    """`value` with every occurrence of a needle in <mark> and everything else HTML-escaped; None: none."""
    spans = _spans(value or "", needles)
    return _marked(value, spans) if spans else None


def snippet(text: str, needles: list[str], *, width: int = 80, max_marks: int = 8) -> str | None:
    """A window of `text` around its first match, marked and escaped (None: no match)."""
    spans = _spans(text or "", needles)
    if not spans:
        return None
    first = spans[0][0]
    start = max(0, first - width // 2)
    end = min(len(text), start + width * 2)
    inside = [(a - start, b - start) for a, b in spans if a >= start and b <= end][:max_marks]
    body = _marked(text[start:end], inside).replace("\n", " ")
    return ("…" if start > 0 else "") + body + ("…" if end < len(text) else "")


def needles_for(terms: list[Term], field: str) -> list[str]:
    """The strings to mark in one field: bare terms everywhere, field terms in their field only."""
    out = []
    for term in terms:
        if term.field is None or term.field == field:
            out.append(term.text.rstrip("*") if term.field == "reference_code" else term.text)
    return out
