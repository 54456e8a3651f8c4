"""Render `tts bench --json` summaries as the Markdown tables of docs/results.md and README, and
check the issue-5 targets against them.

    python benchmarks/bench_markdown.py docs/bench/gsm8k60-1.5b.json [more.json ...]

Every number printed is read from the summaries (nothing is typed in by hand).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional


def human(value: float) -> str:
    for unit, size in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6)):
        if value >= size:
            return f"{value / size:.2f} {unit}"
    return f"{value:.0f}"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | strategy | N | accuracy (95% CI) | policy tokens | verifier tokens | FLOPs | wall s | Pareto |",
        "|---|---|---:|---|---:|---:|---:|---:|:-:|",
    ]
    for r in rows:
        accuracy = f"{100 * r['accuracy']:.1f}% ({100 * r['ci_low']:.0f}–{100 * r['ci_high']:.0f}), {r['correct']}/{r['problems']}"
        lines.append(
            f"| {r['model']} | {r['strategy']} | {r['n']} | {accuracy} | {r['policy_tokens']:.0f} | "
            f"{r['verifier_tokens']:.0f} | {human(r['flops'])} | {r['wall_seconds']:.1f} | {'★' if r['pareto'] else ''} |"
        )
    return "\n".join(lines)


def find(rows: list[dict[str, Any]], strategy: str, n: Optional[int] = None, model: Optional[str] = None) -> Optional[dict[str, Any]]:
    for r in rows:
        if r["strategy"] == strategy and (n is None or r["n"] == n) and (model is None or r["model"] == model):
            return r
    return None


def targets(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    models = list(dict.fromkeys(r["model"] for r in rows))
    for model in models:
        mine = [r for r in rows if r["model"] == model]
        majority, auto, greedy = find(mine, "majority", 16), find(mine, "auto", 16), find(mine, "greedy")
        if majority and auto:
            gap = 100 * (auto["accuracy"] - majority["accuracy"])
            share = auto["policy_tokens"] / majority["policy_tokens"]
            met = gap >= -1 and share <= 0.25
            out.append(
                f"- {model}: auto@16 {100 * auto['accuracy']:.1f}% vs majority@16 {100 * majority['accuracy']:.1f}% "
                f"({gap:+.1f} points) using {100 * share:.0f}% of its generated tokens "
                f"({auto['policy_tokens']:.0f} vs {majority['policy_tokens']:.0f} per problem) — target "
                f"(within 1 point, at most 25%): {'met' if met else 'not met'}"
            )
        at16 = [r for r in mine if r["n"] == 16]
        if greedy and at16:
            best = max(at16, key=lambda r: (r["accuracy"], -r["flops"]))
            gain = 100 * (best["accuracy"] - greedy["accuracy"])
            out.append(
                f"- {model}: best at N=16 is {best['strategy']} {100 * best['accuracy']:.1f}% vs greedy "
                f"{100 * greedy['accuracy']:.1f}% ({gain:+.1f} points) — target (+15 points): "
                f"{'met' if gain >= 15 else 'not met'}"
            )
    return out


def main(paths: list[str]) -> None:
    for path in paths:
        summary = json.loads(Path(path).read_text())
        p = summary["parameters"]
        print(f"### {Path(path).name}: {p['problems']} problems of {Path(p['data']).name}\n")
        print(table(summary["rows"]))
        print()
        for line in targets(summary["rows"]):
            print(line)
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
