"""``auto``: compute-optimal allocation per question, from the policy's own confidence.

The greedy solution comes first, alone. When its confidence (``--gate-signal``, recorded while it
was generated: no extra tokens) is at least ``--gate``, it is the answer: most questions a small
model gets right it answers with a confident trace. Otherwise the greedy solution becomes one
candidate of an ``adaptive`` run: samples in doubling stages (``--warmup`` candidates including the
greedy one, then 2×, … up to ``-n``), weak traces stopped early by confidence, no more stages
once the vote is settled, the answer chosen by ``--select`` among all of them (the greedy one too).
The route (gate value, stages, votes, why it stopped) is recorded in ``info["route"]``.

With ``--check program`` a greedy answer below the gate is first checked by a program: the policy
writes one greedy program (program of thought), the sandbox runs it, and when its output is
equivalent to the greedy answer that answer stands (two independent ways of computing agree).
Otherwise both are candidates of an adaptive run whose samples alternate chains of thought and
programs (``mixed``). ``--first program`` starts from the greedy program instead (the cheaper
answer: programs are short), gated on its own trace, the greedy chain of thought checking it.
``--chain-gate`` lets the chain of thought's answer stand when the two disagree and the chain's
``lowest_conf`` reaches it. These escalation rules were measured on cached samples with
``tts bench --replay`` (docs/results.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from tts_cli.grading import answers_equivalent
from tts_cli.selection import SIGNALS
from tts_cli.strategies.adaptive import AdaptiveOptions, Sampling, choose, grow, stages
from tts_cli.strategies.base import SearchContext, SearchResult, finish, options_of
from tts_cli.strategies.options import option
from tts_cli.strategies.registry import register
from tts_cli.strategies.sampling import PROGRAM, Draw, sample_draws, sample_full

GATE_SIGNALS = tuple(s for s in SIGNALS if s != "judge")
CHECKS = ("none", "program")
FIRSTS = ("chain", "program")


@dataclass(frozen=True)
class AutoOptions(AdaptiveOptions):
    """``adaptive``'s options, and the gate of the greedy answer."""

    gate: float = option(
        10.0, "--gate", help="The greedy answer stands alone when its --gate-signal is at least this "
        "(-inf: always; inf: never).", rule=(lambda v: v == v, "must be a number"),
    )  # fmt: skip
    gate_signal: str = option(
        "lowest_conf", "--gate-signal", help="The greedy trace's signal the gate reads.", choices=GATE_SIGNALS
    )
    check: str = option(
        "none", "--check", help="program: below the gate, a greedy program checks the greedy answer "
        "(needs the sandbox); then samples alternate chains of thought and programs.", choices=CHECKS,
    )  # fmt: skip

    first: str = option(
        "chain", "--first", help="The greedy solution drawn first: chain (of thought) or program (gated on the "
        "program's trace; below the gate the greedy chain checks it, then samples alternate).", choices=FIRSTS,
        added_later=True,
    )  # fmt: skip
    chain_gate: float = option(
        float("inf"), "--chain-gate", help="When the greedy chain and program disagree, the chain's answer stands "
        "if its lowest_conf is at least this (inf: never).", rule=(lambda v: v == v, "must be a number"),
        added_later=True,
    )  # fmt: skip

    def runs_programs(self) -> bool:
        return self.check == "program" or self.first == "program"


@register(
    "auto",
    summary="Compute-optimal: the greedy answer alone when its confidence is high; else adaptive sampling.",
    options=AutoOptions,
    replayable=True,
)
def run(ctx: SearchContext) -> SearchResult:
    options = options_of(ctx, AutoOptions)
    n = max(1, ctx.config.n)
    greedy_ctx = replace(ctx, config=replace(ctx.config, temperature=0.0))
    program_first = options.first == "program"
    first = sample_draws(ctx, [Draw(PROGRAM, 0, greedy=True)]) if program_first else sample_full(greedy_ctx, 1)
    if not first:
        return finish(ctx, [], None, {"route": {"decision": "none", "reason": "budget exhausted"}})
    head = first[0].candidate
    signal = options.gate_signal
    gate_value = head.signals.get(signal)
    route: dict[str, Any] = {"gate": None if gate_value is None else round(gate_value, 4), "gate_at": options.gate}
    if program_first:
        route["first"] = "program"
    if head.answer is not None and gate_value is not None and gate_value >= options.gate:
        route.update(decision="greedy", reason=f"greedy {signal} {gate_value:.2f} >= {options.gate}", samples=1)
        return finish(ctx, [head], 0, {"route": route})
    if n == 1:
        route.update(decision="greedy", reason="-n 1: nothing more to draw", samples=1)
        return finish(ctx, [head], 0 if head.answer is not None else None, {"route": route})
    sampling = Sampling(samples=list(first))
    mixed = program_first or options.check == "program"
    if mixed:
        second = sample_full(greedy_ctx, 1) if program_first else sample_draws(ctx, [Draw(PROGRAM, 0, greedy=True)])
        if not second:
            spent = "the greedy chain of thought" if program_first else "the program check"
            route.update(decision="greedy", reason=f"budget spent before {spent}", samples=1)
            return finish(ctx, [head], 0 if head.answer is not None else None, {"route": route})
        chain, program = (second[0], first[0]) if program_first else (first[0], second[0])
        route["program"] = program.candidate.answer
        candidates = [head, second[0].candidate]
        if chain.candidate.answer is not None and answers_equivalent(chain.candidate.answer, program.candidate.answer):
            route.update(decision="agree", reason="the greedy program computes the greedy answer", samples=2)
            return finish(ctx, candidates, 0, {"route": route})
        chain_conf = chain.candidate.signals.get("lowest_conf")
        if chain.candidate.answer is not None and chain_conf is not None and chain_conf >= options.chain_gate:
            route.update(decision="chain", reason=f"chain lowest_conf {chain_conf:.2f} >= {options.chain_gate}", samples=2)
            return finish(ctx, candidates, candidates.index(chain.candidate), {"route": route})
        sampling.samples += second
    reason = grow(ctx, sampling, stages(options.warmup, n), options, first_index=1, mixed=mixed)
    candidates = [s.candidate for s in sampling.samples]
    route.update(
        decision="adaptive", reason=reason, stages=sampling.stages, threshold=sampling.threshold,
        stopped_early=sampling.stopped_early, samples=len(candidates),
    )  # fmt: skip
    return choose(ctx, candidates, options.select, {"route": route, "select": options.select})
