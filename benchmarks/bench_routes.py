"""Summarise how `auto` spent its compute, from a `tts bench --per-problem` file: one Markdown row per
route (what auto decided and why), with how often auto, majority@N and greedy were right there.

    python benchmarks/bench_routes.py docs/bench/gsm8k-1.5b.jsonl [--n 16] [--held-out-from 17]

`--held-out-from K` adds a line comparing the three on problems K and later only (the problems that
were not looked at while auto's rules were chosen). Nothing is typed in by hand.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def route_label(route: dict[str, Any]) -> str:
    reason = re.sub(r"\s*\([^)]*\)", "", route.get("reason", ""))
    return f"{route.get('decision', '?')}: {reason}"


def by_problem(records: list[dict[str, Any]], strategy: str, n: int | None) -> dict[Any, dict[str, Any]]:
    return {
        r["problem"]: r
        for r in records
        if r["strategy"] == strategy and (n is None or r["n"] == n) and r.get("error") is None
    }


def count_correct(table: dict[Any, dict[str, Any]], problems: Iterable[Any]) -> int:
    return sum(1 for p in problems if table.get(p, {}).get("correct"))


def route_table(records: list[dict[str, Any]], n: int) -> str:
    auto = by_problem(records, "auto", n)
    majority = by_problem(records, "majority", n)
    greedy = by_problem(records, "greedy", None)
    groups: dict[str, list[Any]] = defaultdict(list)
    for problem, r in auto.items():
        groups[route_label(r["route"] or {})].append(problem)
    lines = [
        f"| route | problems | auto correct | majority@{n} correct | greedy correct | auto tokens (mean) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, problems in sorted(groups.items(), key=lambda item: -len(item[1])):
        tokens = sum(auto[p]["policy_tokens"] for p in problems) / len(problems)
        lines.append(
            f"| {label} | {len(problems)} | {count_correct(auto, problems)} | {count_correct(majority, problems)} | "
            f"{count_correct(greedy, problems)} | {tokens:.0f} |"
        )
    return "\n".join(lines)


def held_out(records: list[dict[str, Any]], n: int, first: int) -> str:
    auto = {p: r for p, r in by_problem(records, "auto", n).items() if p >= first}
    majority = {p: r for p, r in by_problem(records, "majority", n).items() if p in auto}
    greedy = {p: r for p, r in by_problem(records, "greedy", None).items() if p in auto}
    if not auto:
        return f"no auto@{n} results from problem {first} on"
    share = sum(r["policy_tokens"] for r in auto.values()) / max(1, sum(r["policy_tokens"] for r in majority.values()))
    return (
        f"problems {first}–{max(auto)} ({len(auto)}): auto@{n} {count_correct(auto, auto)}/{len(auto)}, "
        f"majority@{n} {count_correct(majority, majority)}/{len(majority)}, "
        f"greedy {count_correct(greedy, greedy)}/{len(greedy)}; "
        f"auto generated {100 * share:.1f}% of majority@{n}'s tokens"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("per_problem", type=Path)
    parser.add_argument("--n", type=int, default=16, help="the budget auto and majority ran at")
    parser.add_argument("--held-out-from", type=int, default=None, metavar="K")
    args = parser.parse_args()
    records = load(args.per_problem)
    print(route_table(records, args.n))
    if args.held_out_from is not None:
        print()
        print(held_out(records, args.n, args.held_out_from))


if __name__ == "__main__":
    main()
