"""How cheap can a greedy-first rule be and still match majority@16? (issue 16, auto's cost target)

Replays a family of escalation rules on the cached GSM8K runs and pools of
``docs/bench/cache-signals`` (nothing is generated): the greedy chain of thought, accepted when its
``lowest_conf`` is at least GATE; else the greedy program, accepted when it agrees; else up to KMAX
more samples (programs ``P`` and/or chains of thought ``C``, in the order KINDS repeats), stopping
once one answer leads by LEAD votes; the plain vote over all of them, a tie to the earliest (the
greedy answer). Tokens are the generated tokens each rule would spend on those cached samples.

    python benchmarks/cheap_escalation.py                 # the best rules within 12.5% of the tokens
    python benchmarks/cheap_escalation.py --share 0.2

It is an upper bound for the rules of this family: it reports the best over all 60 problems, so it
has seen the held-out ones.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tts_cli.bench.cache import question_hash  # noqa: E402
from tts_cli.bench.pool import run_signals  # noqa: E402
from tts_cli.cli.bench_cmd import read_problems  # noqa: E402
from tts_cli.grading import answers_equivalent, group_equivalent  # noqa: E402


def load(cache: Path, data: Path, limit: int) -> list[dict[str, Any]]:
    """Per problem: gold, the greedy run, the greedy program run, the cot pool and the program pool."""
    found: dict[tuple[str, str, str], Any] = {}
    for line in (cache / "results.jsonl").read_text().splitlines():
        entry = json.loads(line)
        what = entry["what"]
        found[(what["question"], what["kind"], what.get("strategy") or what.get("samples") or "cot")] = entry["result"]
    problems = []
    for problem in read_problems(data, limit):
        q = question_hash(problem.question)
        problems.append({
            "gold": problem.gold, "greedy": found[(q, "run", "greedy")], "program": found[(q, "run", "pot-greedy")],
            "C": found[(q, "pool", "cot")], "P": found[(q, "pool", "program")],
        })  # fmt: skip
    return problems


def same(a: Optional[str], b: Optional[str]) -> bool:
    return a is not None and b is not None and answers_equivalent(a, b)


def escalate(p: dict[str, Any], gate: float, kinds: str, kmax: int, lead: int) -> tuple[Optional[str], int]:
    """The answer of one rule on problem ``p`` and the tokens it generates."""
    answer, tokens = p["greedy"]["answer"], p["greedy"]["policy_tokens"]
    if run_signals(p["greedy"]).get("lowest_conf", float("-inf")) >= gate:
        return answer, tokens
    program, tokens = p["program"]["answer"], tokens + p["program"]["policy_tokens"]
    if same(answer, program):
        return answer, tokens
    candidates, drawn = [answer, program], {"C": 0, "P": 0}
    for kind in itertools.islice(itertools.cycle(kinds), kmax):
        pool, i = p[kind], drawn[kind]
        candidates.append(pool["answers"][i])
        tokens += pool["tokens"][i]
        drawn[kind] += 1
        sizes = sorted((len(g) for g in group_equivalent(candidates)), reverse=True) + [0, 0]
        if sizes[0] - sizes[1] >= lead:
            break
    groups = group_equivalent(candidates)
    if not groups:
        return None, tokens
    return candidates[max(groups, key=len)[0]], tokens


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "docs/bench/cache-signals")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/gsm8k_test_dev.jsonl")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--share", type=float, default=0.125, help="token budget, a share of majority@16's")
    args = parser.parse_args(argv)
    problems = load(args.cache_dir, args.data, args.limit)
    right = {}

    def correct(answer: Optional[str], gold: str) -> bool:
        if (answer, gold) not in right:
            right[(answer, gold)] = answer is not None and answers_equivalent(answer, gold)
        return right[(answer, gold)]

    reference = sum(sum(p["C"]["tokens"][:16]) for p in problems) / len(problems)
    majority = sum(correct(p["C"]["answers"][max(group_equivalent(p["C"]["answers"][:16]), key=len)[0]], p["gold"])
                   for p in problems)  # fmt: skip
    print(f"majority@16: {majority}/{len(problems)} right, {reference:.0f} generated tokens per problem")
    found = []
    for gate, kinds, kmax, lead in itertools.product(
        (float("inf"), 12.0, 11.0, 10.5, 10.0, 9.5), ("P", "C", "PC", "PPC"), (0, 1, 2, 3, 4, 6, 8), (1, 2, 3)
    ):
        results = [escalate(p, gate, kinds, kmax, lead) for p in problems]
        score = [correct(answer, p["gold"]) for (answer, _), p in zip(results, problems)]
        share = sum(t for _, t in results) / len(problems) / reference
        found.append((sum(score), -share, gate, kinds, kmax, lead, score))
    within = sorted((f for f in found if -f[1] <= args.share), reverse=True)
    print(f"{len(found)} rules; the best within {100 * args.share:.1f}% of majority@16's tokens:")
    for total, share, gate, kinds, kmax, lead, score in within[:10]:
        slices = ",".join(str(sum(score[i : i + 20])) for i in range(0, len(score), 20))
        print(f"  {total}/{len(problems)} ({slices} per 20)  {-100 * share:5.1f}%  gate {gate}  {kinds} up to {kmax}, lead {lead}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
