"""Summarise a `mutmut run` (from `make mutate`): kill rate overall and per source file, and every
mutant that was not killed, with its diff, grouped by function, so each can be explained in
bench/RESULTS.md.

Reads mutmut's own result files under mutants/ (`<file>.meta`) in process: one `mutmut show` per
survivor would start mutmut hundreds of times. Mutants not checked yet (an interrupted run) are
counted apart and never in the rate. Exit 1 when the kill rate is under the target (95%).

    .venv/bin/python bench/mutation_summary.py [--diffs] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

TARGET = 0.95


def status_of(code: int | None) -> str:
    from mutmut.stats import status_by_exit_code  # mutmut's own names for its exit codes

    return status_by_exit_code[code]


def function_of(mutant: str) -> str:
    """`verifier.chain.xǁJsonRpcChainǁbatch__mutmut_7` -> `verifier.chain.JsonRpcChain.batch`."""
    base = mutant.rsplit("__mutmut_", 1)[0]
    if ".xǁ" in base:
        module, _, rest = base.partition(".xǁ")
        return f"{module}.{rest.replace('ǁ', '.')}"
    module, _, function = base.partition(".x_")
    return f"{module}.{function}"


def load(root: Path) -> dict[str, tuple[str, int | None]]:
    """mutant name -> (source file, exit code)."""
    out: dict[str, tuple[str, int | None]] = {}
    for meta in sorted(root.rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        source = str(meta.relative_to(root)).removesuffix(".meta")
        for name, code in data.get("exit_code_by_key", {}).items():
            out[name] = (source, code)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--diffs", action="store_true", help="print every survivor's diff")
    parser.add_argument("--json", type=Path, help="write the counts and survivors as JSON")
    args = parser.parse_args()

    results = load(Path("mutants"))
    if not results:
        print('no mutation results: run "make mutate" first')
        return 1
    totals = Counter(status_of(code) for _, code in results.values())
    by_file: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: dict[str, list[str]] = defaultdict(list)
    for name, (source, code) in results.items():
        status = status_of(code)
        by_file[source][status] += 1
        if status not in ("killed", "timeout", "not checked"):
            survivors[function_of(name)].append(name)

    checked = sum(totals.values()) - totals["not checked"]
    detected = totals["killed"] + totals["timeout"]
    rate = detected / checked if checked else 0.0
    print(f"mutants: {sum(totals.values())}  checked: {checked}  not checked: {totals['not checked']}")
    print("  " + "  ".join(f"{status}: {n}" for status, n in sorted(totals.items())))
    print(f"kill rate (killed + timeout) / checked: {rate:.1%} (target {TARGET:.0%})")
    for source in sorted(by_file):
        c = by_file[source]
        file_checked = sum(c.values()) - c["not checked"]
        file_rate = (c["killed"] + c["timeout"]) / file_checked if file_checked else 0.0
        print(f"  {source}: {sum(c.values())} mutants, {file_checked} checked, {file_rate:.1%} killed"
              f" ({', '.join(f'{k} {v}' for k, v in sorted(c.items()))})")  # fmt: skip
    print("not killed, by function:")
    for function, names in sorted(survivors.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        print(f"  {len(names):4d}  {function}")
    if args.diffs:
        from mutmut.mutation.diff_apply import get_diff_for_mutant  # only here: mutmut is optional

        for function, names in sorted(survivors.items()):
            print(f"\n## {function}")
            for name in sorted(names, key=lambda n: int(n.rsplit("_", 1)[1])):
                source, code = results[name]
                print(f"# {name}: {status_of(code)}")
                diff = get_diff_for_mutant(name, path=source)  # relative to mutants/
                print(
                    "\n".join(line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---"))
                )
    if args.json:
        args.json.write_text(json.dumps({
            "totals": dict(totals), "checked": checked, "rate": rate,
            "by_file": {k: dict(v) for k, v in by_file.items()}, "survivors": survivors,
        }, indent=2))  # fmt: skip
    return 0 if rate >= TARGET and not totals["not checked"] else 1


if __name__ == "__main__":
    sys.exit(main())
