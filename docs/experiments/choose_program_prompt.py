"""Choose the program-of-thought prompt (issue 14) on GSM8K dev problems 1-20 only: one greedy
program per problem and prompt (``pot-greedy``), run in the sandbox, graded; tokens and statuses.

    python docs/experiments/choose_program_prompt.py --data ../shared/data/gsm8k_test_dev.jsonl \\
        -p qwen2.5-coder-1.5b --prompts program,program-zero-shot

Results are cached per (model, prompt, problem) in docs/bench/program-prompts.jsonl, so a rerun
only computes what is missing. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from tts_cli import prompts
from tts_cli.batch import read_graded
from tts_cli.cli.runtime import ModelLoader
from tts_cli.env import Environment
from tts_cli.grading import answers_equivalent
from tts_cli.solver import solve
from tts_cli.strategies import SearchConfig

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "docs" / "bench" / "program-prompts.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-p", "--policy", default="qwen2.5-coder-1.5b")
    parser.add_argument("--prompts", default="program,program-plain,program-zero-shot")
    parser.add_argument("--data", type=Path, required=True, help="the GSM8K dev file (gsm8k_test_dev.jsonl)")
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--last", type=int, default=20)
    args = parser.parse_args()
    done = {}
    if CACHE.exists():
        for line in CACHE.read_text().splitlines():
            record = json.loads(line)
            done[(record["model"], record["prompt"], record["problem"])] = record
    env = Environment()
    loader = ModelLoader(env, None, threads=None, gpu_layers=0, n_ctx=4096, quiet=True, cpu_repack=None)
    problems = read_graded(args.data, args.last)[args.first - 1 :]
    original = dict(prompts.PROMPT_SETS)
    for name in args.prompts.split(","):
        for problem in problems:
            key = (args.policy, name, problem.id)
            if key in done:
                continue
            policy = loader.load(args.policy)
            policy.forget()
            prompts.PROMPT_SETS["program"] = original[name]
            solution = solve(
                problem.question, strategy="pot-greedy", policy=policy, config=SearchConfig(max_tokens=512),
                prompts=prompts.MATH,
            )
            candidate = solution.result.candidates[0]
            record = {
                "model": args.policy, "prompt": name, "problem": problem.id, "answer": solution.answer,
                "gold": problem.gold, "correct": answers_equivalent(solution.answer, problem.gold),
                "status": candidate.program.status if candidate.program else None,
                "tokens": solution.cost.policy.generated_tokens, "wall_seconds": solution.cost.wall_seconds,
                "text": candidate.text,
            }  # fmt: skip
            done[key] = record
            with CACHE.open("a") as out:
                out.write(json.dumps(record) + "\n")
            print(f"{name:20} {problem.id:>4} {record['correct']!s:5} {record['status']} {solution.answer}", file=sys.stderr)
    ids = {p.id for p in problems}
    print(f"{'prompt':20} {'right':>7} {'tokens':>7} {'wall s':>7}  statuses")
    for name in args.prompts.split(","):
        records = [r for (m, n, i), r in done.items() if m == args.policy and n == name and i in ids]
        right = sum(r["correct"] for r in records)
        tokens = sum(r["tokens"] for r in records) / max(1, len(records))
        wall = sum(r["wall_seconds"] for r in records) / max(1, len(records))
        statuses = dict(Counter(r["status"] for r in records))
        print(f"{name:20} {right:>3}/{len(records):<3} {tokens:>7.0f} {wall:>7.1f}  {statuses}")


if __name__ == "__main__":
    main()
