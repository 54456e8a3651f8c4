"""Coverage (pass@N) of the cached sample pools of a `tts bench` run: on how many problems at least
one of the first N samples is right. It is the ceiling of every rule that picks one of those N
samples (majority, best-of-n, weighted), whatever the verifier.

    python benchmarks/pool_coverage.py ../shared/data/gsm8k_test_dev.jsonl docs/bench/cache \
        --limit 60 --model qwen2.5-coder-1.5b
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tts_cli.batch import Problem, parse_lines
from tts_cli.bench.cache import question_hash
from tts_cli.grading.equivalence import answers_equivalent


def load_problems(path: Path, limit: int) -> list[Problem]:
    problems = [p for p in parse_lines(path.read_bytes().splitlines()) if isinstance(p, Problem)]
    return problems[:limit]


def pools(cache_dir: Path, model: str) -> dict[str, dict]:
    """The largest cached pool of ``model`` per question hash."""
    found: dict[str, dict] = {}
    for line in (cache_dir / "results.jsonl").read_text().splitlines():
        record = json.loads(line)
        what = record["what"]
        if what.get("kind") != "pool" or what["model"]["name"] != model:
            continue
        current = found.get(what["question"])
        if current is None or record["result"]["size"] > current["size"]:
            found[what["question"]] = record["result"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("cache_dir", type=Path)
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    by_question = pools(args.cache_dir, args.model)
    hits: dict[int, int] = {}
    counted = 0
    for problem in load_problems(args.data, args.limit):
        pool = by_question.get(question_hash(problem.question))
        if pool is None or problem.gold is None:
            continue
        counted += 1
        right = [answers_equivalent(answer, problem.gold) for answer in pool["answers"]]
        n = 1
        while n <= len(right):
            hits[n] = hits.get(n, 0) + any(right[:n])
            n *= 2
    print(f"{args.model}: pools of {counted} problems")
    for n, count in hits.items():
        print(f"pass@{n}: {count}/{counted} = {100 * count / counted:.1f}%")


if __name__ == "__main__":
    main()
