"""How cheap can a greedy-first rule be and still match majority@16? (issue 16, auto's cost target)

Replays a family of escalation rules on the cached GSM8K runs and pools of
``docs/bench/cache-signals`` (nothing is generated). A rule starts with one greedy solution, the
chain of thought (``chain-first``, what ``auto --check program`` does) or the program
(``program-first``: the cheapest answer, 127 generated tokens against 258), accepted alone when
that trace's GATE_SIGNAL is at least GATE; else the other greedy solution, accepted when the two
agree, or (the chain's answer) when the chain's ``lowest_conf`` is at least CHAIN_GATE; else up to
KMAX more samples (programs ``P`` and/or chains of thought ``C``, in the order KINDS repeats),
stopping once one answer leads by LEAD votes; the plain vote over all of them, a tie to the
earliest (the greedy chain's answer before the program's). Tokens are the generated tokens each
rule would spend on those cached samples; FLOPs count every prompt once (2 x parameters x tokens
evaluated), as a live run does.

    python docs/experiments/cheap_escalation.py --data ../shared/data/gsm8k_test_dev.jsonl   # within 12.5% of the tokens
    python docs/experiments/cheap_escalation.py --data ../shared/data/gsm8k_test_dev.jsonl --share 0.2

It prints two things. **Chosen on problems 1-20** (the most accurate rule there within the budget,
then the cheapest), with its accuracy per slice, and how the held-out accuracy spreads over all the
rules that tie on 1-20: that is the honest estimate. **Best over all problems** (the old report): an upper
bound for the family, since it has seen the held-out problems.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from tts_cli.batch import read_graded
from tts_cli.bench.cache import CacheQuery, question_hash
from tts_cli.bench.pool import run_signals
from tts_cli.grading import answers_equivalent, group_equivalent

ROOT = Path(__file__).resolve().parents[2]
MODEL = "qwen2.5-coder-1.5b"  # the policy of the cached runs and pools
DEV = 20  # problems 1..DEV choose the rule
GATE_SIGNALS = ("lowest_conf", "self_certainty", "mean_conf")


@dataclass(frozen=True)
class Rule:
    first: str  # "greedy" (the chain of thought) or "program"
    gate_signal: str
    gate: float
    chain_gate: float
    kinds: str
    kmax: int
    lead: int

    def __str__(self) -> str:
        order = "chain-first" if self.first == "greedy" else "program-first"
        return (
            f"{order}, gate {self.gate_signal} >= {self.gate:.4g}, chain gate {self.chain_gate:.4g}, "
            f"{self.kinds} up to {self.kmax}, lead {self.lead}"
        )


def load(cache_dir: Path, data: Path, limit: int, model: str = MODEL) -> list[dict[str, Any]]:
    """Per problem: gold, the greedy run, the greedy program run, the cot pool and the program pool of
    ``model`` (the largest pool of each kind: the cache holds one per question)."""
    cache = CacheQuery.read(cache_dir)
    greedy, program = cache.runs(model, "greedy"), cache.runs(model, "pot-greedy")
    cot, programs = cache.largest_pools(model, "cot"), cache.largest_pools(model, "program")
    problems = []
    for problem in read_graded(data, limit):
        q = question_hash(problem.question)
        problems.append({
            "gold": problem.gold, "greedy": greedy[q].result, "program": program[q].result,
            "C": cot[q].result, "P": programs[q].result,
        })  # fmt: skip
        # summarized once here: every rule reads them
        problems[-1]["signals"] = {kind: run_signals(problems[-1][kind]) for kind in ("greedy", "program")}
    return problems


def same(a: Optional[str], b: Optional[str]) -> bool:
    return a is not None and b is not None and answers_equivalent(a, b)


def prompt_tokens(run: dict[str, Any]) -> int:
    """The run's prompt as a fresh run evaluates it (the cached run may have reused a pool's)."""
    return int(run.get("policy_prompt_tokens", 0)) + int(run.get("policy_cached_tokens", 0))


def escalate(p: dict[str, Any], rule: Rule) -> tuple[Optional[str], int, int]:
    """The answer of ``rule`` on problem ``p``, the tokens it generates and the tokens it evaluates."""
    second = "program" if rule.first == "greedy" else "greedy"
    head, tail = p[rule.first], p[second]
    tokens = head["policy_tokens"]
    evaluated = prompt_tokens(head) + tokens
    if head["answer"] is not None and p["signals"][rule.first].get(rule.gate_signal, float("-inf")) >= rule.gate:
        return head["answer"], tokens, evaluated
    tokens += tail["policy_tokens"]
    evaluated += prompt_tokens(tail) + tail["policy_tokens"]
    chain, program = p["greedy"]["answer"], p["program"]["answer"]
    if same(chain, program):
        return chain, tokens, evaluated
    if chain is not None and p["signals"]["greedy"].get("lowest_conf", float("-inf")) >= rule.chain_gate:
        return chain, tokens, evaluated
    candidates, drawn = [chain, program], {"C": 0, "P": 0}
    for kind in itertools.islice(itertools.cycle(rule.kinds), rule.kmax):
        pool, i = p[kind], drawn[kind]
        candidates.append(pool["answers"][i])
        tokens += pool["tokens"][i]
        evaluated += pool["tokens"][i]
        drawn[kind] += 1
        sizes = sorted((len(g) for g in group_equivalent(candidates)), reverse=True) + [0, 0]
        if sizes[0] - sizes[1] >= rule.lead:
            break
    groups = group_equivalent(candidates)
    if not groups:
        return None, tokens, evaluated
    return candidates[max(groups, key=len)[0]], tokens, evaluated


def rules(problems: list[dict[str, Any]]) -> list[Rule]:
    """The chain-first grid of the earlier report, and program-first gates at every second value the
    greedy programs of problems 1..DEV take (their distribution only: chosen on dev)."""
    tails = [
        (kinds, kmax, lead) for kinds in ("P", "C", "PC", "CP") for kmax in (0, 1, 2, 3, 4, 6, 8) for lead in (1, 2, 3)
    ]
    found = [
        Rule("greedy", "lowest_conf", gate, chain_gate, *tail)
        for gate in (float("inf"), 12.0, 11.0, 10.5, 10.0, 9.5)
        for chain_gate in (float("inf"),)
        for tail in tails
    ]
    for signal in GATE_SIGNALS:
        values = sorted(p["signals"]["program"].get(signal, 0.0) for p in problems[:DEV])[::2]
        for gate in (float("inf"), *values):
            for chain_gate in (float("inf"), 12.0, 11.0, 10.5, 10.0):
                found += [Rule("program", signal, gate, chain_gate, *tail) for tail in tails]
    return found


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "docs/bench/cache-signals")
    parser.add_argument("--data", type=Path, required=True, help="the GSM8K dev file (gsm8k_test_dev.jsonl)")
    parser.add_argument("--model", default=MODEL, help="the policy of the cached runs and pools")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--share", type=float, default=0.125, help="token budget, a share of majority@16's")
    parser.add_argument("--flops-share", type=float, default=0.25, help="FLOPs budget, a share of majority@16's")
    args = parser.parse_args(argv)
    problems = load(args.cache_dir, args.data, args.limit, args.model)
    right: dict[tuple[Optional[str], str], bool] = {}

    def correct(answer: Optional[str], gold: str) -> bool:
        if (answer, gold) not in right:
            right[(answer, gold)] = answer is not None and answers_equivalent(answer, gold)
        return right[(answer, gold)]

    def slices(score: list[bool]) -> str:
        return ",".join(str(sum(score[i : i + 20])) for i in range(0, len(score), 20))

    n = len(problems)
    reference = [sum(p["C"]["tokens"][:16]) for p in problems]
    reference_evaluated = [prompt_tokens(p["greedy"]) + r for p, r in zip(problems, reference)]
    majority = [correct(p["C"]["answers"][max(group_equivalent(p["C"]["answers"][:16]), key=len)[0]], p["gold"])
                for p in problems]  # fmt: skip
    print(f"majority@16: {sum(majority)}/{n} right ({slices(majority)} per 20), "
          f"{sum(reference) / n:.0f} generated tokens per problem")  # fmt: skip
    found = []
    for rule in rules(problems):
        results = [escalate(p, rule) for p in problems]
        score = [correct(answer, p["gold"]) for (answer, _, _), p in zip(results, problems)]
        share = sum(t for _, t, _ in results) / sum(reference)
        flops = sum(e for _, _, e in results) / sum(reference_evaluated)
        dev_share = sum(t for _, t, _ in results[:DEV]) / sum(reference[:DEV])
        found.append((rule, score, share, flops, dev_share))

    def line(rule: Rule, score: list[bool], share: float, flops: float) -> str:
        return (
            f"{sum(score)}/{n} ({slices(score)} per 20)  tokens {100 * share:5.1f}%  FLOPs {100 * flops:5.1f}%  {rule}"
        )

    on_dev = [f for f in found if f[4] <= args.share]
    best_dev = max(sum(f[1][:DEV]) for f in on_dev)
    tied = sorted((f for f in on_dev if sum(f[1][:DEV]) == best_dev), key=lambda f: f[4])
    rule, score, share, flops, _ = tied[0]
    print(f"\n{len(found)} rules. Chosen on problems 1-{DEV} (most accurate within {100 * args.share:.1f}% of the "
          f"tokens there, then cheapest): {best_dev}/{DEV} on 1-{DEV}")  # fmt: skip
    print("  " + line(rule, score, share, flops))
    held_out = [sum(f[1][DEV:]) for f in tied]
    reach = sum(sum(f[1]) >= sum(majority) and f[2] <= args.share and f[3] <= args.flops_share for f in tied)
    print(f"  {len(tied)} rules tie at {best_dev}/{DEV}; on {DEV + 1}-{n} they get median {statistics.median(held_out)}"
          f"/{n - DEV} (min {min(held_out)}, max {max(held_out)}); {reach} of them reach majority@16's {sum(majority)}/{n}"
          f" within both budgets on 1-{n}")  # fmt: skip
    for first in ("greedy", "program"):
        mine = [f for f in tied if f[0].first == first]
        if mine:
            mid = statistics.median(sum(f[1][DEV:]) for f in mine)
            print(f"    {'chain-first' if first == 'greedy' else 'program-first'}: {len(mine)} tied rules, "
                  f"median {mid}/{n - DEV} on {DEV + 1}-{n}")  # fmt: skip
    within = sorted(
        (f for f in found if f[2] <= args.share and f[3] <= args.flops_share),
        key=lambda f: (sum(f[1]), -f[2]), reverse=True,
    )  # fmt: skip
    print(f"\nBest over all {n} within {100 * args.share:.1f}% of the tokens and {100 * args.flops_share:.0f}% of the "
          "FLOPs (an upper bound: it has seen the held-out problems):")  # fmt: skip
    for rule, score, share, flops, _ in within[:5]:
        print("  " + line(rule, score, share, flops))
    for first in ("greedy", "program"):
        mine = [f for f in within if f[0].first == first]
        if mine:
            print(f"  best {'chain-first' if first == 'greedy' else 'program-first'}: " + line(*mine[0][:4]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
