"""Does the policy know which of its greedy answers is right? P(True) self-ratings (issue 16).

`auto --check program` spends most of its budget where the greedy chain of thought and the greedy
program disagree (28 of the first 60 GSM8K problems); one of the two is right on 13 of them. This
measures whether the policy's own rating of its traces (CISC's P(True), Taubenfeld et al. 2025)
tells which, on the cached greedy runs of ``docs/bench/cache-signals`` (their texts; nothing is
generated). Three prompts, each scored as p(True) / (p(True) + p(False)) (or A vs B) of the next
token after one forward pass:

- ``self``: the trace, then "Is your final answer correct?" (for the program: "Your program
  printed X. Is that the correct answer?"); every problem.
- ``versus``: the trace, then the other method's answer, and "Is your answer X correct?"; only
  where the two disagree.
- ``choose``: no trace: the question and both answers, "Which one is correct, A or B?", asked in
  both orders and averaged (position bias cancels); only where the two disagree.

Live, a rating continues the trace's cached KV sequence (a few dozen prompt tokens); here each
prompt is evaluated whole, so ``tokens`` in a record are what a cold rating costs. One JSON line per
(problem, variant) is appended to ``--out`` at once; a rerun skips what is there, so ``--report``
alone loads no model.

    python docs/experiments/self_rating.py --data ../shared/data/gsm8k_test_dev.jsonl           # score 1-60 (about 25 min alone)
    python docs/experiments/self_rating.py --data ../shared/data/gsm8k_test_dev.jsonl --report  # AUROC and picks per slice
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

from cheap_escalation import load, same  # beside this script

from tts_cli.batch import complete_lines, read_graded
from tts_cli.bench.pool import run_signals
from tts_cli.bench.signal_quality import auroc
from tts_cli.grading import answers_equivalent
from tts_cli.prompts import prompt_set

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "bench" / "self-rating.jsonl"
VARIANTS = ("self", "versus", "choose")
ASK_CHAIN = "Is your final answer correct? Answer with True or False."
ASK_PROGRAM = "Your program printed {program}. Is that the correct answer to the question? Answer with True or False."
VERSUS_CHAIN = (
    "A Python program written for the same question computed {program} instead of {chain}. "
    "Is your answer {chain} correct? Answer with True or False."
)
VERSUS_PROGRAM = (
    "Your program printed {program}. Solving step by step in words gave {chain} instead. "
    "Is {program} the correct answer? Answer with True or False."
)
CHOOSE = "{question}\n\nTwo candidate answers: (A) {a} (B) {b}. Which one is correct? Answer with A or B."
TRUE = ("True", " True", "true", " true", "TRUE")
FALSE = ("False", " False", "false", " false", "FALSE")

Score = Callable[[list[dict[str, str]], str], tuple[float, int]]


def rate(variant: str, question: str, chain: dict[str, Any], program: dict[str, Any], score: Score) -> dict[str, Any]:
    """One record's ratings of the greedy chain and the greedy program; ``score(messages, kind)``."""
    ca, pa = chain["answer"], program["answer"]
    chain_chat = [*prompt_set("math").messages(question), {"role": "assistant", "content": chain["text"]}]
    program_chat = [*prompt_set("program").messages(question), {"role": "assistant", "content": program["text"]}]

    def ask(chat: list[dict[str, str]], text: str) -> tuple[float, int]:
        return score([*chat, {"role": "user", "content": text}], "true")

    if variant == "self":
        (c, n1), (p, n2) = ask(chain_chat, ASK_CHAIN), ask(program_chat, ASK_PROGRAM.format(program=pa))
    elif variant == "versus":
        c, n1 = ask(chain_chat, VERSUS_CHAIN.format(program=pa, chain=ca))
        p, n2 = ask(program_chat, VERSUS_PROGRAM.format(program=pa, chain=ca))
    else:
        system = [{"role": "system", "content": prompt_set("math").system}]
        first, n1 = score([*system, {"role": "user", "content": CHOOSE.format(question=question, a=ca, b=pa)}], "ab")
        second, n2 = score([*system, {"role": "user", "content": CHOOSE.format(question=question, a=pa, b=ca)}], "ab")
        c = (first + 1 - second) / 2
        p = 1 - c
    return {"chain": c, "program": p, "tokens": [n1, n2]}


def scorer(model: str, threads: Optional[int]) -> Score:
    from tts_cli.cli.runtime import ModelLoader
    from tts_cli.env import Environment
    from tts_cli.verifiers._scoring import binary_score, single_tokens

    engine = ModelLoader(Environment(), None, threads=threads, gpu_layers=0, n_ctx=8192, quiet=True).load(model)
    pairs = {
        "true": (single_tokens(engine, TRUE), single_tokens(engine, FALSE)),
        "ab": (single_tokens(engine, ("A", " A")), single_tokens(engine, ("B", " B"))),
    }

    def score(messages: list[dict[str, str]], kind: str) -> tuple[float, int]:
        good, bad = pairs[kind]
        prompt = engine.chat_prompt(messages)
        row = engine.next_token_logprobs([prompt], good + bad)[0]
        return binary_score(row[: len(good)], row[len(good) :]), len(prompt)

    return score


def fmt(value: Optional[float]) -> str:
    return "  —  " if value is None else f"{value:.3f}"


def report(records: dict[tuple[int, str], dict[str, Any]], problems: list[dict[str, Any]]) -> None:
    def right(answer: Optional[str], gold: str) -> bool:
        return answer is not None and answers_equivalent(answer, gold)

    for name, first, last in (("1-20 (dev)", 1, 20), ("21-60", 21, 60), ("1-60", 1, 60)):
        print(f"problems {name}:")
        for variant in VARIANTS:
            rows = [(i, records[(i, variant)]) for i in range(first, last + 1) if (i, variant) in records]
            if not rows:
                continue
            p = [problems[i - 1] for i, _ in rows]
            chain_ok = [right(q["greedy"]["answer"], q["gold"]) for q in p]
            program_ok = [right(q["program"]["answer"], q["gold"]) for q in p]
            conf = [run_signals(q["greedy"]).get("lowest_conf", float("-inf")) for q in p]
            split = [(r, c) for (_, r), c, g in zip(rows, chain_ok, program_ok) if c != g]
            picked = sum((r["chain"] >= r["program"]) == c for r, c in split)
            chain_first = sum(c for _, c in split)
            print(
                f"  {variant:7s} {len(rows):2d} problems  AUROC chain {fmt(auroc([r['chain'] for _, r in rows], chain_ok))}"
                f" (its lowest_conf {fmt(auroc(conf, chain_ok))})  program {fmt(auroc([r['program'] for _, r in rows], program_ok))}"
                f"  one of two right: {len(split)}, the higher rating right on {picked}, the chain on {chain_first}"
            )  # fmt: skip


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the GSM8K dev file (gsm8k_test_dev.jsonl)")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "docs" / "bench" / "cache-signals")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--report", action="store_true", help="only print the report from --out")
    args = parser.parse_args(argv)
    problems = load(args.cache_dir, args.data, args.limit)
    questions = read_graded(args.data, args.limit)
    lines = complete_lines(args.out) if args.out.exists() else []
    records = {(r["problem"], r["variant"]): r for r in map(json.loads, lines)}
    if not args.report:
        score: Optional[Score] = None
        with args.out.open("a", encoding="utf-8") as out:
            for i, (p, q) in enumerate(zip(problems, questions), start=1):
                disagree = not same(p["greedy"]["answer"], p["program"]["answer"])
                for variant in VARIANTS:
                    if (i, variant) in records or (variant != "self" and not disagree):
                        continue
                    score = score or scorer(args.model, args.threads)
                    started = time.perf_counter()
                    record = {
                        "problem": i,
                        "variant": variant,
                        **rate(variant, q.question, p["greedy"], p["program"], score),
                    }
                    record["seconds"] = round(time.perf_counter() - started, 1)
                    records[(i, variant)] = record
                    out.write(json.dumps(record) + "\n")
                    out.flush()
                    print(
                        f"problem {i} {variant}: chain {record['chain']:.3f} program {record['program']:.3f}",
                        file=sys.stderr,
                    )
    report(records, problems)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
