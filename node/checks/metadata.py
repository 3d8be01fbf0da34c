"""Metadata schemes per record category, defined in data files (node/checks/schemes/*.json).

`validate(metadata, scheme)` returns CheckResults: for every code it checks, either one `pass` or one
`fail` per offending field, so a report names each bad field. Codes:
AUTH-META-SCHEME (category has a scheme), AUTH-META-TYPE, AUTH-META-LENGTH, AUTH-META-RANGE (range,
pattern, enum, calendar date), AUTH-META-CHARS (control / invisible / private-use characters),
AUTH-META-UNKNOWN (fields the scheme does not define: warn), INTEG-REQUIRED (required fields present).
Text is NFC-normalised before it is measured (`normalise`), as it is before hashing.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from node.checks.model import SAFE_INT, CheckResult, failed, passed, warned

SCHEME_DIR = Path(__file__).parent / "schemes"
TYPES = ("string", "text", "integer", "date", "enum", "list")
_DATE_RES = (re.compile(r"(\d{4})(\d{2})(\d{2})"), re.compile(r"(\d{4})-(\d{2})-(\d{2})"))
_ALLOWED_CONTROLS_TEXT = {"\n", "\t"}


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str
    required: bool = False
    max_length: int | None = None
    min: int | None = None
    max: int | None = None
    pattern: str | None = None
    enum: tuple[str, ...] | None = None
    max_items: int | None = None

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> Field:
        if d.get("type") not in TYPES:
            raise ValueError(f"field {name!r}: type must be one of {TYPES}, got {d.get('type')!r}")
        enum = d.get("enum")
        return cls(
            name=name, label=d.get("label", name), type=d["type"], required=bool(d.get("required", False)),
            max_length=d.get("max_length"), min=d.get("min"), max=d.get("max"), pattern=d.get("pattern"),
            enum=tuple(enum) if enum is not None else None, max_items=d.get("max_items"),
        )  # fmt: skip

    def title(self) -> str:
        return f"{self.label} ({self.name})"


@dataclass(frozen=True)
class Scheme:
    category: str
    name: str
    fields: dict[str, Field] = field(default_factory=dict)
    standard: str = ""

    def required(self) -> list[Field]:
        return [f for f in self.fields.values() if f.required]


def load_scheme_file(path: Path, common: dict[str, Any] | None = None) -> Scheme:
    data = json.loads(path.read_text(encoding="utf-8"))
    common = common if common is not None else _common(path.parent)
    merged: dict[str, dict[str, Any]] = {}
    for name in data.get("common", []):
        if name not in common:
            raise ValueError(f"{path.name}: common field {name!r} is not defined in common.json")
        merged[name] = dict(common[name])
    for name, spec in data.get("fields", {}).items():
        merged[name] = {**merged.get(name, {}), **spec}
    fields = {name: Field.from_dict(name, spec) for name, spec in merged.items()}
    return Scheme(data["category"], data.get("name", data["category"]), fields, data.get("standard", ""))


def _common(directory: Path) -> dict[str, Any]:
    p = directory / "common.json"
    return json.loads(p.read_text(encoding="utf-8"))["fields"] if p.exists() else {}


@cache
def _load_dir(directory: str) -> dict[str, Scheme]:
    d = Path(directory)
    common = _common(d)
    out = {}
    for p in sorted(d.glob("*.json")):
        if p.name in ("common.json", "reference_codes.json"):
            continue
        s = load_scheme_file(p, common)
        out[s.category] = s
    return out


def load_schemes(directory: Path | None = None) -> dict[str, Scheme]:
    """All schemes of a directory keyed by category code (cached per directory)."""
    return dict(_load_dir(str(directory or SCHEME_DIR)))


def normalise(metadata: dict[str, Any]) -> dict[str, Any]:
    """NFC-normalise every string (keys, values, list items)."""

    def nfc(v: Any) -> Any:
        if isinstance(v, str):
            return unicodedata.normalize("NFC", v)
        if isinstance(v, list):
            return [nfc(x) for x in v]
        if isinstance(v, dict):
            return {nfc(k): nfc(x) for k, x in v.items()}
        return v

    return nfc(metadata)


def bad_characters(text: str, multiline: bool = False) -> list[str]:
    """Refused characters as 'U+hhhh NAME' (control, format/invisible, private-use, surrogate,
    unassigned, noncharacters, U+FFFD). Tab and newline are allowed in multi-line text."""
    bad: list[str] = []
    for ch in text:
        cat = unicodedata.category(ch)
        cp = ord(ch)
        refused = (
            (cat == "Cc" and not (multiline and ch in _ALLOWED_CONTROLS_TEXT))
            or cat in ("Cf", "Co", "Cs", "Cn", "Zl", "Zp")
            or ch == "\ufffd"
            or (0xFDD0 <= cp <= 0xFDEF) or (cp & 0xFFFE) == 0xFFFE
        )  # fmt: skip
        if refused:
            bad.append(f"U+{cp:04X} {unicodedata.name(ch, cat)}")
    return bad


def parse_date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    for rx in _DATE_RES:
        m = rx.fullmatch(value)
        if m:
            try:
                return date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                return None
    return None


def coerce(metadata: dict[str, Any], scheme: Scheme) -> dict[str, Any]:
    """Values from a CSV manifest are all strings: turn '2024' into 2024 for integer fields, 'a;b'
    into a list for list fields, and drop empty cells. Anything that does not convert is left as is
    for `validate` to report."""
    out: dict[str, Any] = {}
    for k, v in metadata.items():
        if isinstance(v, str) and v == "":
            continue
        f = scheme.fields.get(k)
        if f is not None and isinstance(v, str):
            if f.type == "integer" and re.fullmatch(r"[+-]?\d{1,15}", v.strip()):
                v = int(v.strip())
            elif f.type == "list":
                v = [x.strip() for x in v.split(";") if x.strip()]
        out[k] = v
    return out


def validate(metadata: dict[str, Any], scheme: Scheme) -> list[CheckResult]:
    md = normalise(metadata)
    problems: dict[str, list[CheckResult]] = {c: [] for c in CODES}

    def bad(code: str, f: Field | None, name: str, message: str, **details: Any) -> None:
        problems[code].append(failed(code, message, field=name, **details))

    for f in scheme.required():
        v = md.get(f.name)
        if v is None or v == "" or v == []:
            bad("INTEG-REQUIRED", f, f.name, f"required field {f.title()} is missing or empty")
    for name, v in md.items():
        absurd = _absurd_number(v)
        if absurd is not None:
            bad("AUTH-META-RANGE", None, name, f"{name} holds the number {absurd}, beyond what a record can hold "
                f"(integers within +-(2**53 - 1), finite numbers)")  # fmt: skip
            continue
        f = scheme.fields.get(name)
        if f is None:
            problems["AUTH-META-UNKNOWN"].append(
                warned("AUTH-META-UNKNOWN", f"field {name!r} is not in the {scheme.category} scheme", field=name)
            )
            for s in _strings(v):
                chars = bad_characters(s, multiline=True)
                if chars:
                    bad("AUTH-META-CHARS", None, name, f"{name} contains refused characters: {', '.join(chars[:5])}")
                    break
            continue
        if v is None or v == "" or v == []:
            continue
        _check_field(f, v, bad)

    results: list[CheckResult] = []
    for code in CODES:
        if problems[code]:
            results.extend(problems[code])
        elif code != "AUTH-META-UNKNOWN":
            results.append(passed(code, _PASS_MESSAGES[code].format(scheme=scheme.category)))
    return results


def _absurd_number(v: Any) -> str | None:
    """The first number in `v` (nested too) that no ledger record or JSON reader holds exactly, as text."""
    if isinstance(v, dict):
        v = list(v.values())
    if isinstance(v, list):
        return next((a for a in map(_absurd_number, v) if a is not None), None)
    if isinstance(v, bool):
        return None
    if isinstance(v, int) and abs(v) > SAFE_INT:
        text = str(v)
        return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} digits)"
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return str(v)
    return None


def _strings(v: Any) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, list):
        return [x for x in v if isinstance(x, str)]
    return []


def _check_field(f: Field, v: Any, bad: Any) -> None:
    t = f.title()
    if f.type in ("string", "text", "enum", "date"):
        if not isinstance(v, str):
            bad("AUTH-META-TYPE", f, f.name, f"{t} must be text, got {type(v).__name__} {v!r}")
            return
        chars = bad_characters(v, multiline=f.type == "text")
        if chars:
            bad("AUTH-META-CHARS", f, f.name, f"{t} contains refused characters: {', '.join(chars[:5])}")
        if f.max_length is not None and len(v) > f.max_length:
            bad("AUTH-META-LENGTH", f, f.name, f"{t} is {len(v)} characters, at most {f.max_length} allowed",
                length=len(v), max_length=f.max_length)  # fmt: skip
        if f.type in ("string", "text") and v.strip() != v:
            bad("AUTH-META-CHARS", f, f.name, f"{t} has leading or trailing white space")
        if f.pattern and not chars and not re.fullmatch(f.pattern, v):
            bad("AUTH-META-RANGE", f, f.name, f"{t} {v!r} does not match the pattern {f.pattern}")
        if f.type == "enum" and f.enum is not None and v not in f.enum:
            bad("AUTH-META-RANGE", f, f.name, f"{t} {v!r} is not one of: {', '.join(f.enum)}")
        if f.type == "date":
            d = parse_date(v)
            if d is None:
                bad("AUTH-META-RANGE", f, f.name, f"{t} {v!r} is not a calendar date (YYYYMMDD or YYYY-MM-DD)")
    elif f.type == "integer":
        if isinstance(v, bool) or not isinstance(v, int):
            bad("AUTH-META-TYPE", f, f.name, f"{t} must be an integer, got {type(v).__name__} {v!r}")
            return
        if (f.min is not None and v < f.min) or (f.max is not None and v > f.max):
            bad("AUTH-META-RANGE", f, f.name, f"{t} {v} is outside [{f.min}, {f.max}]")
    elif f.type == "list":
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            bad("AUTH-META-TYPE", f, f.name, f"{t} must be a list of text values, got {v!r}")
            return
        if f.max_items is not None and len(v) > f.max_items:
            bad("AUTH-META-LENGTH", f, f.name, f"{t} has {len(v)} entries, at most {f.max_items} allowed")
        for x in v:
            chars = bad_characters(x)
            if chars:
                bad("AUTH-META-CHARS", f, f.name, f"{t} entry contains refused characters: {', '.join(chars[:5])}")
            if f.max_length is not None and len(x) > f.max_length:
                bad("AUTH-META-LENGTH", f, f.name, f"{t} entry is {len(x)} characters, at most {f.max_length}")


CODES = ("INTEG-REQUIRED", "AUTH-META-TYPE", "AUTH-META-LENGTH", "AUTH-META-RANGE", "AUTH-META-CHARS",
         "AUTH-META-UNKNOWN")  # fmt: skip
_PASS_MESSAGES = {
    "INTEG-REQUIRED": "all required fields of the {scheme} scheme are present",
    "AUTH-META-TYPE": "field types match the {scheme} scheme",
    "AUTH-META-LENGTH": "field lengths within the {scheme} scheme's limits",
    "AUTH-META-RANGE": "values within ranges, patterns and value lists",
    "AUTH-META-CHARS": "no control, invisible or private-use characters",
    "AUTH-META-UNKNOWN": "",
}
