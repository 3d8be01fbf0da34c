"""Summarise a `mutmut run` (from `make mutate`): kill rate per file and the surviving mutants.

Reads mutmut's own result files under mutants/ (through `mutmut export-cicd-stats` and
`mutmut results`), prints the totals, the rate per source file and every survivor with its diff, so
each can be explained in bench/RESULTS.md. Exit 1 when the kill rate is under the target (95%).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

TARGET = 0.95
MUTMUT = [sys.executable, "-m", "mutmut"]


def main() -> int:
    subprocess.run([*MUTMUT, "export-cicd-stats"], check=True, capture_output=True)
    stats = json.loads(Path("mutants/mutmut-cicd-stats.json").read_text())
    listing = subprocess.run([*MUTMUT, "results", "--all", "true"], check=True, capture_output=True, text=True)
    by_file: Counter[tuple[str, str]] = Counter()
    survivors: list[str] = []
    for line in listing.stdout.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name:
            continue
        module = name.split(".x_")[0].split(".xǁ")[0]
        by_file[(module, status)] += 1
        if status in ("survived", "no tests", "timeout", "suspicious"):
            survivors.append(name)
    decided = stats["killed"] + stats["survived"] + stats["no_tests"] + stats["timeout"] + stats["suspicious"]
    rate = stats["killed"] / decided if decided else 0.0
    print(f"mutants: {stats['total']}  killed: {stats['killed']}  survived: {stats['survived']}  "
          f"no tests: {stats['no_tests']}  timeout: {stats['timeout']}  suspicious: {stats['suspicious']}  "
          f"skipped: {stats['skipped']}")  # fmt: skip
    print(f"kill rate: {rate:.1%} (target {TARGET:.0%})")
    for module in sorted({m for m, _ in by_file}):
        killed, total = by_file[(module, "killed")], sum(n for (m, _), n in by_file.items() if m == module)
        print(f"  {module}: {killed}/{total} killed")
    for name in survivors:
        shown = subprocess.run([*MUTMUT, "show", name], capture_output=True, text=True)
        print(shown.stdout.rstrip())
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
