"""Summarise `tts solve` result files into a Markdown table.

    python benchmarks/summarize.py docs/results/gsm8k-*.jsonl

Per run: problems answered, accuracy (with a 95% Wilson interval), coverage (share of problems
where at least one candidate was right: the most any selection rule could reach), mean generated
policy tokens,
mean verifier tokens (evaluated + reused from cache), and the median and mean wall seconds per
problem (the median is robust to the few problems that shared the CPU with other work).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

from tts_cli.bench.rows import wilson
from tts_cli.grading import answers_equivalent


def summarise(path: Path) -> dict[str, Any]:
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    solved = [r for r in records if "error" not in r]
    graded = [r for r in solved if "correct" in r]
    correct = sum(bool(r["correct"]) for r in graded)
    low, high = wilson(correct, len(graded))
    verifier = [
        (r["cost"]["verifier"]["prompt_tokens"] + r["cost"]["verifier"]["cached_tokens"]) if r["cost"]["verifier"] else 0
        for r in solved
    ]
    covered = sum(
        any(answers_equivalent(c.get("answer"), r["gold"]) for c in r.get("candidates", []))
        for r in graded
    )
    walls = [r["cost"]["wall_seconds"] for r in solved]
    first = solved[0] if solved else {}
    return {
        "run": path.stem,
        "strategy": first.get("strategy", "?"),
        "policy": first.get("cost", {}).get("policy", {}).get("model", "?"),
        "verifier": (first.get("cost", {}).get("verifier") or {}).get("model", "-"),
        "n": len(graded),
        "errors": len(records) - len(solved),
        "accuracy": correct / len(graded) if graded else 0.0,
        "ci": (low, high),
        "coverage": covered / len(graded) if graded else 0.0,
        "policy_tokens": statistics.mean(r["cost"]["policy"]["generated_tokens"] for r in solved) if solved else 0,
        "verifier_tokens": statistics.mean(verifier) if verifier else 0,
        "flops": statistics.mean(r["cost"]["flops"] for r in solved) if solved else 0,
        "wall_median": statistics.median(walls) if walls else 0,
        "wall_mean": statistics.mean(walls) if walls else 0,
    }


def main(paths: list[str]) -> None:
    rows = [summarise(Path(p)) for p in paths]
    print("| run | strategy | policy | verifier | problems | accuracy (95% CI) | coverage | policy tokens generated | verifier tokens (evaluated + cached) | TFLOPs | wall s median / mean |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        low, high = r["ci"]
        print(
            f"| {r['run']} | {r['strategy']} | {r['policy']} | {r['verifier']} | {r['n']}"
            f"{' (+' + str(r['errors']) + ' errors)' if r['errors'] else ''} | "
            f"{100 * r['accuracy']:.0f}% ({100 * low:.0f}–{100 * high:.0f}) | {100 * r['coverage']:.0f}% | "
            f"{r['policy_tokens']:.0f} | "
            f"{r['verifier_tokens']:.0f} | {r['flops'] / 1e12:.2f} | {r['wall_median']:.1f} / {r['wall_mean']:.1f} |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
