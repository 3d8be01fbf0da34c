"""Check results and reports of the four-properties checks (DA/T 70-2018). Pure data, no I/O.

A report's digest is the SHA-256 of the RFC 8785 bytes of its `to_dict()`, so the node can put it
into the item's ledger record and anyone holding the JSON report can recompute it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from verifier.records import canonical_bytes

FAMILIES = ("authenticity", "integrity", "usability", "security")
OUTCOMES = ("pass", "warn", "skip", "fail")
REPORT_VERSION = 1
_FAMILY_OF_PREFIX = {"AUTH": "authenticity", "INTEG": "integrity", "USAB": "usability", "SEC": "security"}
_MARK = {"pass": "ok  ", "warn": "WARN", "skip": "--  ", "fail": "FAIL"}


SAFE_INT = 2**53 - 1  # the largest integer every JSON reader (and RFC 8785) represents exactly


def json_safe_numbers(value: Any) -> Any:
    """Integers beyond +-(2**53 - 1) and non-finite floats as text, so a report with a sender's absurd
    number (a manifest's `pages` of 10**30) still has a digest instead of failing to serialise."""
    if isinstance(value, dict):
        return {k: json_safe_numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe_numbers(v) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) > SAFE_INT:
        return str(value)
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    return value


def family_of(code: str) -> str:
    """AUTH-DIGEST -> authenticity, INTEG-* -> integrity, USAB-* -> usability, SEC-* -> security."""
    try:
        return _FAMILY_OF_PREFIX[code.split("-", 1)[0]]
    except KeyError:
        raise ValueError(f"check code {code!r} has no known family prefix") from None


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict. `details` holds JSON-safe facts (no floats) for machines; `message` is for people."""

    code: str
    family: str
    outcome: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")

    @classmethod
    def make(cls, code: str, outcome: str, message: str, **details: Any) -> CheckResult:
        return cls(code, family_of(code), outcome, message, json_safe_numbers(details))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "family": self.family,
            "outcome": self.outcome,
            "message": self.message,
        }
        if self.details:
            out["details"] = self.details
        return out


def passed(code: str, message: str, **details: Any) -> CheckResult:
    return CheckResult.make(code, "pass", message, **details)


def failed(code: str, message: str, **details: Any) -> CheckResult:
    return CheckResult.make(code, "fail", message, **details)


def warned(code: str, message: str, **details: Any) -> CheckResult:
    return CheckResult.make(code, "warn", message, **details)


def skipped(code: str, message: str, **details: Any) -> CheckResult:
    return CheckResult.make(code, "skip", message, **details)


def worst(outcomes: list[str]) -> str:
    """fail if any failed, else warn if any warned, else pass (a skipped check does not lower it)."""
    return "fail" if "fail" in outcomes else "warn" if "warn" in outcomes else "pass"


def _digest(obj: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(obj)).hexdigest()


@dataclass
class ItemReport:
    """All results of one item (one file with its metadata)."""

    path: str
    sha256: str | None = None
    size: int | None = None
    format: str | None = None
    results: list[CheckResult] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return worst([r.outcome for r in self.results])

    def by_code(self, code: str) -> list[CheckResult]:
        return [r for r in self.results if r.code == code]

    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome == "fail"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": REPORT_VERSION,
            "path": self.path,
            "sha256": self.sha256,
            "size": self.size,
            "format": self.format,
            "outcome": self.outcome,
            "results": [r.to_dict() for r in self.results],
        }

    def digest(self) -> str:
        """Hex SHA-256 of the RFC 8785 bytes of `to_dict()`: what goes into the item's ledger record."""
        return _digest(self.to_dict())

    def to_text(self) -> str:
        head = f"item {self.path}: {self.outcome.upper()}"
        if self.format or self.size is not None:
            head += f" ({self.format or 'unknown format'}, {self.size if self.size is not None else '?'} bytes)"
        lines = [head]
        for r in sorted(self.results, key=lambda r: (FAMILIES.index(r.family), r.code)):
            lines.append(f"  [{_MARK[r.outcome]}] {r.code}: {r.message}")
        return "\n".join(lines)


@dataclass
class PackageReport:
    """The package-level results, the item reports and how the checks were run (who, when, where)."""

    package: str
    items: list[ItemReport] = field(default_factory=list)
    results: list[CheckResult] = field(default_factory=list)
    process: dict[str, Any] = field(default_factory=dict)
    blocking: list[dict[str, str]] | None = None  # filled in by policy.apply, None = not evaluated

    @property
    def outcome(self) -> str:
        return worst([r.outcome for r in self.results] + [i.outcome for i in self.items])

    def all_results(self) -> list[tuple[str | None, CheckResult]]:
        """(item path or None for package-level, result) for every result."""
        out: list[tuple[str | None, CheckResult]] = [(None, r) for r in self.results]
        for item in self.items:
            out.extend((item.path, r) for r in item.results)
        return out

    def codes(self, outcome: str = "fail") -> set[str]:
        return {r.code for _, r in self.all_results() if r.outcome == outcome}

    def summary(self) -> dict[str, Any]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for _, r in self.all_results():
            counts[r.outcome] += 1
        return {
            "items": len(self.items),
            "bytes": sum(i.size or 0 for i in self.items),
            "items_failed": sum(1 for i in self.items if i.outcome == "fail"),
            "results": counts,
        }

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "v": REPORT_VERSION,
            "package": self.package,
            "outcome": self.outcome,
            "summary": self.summary(),
            "process": self.process,
            "results": [r.to_dict() for r in self.results],
            "items": [dict(i.to_dict(), digest=i.digest()) for i in self.items],
        }
        if self.blocking is not None:
            out["blocking"] = self.blocking
        return out

    def digest(self) -> str:
        return _digest(self.to_dict())

    def to_text(self) -> str:
        s = self.summary()
        lines = [
            f"four-properties checks (DA/T 70-2018, filing) of {self.package}",
            f"  {s['items']} item(s), {s['bytes']} bytes; results: "
            + ", ".join(f"{n} {k}" for k, n in s["results"].items()),
        ]
        if self.process:
            shown = {k: v for k, v in self.process.items() if not isinstance(v, dict)}
            lines.append("  run by " + ", ".join(f"{k}={v}" for k, v in shown.items()))
            if isinstance(self.process.get("policy"), dict):
                pol = self.process["policy"]
                lines.append(
                    f"  policy of fonds {pol.get('fonds') or '(default)'}: block {', '.join(pol['block'])}; "
                    f"warn only {', '.join(pol['warn']) or '-'}; a skip blocks for "
                    f"{', '.join(pol['block_on_skip']) or '-'}"
                )
        lines.append(f"package {self.package}: {self.outcome.upper()}")
        for r in sorted(self.results, key=lambda r: (FAMILIES.index(r.family), r.code)):
            lines.append(f"  [{_MARK[r.outcome]}] {r.code}: {r.message}")
        for item in self.items:
            lines.append(item.to_text())
        if self.blocking is not None:
            if self.blocking:
                lines.append(f"BLOCKED: {len(self.blocking)} blocking result(s)")
                for b in self.blocking:
                    lines.append(f"  {b['code']} ({b['item'] or 'package'}): {b['message']}")
            else:
                lines.append("NOT BLOCKED: the package may be filed under this policy")
        lines.append(f"report digest (sha256 of RFC 8785 JSON): {self.digest()}")
        return "\n".join(lines)
