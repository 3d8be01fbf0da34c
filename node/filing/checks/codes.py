"""Archival reference codes (档号) per fonds and category, from node/filing/checks/schemes/reference_codes.json.

Pure: parsing, validating and formatting codes, the next number after the ones already issued, and
the continuity of a run of numbers. Keeping the counters (so a number is never issued twice across
packages) is the filing layer's job: it passes the numbers already issued to `next_number`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from node.core.errors import CodeError

RULES_FILE = Path(__file__).parent / "schemes" / "reference_codes.json"
_TOKEN = re.compile(r"\{(fonds|category|year|retention|organisation|number)(?::0(\d)d)?\}")
_FIELD_RE = {
    "fonds": r"[A-Z0-9]{1,16}",
    "category": r"[A-Z]{2,4}",
    "year": r"\d{4}",
    "retention": r"Y|D30|D10|C|D\d{1,3}",
    "organisation": r"[A-Z0-9]{1,10}",
}


@dataclass(frozen=True)
class CodeRule:
    pattern: str
    scope: tuple[str, ...] = ("fonds", "category", "year", "retention", "organisation")
    start: int = 1
    retention_codes: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def width(self) -> int:
        m = re.search(r"\{number:0(\d)d\}", self.pattern)
        return int(m[1]) if m else 4

    @property
    def regex(self) -> re.Pattern[str]:
        return _compile(self.pattern)

    def retention_code(self, retention: str) -> str:
        code = self.retention_codes.get(retention, retention)
        if not re.fullmatch(_FIELD_RE["retention"], code):
            raise CodeError(f"retention {retention!r} has no code (known: {', '.join(self.retention_codes)})")
        return code

    def format(self, fonds: str, category: str, year: int, retention: str, number: int,
               organisation: str | None = None) -> str:  # fmt: skip
        """The code of item `number`; the organisation segment is left out when none is given."""
        if not 1 <= number < 10**self.width:
            raise CodeError(f"item number {number} does not fit {self.width} digits")
        values = {"fonds": fonds, "category": category, "year": str(year),
                  "retention": self.retention_code(retention), "organisation": organisation or ""}  # fmt: skip
        for k, v in values.items():
            if k == "organisation" and not v:
                continue
            if not re.fullmatch(_FIELD_RE[k], v):
                raise CodeError(f"{k} {v!r} cannot appear in a reference code (expected {_FIELD_RE[k]})")
        pattern = self.pattern if organisation else re.sub(r"[-·.]?\{organisation\}", "", self.pattern)
        return pattern.format(number=number, **{k: v for k, v in values.items() if k != "number"})

    def parse(self, code: str) -> dict[str, Any]:
        """{fonds, category, year, retention, organisation (or None), number}; CodeError if it does not match."""
        if not isinstance(code, str):
            raise CodeError(f"reference code must be text, got {type(code).__name__}")
        m = self.regex.fullmatch(code)
        if not m:
            example = self.format("Z001", "WS", 2024, "Y", 1, "BGS")
            raise CodeError(f"{code!r} does not follow the rule {self.pattern} (e.g. {example})")
        out: dict[str, Any] = m.groupdict()
        out["year"] = int(out["year"])
        out["number"] = int(out["number"])
        return out

    def scope_key(self, fields: dict[str, Any]) -> tuple[Any, ...]:
        """The counter a code's number belongs to: values of the rule's scope fields."""
        return tuple(fields.get(k) for k in self.scope)


@cache
def _compile(pattern: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in _TOKEN.finditer(pattern):
        literal = pattern[pos : m.start()]
        name, width = m[1], m[2]
        if name == "organisation":
            sep = literal[-1:] if literal[-1:] in "-·." else ""
            out.append(re.escape(literal[: len(literal) - len(sep)]))
            out.append(f"(?:{re.escape(sep)}(?P<organisation>{_FIELD_RE['organisation']}))?")
        else:
            out.append(re.escape(literal))
            rx = rf"\d{{{width}}}" if name == "number" and width else (r"\d+" if name == "number" else _FIELD_RE[name])
            out.append(f"(?P<{name}>{rx})")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out))


@cache
def _load(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def rule_for(fonds: str, category: str, rules_file: Path | None = None) -> CodeRule:
    """The rule for a fonds and category: "F/C", then "F/*", then "*/C", then the default."""
    data = _load(str(rules_file or RULES_FILE))
    rules = data.get("rules", {})
    spec = next(
        (rules[k] for k in (f"{fonds}/{category}", f"{fonds}/*", f"*/{category}") if k in rules), data["default"]
    )
    merged = {**data["default"], **spec}
    return CodeRule(merged["pattern"], tuple(merged.get("scope", ())), int(merged.get("start", 1)),
                    dict(data.get("retention_codes", {})))  # fmt: skip


def next_number(existing_numbers: Iterable[int], start: int = 1) -> int:
    """The next number to issue: one after the highest ever issued (gaps are never refilled, so a
    number is never issued twice), or `start` when none was."""
    highest = max(existing_numbers, default=start - 1)
    return max(highest + 1, start)


MAX_GAPS = 10_000  # gaps listed at most (a sender's item number of 10**30 must not make a list that long)


def gaps_and_repeats(numbers: Iterable[int], start: int = 1) -> tuple[list[int], list[int]]:
    """(missing numbers from `start` up to the highest (the first MAX_GAPS), numbers seen more than
    once), both sorted.
    Numbers below `start` count as gaps of nothing but are reported as repeats of issued ones."""
    counts = Counter(numbers)
    if not counts:
        return [], []
    gaps: list[int] = []
    prev = start - 1
    for n in sorted(k for k in counts if k >= start):  # between the numbers present, never over the whole range
        if n > prev + 1 and len(gaps) < MAX_GAPS:
            gaps.extend(range(prev + 1, min(n, prev + 1 + MAX_GAPS - len(gaps))))
        prev = n
    repeats = sorted(n for n, c in counts.items() if c > 1 or n < start)
    return gaps, repeats


def compress_ranges(numbers: list[int]) -> str:
    """[3, 4, 5, 9] -> '3-5, 9' for messages."""
    parts: list[str] = []
    i = 0
    while i < len(numbers):
        j = i
        while j + 1 < len(numbers) and numbers[j + 1] == numbers[j] + 1:
            j += 1
        parts.append(str(numbers[i]) if i == j else f"{numbers[i]}-{numbers[j]}")
        i = j + 1
    return ", ".join(parts)
