"""How well exact recomputation of the arithmetic in a sample tells right samples from wrong ones, on
the cached sample pools of a `tts bench` run: no model is loaded, nothing is generated.

For every chain-of-thought pool (the largest per question, program pools left out) each sample gets
``arithmetic`` = the fraction of its arithmetic claims that hold (1.0 when it has none) and
``arithmetic_min`` = the lowest cumulative per-step score (``check_steps``, aggregated with min);
the table gives their AUROC for correctness across all samples and within a question (the mean
over questions with both right and wrong samples; ``tts_cli.bench.signal_quality``), beside the
confidence signals recorded with the pool and the judge's scores where the pool has them or
``docs/experiments/judge_pools.py`` wrote them (``--judge-scores``, scores of the same pool only), for
problems 1-20, 21-60, all, and ``judged`` (the problems with judge scores, every signal on the
same pools). As a check on false alarms, the claims of the gold solutions of the
same problems are checked too: each one found false is a mistake of the checker (or of the data).

    python docs/experiments/arithmetic_auroc.py ../shared/data/gsm8k_test_dev.jsonl docs/bench/cache-signals \\
        --model qwen2.5-coder-1.5b --json arithmetic-auroc.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Optional

from tts_cli.batch import Problem, read_graded
from tts_cli.bench.cache import question_hash
from tts_cli.bench.pool import pool_signals
from tts_cli.bench.signal_quality import signal_quality
from tts_cli.grading.arithmetic import check_steps, find_claims
from tts_cli.grading.equivalence import answers_equivalent, majority_answer
from tts_cli.strategies.base import split_steps
from tts_cli.verifiers.aggregate import aggregate


def load_problems(path: Path, limit: int) -> list[Problem]:
    return read_graded(path, limit)


def gold_solutions(path: Path, limit: int) -> list[str]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [str(row.get("answer", "")) for row in rows[:limit]]


def pools(cache_dir: Path, model: str) -> dict[str, dict[str, Any]]:
    """The largest cached chain-of-thought pool of ``model`` per question hash (its cache key as ``key``)."""
    from judge_pools import cot_pools  # the same pools the judge scores (judge_pools.py, beside this script)

    return {question: {**result, "key": key} for question, (key, result) in cot_pools(cache_dir, model).items()}


def judge_scores(path: Path, judge: str) -> dict[tuple[str, str], list[float]]:
    """(question hash, pool key) -> one judge score per sample, from ``judge_pools.py``."""
    if not path.exists():
        return {}
    records = (json.loads(line) for line in path.read_text().split("\n")[:-1] if line.strip())  # whole lines
    return {(r["question"], r["pool"]): r["scores"] for r in records if r["model"] == judge}


class Grader:
    def __init__(self) -> None:
        self.verdicts: dict[tuple[Optional[str], Optional[str]], bool] = {}

    def __call__(self, answer: Optional[str], gold: Optional[str]) -> bool:
        if (answer, gold) not in self.verdicts:
            self.verdicts[(answer, gold)] = answer is not None and answers_equivalent(answer, gold)
        return self.verdicts[(answer, gold)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the GSM8K dev file (gsm8k_test_dev.jsonl)")
    parser.add_argument("cache_dir", type=Path, nargs="?", default=Path("docs/bench/cache-signals"))
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--split", type=int, default=20, help="problems 1..SPLIT and SPLIT+1..LIMIT")
    parser.add_argument("--aggregate", default="last", help="step scores -> a judge score (scored pools)")
    parser.add_argument(
        "--judge-scores", type=Path, default=Path("docs/bench/judge-scores.jsonl"),
        help="judge scores of the pools (docs/experiments/judge_pools.py), used where present",
    )  # fmt: skip
    parser.add_argument("--judge-model", help="the judge model of those scores (default: --model)")
    parser.add_argument("--json", type=Path, help="write the numbers here")
    args = parser.parse_args()

    grade = Grader()
    by_question = pools(args.cache_dir, args.model)
    judged = judge_scores(args.judge_scores, args.judge_model or args.model)
    started = time.perf_counter()
    groups: dict[str, list[tuple[dict[str, list[float]], list[Optional[str]], Optional[str]]]] = {}
    counts: dict[str, dict[str, float]] = {}
    for index, problem in enumerate(load_problems(args.data, args.limit), start=1):
        pool = by_question.get(question_hash(problem.question))
        if pool is None or problem.gold is None:
            continue
        texts: list[str] = list(pool["texts"])
        answers: list[Optional[str]] = list(pool["answers"])
        signals = pool_signals(pool)
        judge = judged.get((question_hash(problem.question), pool["key"]))
        if judge is None and pool.get("step_scores") is not None:
            judge = [aggregate(s, args.aggregate) for s in pool["step_scores"]]
        names = ("all", f"1-{args.split}" if index <= args.split else f"{args.split + 1}-{args.limit}")
        names += ("judged",) if judge is not None else ()
        whole, lowest = [], []
        for text in texts:
            claims = find_claims(text)
            held = sum(claim.holds for claim in claims)
            whole.append(held / len(claims) if claims else 1.0)
            lowest.append(aggregate(check_steps(split_steps(text)) or [1.0], "min"))
            for name in names:
                c = counts.setdefault(name, dict.fromkeys(
                    ("samples", "with_claims", "claims", "false_claims", "with_false", "right", "right_with_false",
                     "right_without_false", "without_false"), 0.0))  # fmt: skip
                right = grade(answers[len(whole) - 1], problem.gold)
                c["samples"] += 1
                c["with_claims"] += bool(claims)
                c["claims"] += len(claims)
                c["false_claims"] += len(claims) - held
                c["with_false"] += held < len(claims)
                c["without_false"] += held == len(claims)
                c["right"] += right
                c["right_with_false"] += right and held < len(claims)
                c["right_without_false"] += right and held == len(claims)
        # majority of all samples, and of those whose claims all hold (all of them if none is left)
        clean = [i for i, score in enumerate(whole) if score == 1.0] or list(range(len(answers)))
        chosen, _ = majority_answer(answers)
        chosen_clean, _ = majority_answer([answers[i] for i in clean])
        for name in names:
            c = counts[name]
            c["problems"] = c.get("problems", 0) + 1
            c["majority_right"] = c.get("majority_right", 0) + (
                chosen is not None and grade(answers[chosen], problem.gold)
            )
            c["filtered_majority_right"] = c.get("filtered_majority_right", 0) + (
                chosen_clean is not None and grade(answers[clean[chosen_clean]], problem.gold)
            )
        signals = {"arithmetic": whole, "arithmetic_min": lowest, **signals}
        if judge is not None:
            signals["judge"] = judge
        entry = (signals, answers, problem.gold)
        for name in names:
            groups.setdefault(name, []).append(entry)
    seconds = time.perf_counter() - started

    gold_claims = [claim for text in gold_solutions(args.data, args.limit) for claim in find_claims(text)]
    gold_false = [claim.text for claim in gold_claims if not claim.holds]

    report: dict[str, Any] = {"model": args.model, "cache_dir": str(args.cache_dir), "groups": {}}
    print(
        f"{args.model}: pools of {len(groups.get('all', []))} problems ({args.cache_dir}); checked in {seconds:.1f} s"
    )
    print(f"gold solutions of these problems: {len(gold_claims)} claims, {len(gold_false)} found false {gold_false}")
    print(f"judge scores ({args.judge_scores}) for {len(groups.get('judged', []))} of these pools")
    for name in sorted(groups, key=lambda n: (n == "all", n == "judged", n)):
        c = counts[name]
        rows = signal_quality(groups[name], grade)
        print(f"\nproblems {name}: {len(groups[name])} pools, {c['samples']:.0f} samples")
        print(
            f"  {c['with_claims']:.0f} samples with >= 1 claim ({100 * c['with_claims'] / c['samples']:.0f}%), "
            f"{c['claims']:.0f} claims, {c['false_claims']:.0f} false; {c['with_false']:.0f} samples with a false claim"
        )
        acc_false = c["right_with_false"] / c["with_false"] if c["with_false"] else float("nan")
        acc_clean = c["right_without_false"] / c["without_false"] if c["without_false"] else float("nan")
        print(f"  accuracy: {100 * c['right'] / c['samples']:.1f}% overall, {100 * acc_false:.1f}% with a false claim, "
              f"{100 * acc_clean:.1f}% without")  # fmt: skip
        print(
            f"  majority@{len(pool['texts'])}: {c['majority_right']:.0f}/{c['problems']:.0f} right; majority of the samples "
            f"without a false claim: {c['filtered_majority_right']:.0f}/{c['problems']:.0f}"
        )
        print(f"  {'signal':<16} {'AUROC across':>12} {'AUROC within':>12} {'questions':>9}")
        for row in rows:
            across = f"{row.across:.3f}" if row.across is not None else "-"
            within = f"{row.within:.3f}" if row.within is not None else "-"
            print(f"  {row.signal:<16} {across:>12} {within:>12} {row.questions:>9}")
        report["groups"][name] = {"counts": c, "signals": [row.to_dict() for row in rows]}
    report["gold"] = {"claims": len(gold_claims), "false": gold_false}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
