"""Score the cached chain-of-thought sample pools of a `tts bench` run with the LLM judge, for the
judge's AUROC next to the arithmetic verifier's (issue 14; ``docs/experiments/arithmetic_auroc.py``).

For every problem (the first ``--limit`` of the data file, from problem ``--first`` on) the largest
cached chain-of-thought pool of ``--model`` (program pools left out; the pool
``arithmetic_auroc.py`` reads) is scored by ``JudgeVerifier`` on ``--judge``: each sample's text is
split into steps and only its last step is judged (``last_only``: one forward pass per sample, the
system prompt and problem shared through the KV prefix cache), all samples of a problem in one
batched call. A sample without steps (empty text) gets 0.0, what ``aggregate([], "last")`` gives it
in a search. One JSON line per problem is appended to ``--out`` at once (question hash, judge model,
pool key, one score per sample, verifier tokens, seconds); problems already there for the same
pool, judge and judge prompt are skipped, so an interrupted run resumes and a rerun loads no model.

    python docs/experiments/judge_pools.py --data ../shared/data/gsm8k_test_dev.jsonl --limit 20
    python docs/experiments/arithmetic_auroc.py ../shared/data/gsm8k_test_dev.jsonl   # reads docs/bench/judge-scores.jsonl

Run it alone on the machine: the model is loaded on CPU (``--threads`` as tts's default).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

from tts_cli.batch import Problem, ResultWriter, complete_lines, read_graded
from tts_cli.bench.cache import CacheQuery, question_hash
from tts_cli.grading.equivalence import answers_equivalent
from tts_cli.strategies.base import split_steps
from tts_cli.verifiers import JudgeVerifier
from tts_cli.verifiers.aggregate import aggregate
from tts_cli.verifiers.judge import JUDGE_SYSTEM, JUDGE_TEMPLATE, STEP_FORMAT

ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = ROOT / "docs" / "bench" / "cache-signals"
OUT = ROOT / "docs" / "bench" / "judge-scores.jsonl"

# The judge's prompt, hashed into each record: scores from another prompt are not reused.
PROMPT_HASH = hashlib.sha256("\0".join((JUDGE_SYSTEM, JUDGE_TEMPLATE, STEP_FORMAT)).encode()).hexdigest()[:12]


def cot_pools(cache_dir: Path, model: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Question hash -> (cache key, result) of the largest cached chain-of-thought pool of ``model``
    that kept its samples' texts (read only: a bench may be appending to the cache)."""
    pools = CacheQuery.read(cache_dir).largest_pools(model, "cot", with_texts=True)
    return {question: (c.key, c.result) for question, c in pools.items()}


def read_scores(path: Path) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    """(question hash, judge model, pool key, prompt hash) -> record; a later line replaces an earlier."""
    return {
        (r["question"], r["model"], r["pool"], r.get("prompt", "")): r
        for r in (json.loads(raw) for raw in complete_lines(path))
    }


def score_pool(verifier: JudgeVerifier, question: str, texts: list[str]) -> tuple[list[float], list[int]]:
    """One judge score per text (its last step's p(Yes)) in one batched call; indices without steps."""
    steps = [split_steps(text) for text in texts]
    scored = verifier.score(question, steps, last_only=True)
    return [aggregate(s, "last") for s in scored], [i for i, s in enumerate(steps) if not s]


def load_problems(path: Path, first: int, limit: int) -> list[tuple[int, Problem]]:
    return list(enumerate(read_graded(path, limit), start=1))[max(first, 1) - 1 :]


def mean(values: list[float]) -> Optional[float]:
    return sum(values) / len(values) if values else None


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the GSM8K dev file (gsm8k_test_dev.jsonl)")
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="the bench cache holding the pools")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="the policy whose pools are scored")
    parser.add_argument("--judge", default="qwen2.5-coder-1.5b", help="the judge's model")
    parser.add_argument("--limit", type=int, default=60, help="problems 1..LIMIT of the data file")
    parser.add_argument("--first", type=int, default=1, help="start at problem FIRST (1-based)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--ctx", type=int, default=16384)
    args = parser.parse_args(argv)

    by_question = cot_pools(args.cache_dir, args.model)
    done = read_scores(args.out)  # reads to the end (cuts a torn last line) before appending
    verifier: Optional[JudgeVerifier] = None
    writer: Optional[ResultWriter] = None
    scored = skipped = missing = 0
    try:
        for index, problem in load_problems(args.data, args.first, args.limit):
            qhash = question_hash(problem.question)
            if qhash not in by_question:
                missing += 1
                print(f"problem {index}: no cached pool of {args.model} ({qhash})", file=sys.stderr)
                continue
            key, pool = by_question[qhash]
            if (qhash, args.judge, key, PROMPT_HASH) in done:
                skipped += 1
                continue
            if verifier is None:
                from tts_cli.cli.runtime import ModelLoader
                from tts_cli.env import Environment

                loader = ModelLoader(
                    Environment(), None, threads=args.threads, gpu_layers=0, n_ctx=args.ctx, quiet=True, cpu_repack=None
                )
                verifier = JudgeVerifier(loader.load(args.judge))
                writer = ResultWriter.open(args.out, append=True)
            texts = [str(t) for t in pool["texts"]]
            before = verifier.usage.snapshot()
            started = time.perf_counter()
            scores, unscored = score_pool(verifier, problem.question, texts)
            seconds = time.perf_counter() - started
            spent = verifier.usage.since(before)
            record = {
                "question": qhash, "problem": index, "model": args.judge, "policy": args.model, "pool": key,
                "prompt": PROMPT_HASH, "size": len(texts), "scores": scores, "unscored": unscored,
                "verifier_tokens": spent.prompt_tokens + spent.cached_tokens, "prompt_tokens": spent.prompt_tokens,
                "cached_tokens": spent.cached_tokens, "seconds": round(seconds, 3), "at": round(time.time(), 3),
            }  # fmt: skip
            assert writer is not None
            writer.write(record)
            done[(qhash, args.judge, key, PROMPT_HASH)] = record
            scored += 1
            right = [
                answer is not None and problem.gold is not None and answers_equivalent(answer, problem.gold)
                for answer in pool["answers"]
            ]
            mean_right = mean([s for s, r in zip(scores, right) if r])
            mean_wrong = mean([s for s, r in zip(scores, right) if not r])
            print(
                f"problem {index}: {len(texts)} samples in {seconds:.1f} s, {record['verifier_tokens']} verifier "
                f"tokens ({spent.cached_tokens} cached); mean score of {sum(right)} right "
                f"{'-' if mean_right is None else f'{mean_right:.3f}'}, of {len(right) - sum(right)} wrong "
                f"{'-' if mean_wrong is None else f'{mean_wrong:.3f}'}",
                file=sys.stderr,
            )
    finally:
        if writer is not None:
            writer.close()
    print(f"{scored} problems scored, {skipped} already in {args.out}, {missing} without a pool")


if __name__ == "__main__":
    main()
