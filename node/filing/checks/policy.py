"""Per-fonds policy: which failed checks block filing, which only warn (node/filing/checks/policies/default.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.filing.checks.model import PackageReport

POLICY_FILE = Path(__file__).parent / "policies" / "default.json"


@dataclass(frozen=True)
class Policy:
    fonds: str | None
    block: tuple[str, ...] = ("*",)
    warn: tuple[str, ...] = ()
    block_on_skip: tuple[str, ...] = ("SEC-VIRUS",)

    @classmethod
    def from_dict(cls, d: dict[str, Any], fonds: str | None = None) -> Policy:
        return cls(fonds, tuple(d.get("block", ("*",))), tuple(d.get("warn", ())),
                   tuple(d.get("block_on_skip", ("SEC-VIRUS",))))  # fmt: skip

    def blocks(self, code: str, outcome: str) -> bool:
        if outcome == "fail":
            return _specificity(code, self.block) > _specificity(code, self.warn)
        if outcome == "skip":
            return _specificity(code, self.block_on_skip) >= 0
        return False

    def to_dict(self) -> dict[str, Any]:
        return {"fonds": self.fonds, "block": list(self.block), "warn": list(self.warn),
                "block_on_skip": list(self.block_on_skip)}  # fmt: skip


def _specificity(code: str, patterns: tuple[str, ...]) -> int:
    best = -1
    for p in patterns:
        if p == code:
            return 10_000
        if p.endswith("*") and code.startswith(p[:-1]):
            best = max(best, len(p) - 1)
    return best


def load_policy(fonds: str | None = None, path: Path | None = None) -> Policy:
    """The policy of `fonds`: the file's default with the fonds' entry laid over it."""
    data = json.loads(Path(path or POLICY_FILE).read_text(encoding="utf-8"))
    spec = dict(data.get("default", {}))
    if fonds is not None:
        spec.update(data.get("fonds", {}).get(fonds, {}))
    return Policy.from_dict(spec, fonds)


def blocking(report: PackageReport, policy: Policy) -> list[dict[str, str]]:
    """Every result that blocks filing under `policy`: {item (path, "" for the package), code, outcome, message}."""
    return [
        {"item": item or "", "code": r.code, "outcome": r.outcome, "message": r.message}
        for item, r in report.all_results()
        if policy.blocks(r.code, r.outcome)
    ]


def apply(report: PackageReport, policy: Policy) -> list[dict[str, str]]:
    """Evaluate the policy and record the blocking list (and the policy) in the report."""
    report.blocking = blocking(report, policy)
    report.process = {**report.process, "policy": policy.to_dict()}
    return report.blocking
