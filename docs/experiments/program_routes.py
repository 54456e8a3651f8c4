"""Routes that mix chain-of-thought and programs, evaluated on cached samples (nothing is generated).

Per problem the bench cache (``--cache-dir``, filled by ``benchmarks/gsm8k60_programs.sh``) holds a
greedy chain of thought (with its per-token trace), a greedy program, and pools of 16
chain-of-thought and 16 program samples. A route is a rule that reads them in order and stops when it is sure enough; it spends the
generated tokens of what it read. The routes here:

- ``agree``: greedy chain of thought and greedy program; their common answer when they agree, else
  a vote over both and the first K samples of each pool (``mixed`` with the two greedy solutions);
- ``gate+agree``: the greedy chain of thought alone when its ``lowest_conf`` >= GATE (``auto``'s
  gate), else ``agree``.

    python docs/experiments/program_routes.py --data ../shared/data/gsm8k_test_dev.jsonl --dev 1-20   # choose K and GATE
    python docs/experiments/program_routes.py --data ../shared/data/gsm8k_test_dev.jsonl --report 21-60 \\
        --route "gate+agree:gate=10,k=4"

Reference rows (greedy, majority@16) are printed with the same token accounting.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any, Optional

from tts_cli.batch import read_graded
from tts_cli.bench.cache import Cached, CacheQuery, question_hash
from tts_cli.bench.pool import run_signals
from tts_cli.grading import answers_equivalent, group_equivalent

ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = ROOT / "docs" / "bench" / "cache-signals"
MODEL = "qwen2.5-coder-1.5b"


def load(data: Path, cache_dir: Path, limit: int) -> list[dict[str, Any]]:
    """Per problem (in file order, first ``limit``): gold, greedy, pot-greedy, cot pool, program pool
    (the largest pool of each kind: the cache holds one per question)."""
    problems = read_graded(data, limit)
    cache = CacheQuery.read(cache_dir)
    found: dict[str, dict[str, Cached]] = {
        "greedy": cache.runs(MODEL, "greedy"),
        "pot-greedy": cache.runs(MODEL, "pot-greedy"),
        "pool-cot": cache.largest_pools(MODEL, "cot"),
        "pool-program": cache.largest_pools(MODEL, "program"),
    }
    out = []
    for number, problem in enumerate(problems, 1):
        key = question_hash(problem.question)
        parts = {kind: by_question[key].result if key in by_question else None for kind, by_question in found.items()}
        if all(parts.values()):
            out.append({"number": number, "gold": problem.gold, **parts})
    return out


def vote(answers: list[Optional[str]]) -> Optional[str]:
    """The most common equivalent answer (ties: the earliest group)."""
    groups = [g for g in group_equivalent(answers) if answers[g[0]] is not None]
    if not groups:
        return None
    return answers[max(groups, key=len)[0]]


def route(problem: dict[str, Any], name: str, gate: float, k: int) -> tuple[Optional[str], int, str]:
    """(answer, generated tokens, which way it went)."""
    greedy, program = problem["greedy"], problem["pot-greedy"]
    spent = greedy["policy_tokens"]
    if name == "gate+agree" and run_signals(greedy).get("lowest_conf", -1e9) >= gate:
        return greedy["answer"], spent, "gate"
    spent += program["policy_tokens"]
    if greedy["answer"] is not None and answers_equivalent(greedy["answer"], program["answer"]):
        return greedy["answer"], spent, "agree"
    cot, programs = problem["pool-cot"], problem["pool-program"]
    answers = [greedy["answer"], program["answer"]]
    for i in range(k):
        answers += [cot["answers"][i], programs["answers"][i]]
        spent += cot["tokens"][i] + programs["tokens"][i]
    return vote(answers), spent, "vote"


def reference(problem: dict[str, Any], name: str) -> tuple[Optional[str], int]:
    if name == "greedy":
        return problem["greedy"]["answer"], problem["greedy"]["policy_tokens"]
    if name == "pot-greedy":
        return problem["pot-greedy"]["answer"], problem["pot-greedy"]["policy_tokens"]
    pool = problem["pool-cot"] if name == "majority@16" else problem["pool-program"]
    return vote(list(pool["answers"][:16])), sum(pool["tokens"][:16])


def span(text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    return int(first), int(last or first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the GSM8K dev file (gsm8k_test_dev.jsonl)")
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="the bench cache of the runs and pools")
    parser.add_argument("--dev", default="1-20")
    parser.add_argument("--report", default=None, help="problems to report the chosen --route on")
    parser.add_argument("--route", default=None, help='e.g. "gate+agree:gate=10,k=4"')
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    problems = load(args.data, args.cache_dir, 60)
    lo, hi = span(args.report or args.dev)
    chosen = [p for p in problems if lo <= p["number"] <= hi]
    print(f"problems {lo}-{hi}: {len(chosen)} with every part cached")
    rows: list[dict[str, Any]] = []
    majority_tokens = sum(reference(p, "majority@16")[1] for p in chosen) or 1
    for name in ("greedy", "pot-greedy", "majority@16", "pot@16"):
        results = [reference(p, name) for p in chosen]
        right = sum(answers_equivalent(a, p["gold"]) for (a, _), p in zip(results, chosen))
        tokens = sum(t for _, t in results)
        rows.append({"route": name, "right": right, "tokens": tokens / len(chosen), "share": tokens / majority_tokens})
    settings: list[tuple[str, float, int]]
    if args.route:
        name, _, params = args.route.partition(":")
        values = dict(item.split("=") for item in params.split(",") if item)
        settings = [(name, float(values.get("gate", 0)), int(values.get("k", 0)))]
    else:
        gates = [6.0, 8.0, 10.0, 12.0, 14.0]
        settings = [("agree", 0.0, k) for k in (0, 1, 2, 4, 8)]
        settings += [("gate+agree", g, k) for g, k in itertools.product(gates, (0, 1, 2, 4, 8))]
    for name, gate, k in settings:
        results = [route(p, name, gate, k) for p in chosen]
        right = sum(answers_equivalent(a, p["gold"]) for (a, _, _), p in zip(results, chosen))
        tokens = sum(t for _, t, _ in results)
        ways = {w: sum(1 for _, _, x in results if x == w) for w in ("gate", "agree", "vote")}
        label = f"{name} gate={gate:g} k={k}" if name == "gate+agree" else f"{name} k={k}"
        rows.append({"route": label, "right": right, "tokens": tokens / len(chosen), "share": tokens / majority_tokens, "ways": ways})
    print(f"{'route':28} {'right':>7} {'acc':>6} {'tokens':>7} {'of maj@16':>9}  ways")
    for row in rows:
        print(
            f"{row['route']:28} {row['right']:>3}/{len(chosen):<3} {row['right'] / len(chosen):>6.1%} "
            f"{row['tokens']:>7.0f} {row['share']:>9.1%}  {row.get('ways', '')}"
        )
    if args.json:
        args.json.write_text(json.dumps({"problems": [lo, hi], "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
