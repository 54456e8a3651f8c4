"""Program-of-thought (PAL, Gao et al. 2022): the policy writes a short Python program, the sandbox
runs it, and what it prints is the answer. ``pot-greedy``: one greedy program; ``pot``: N
programs in one batch, voted by equivalence (or ``--select``). A program that fails is a candidate
without an answer (its status, output and error are in the tree and in ``--json``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

from tts_cli.strategies.base import Candidate, SearchContext, SearchResult, finish, options_of, pool_of
from tts_cli.strategies.options import Options
from tts_cli.strategies.registry import register
from tts_cli.strategies.sampling import PROGRAM, Draw, greedy_draws, greedy_info, sample_draws
from tts_cli.strategies.selecting import select_among, select_by_option, select_option, with_greedy_option


@dataclass(frozen=True)
class PotOptions(Options):
    select: str = select_option("vote")
    with_greedy: bool = with_greedy_option()


def vote_over(ctx: SearchContext, draws: Sequence[Draw], select: str) -> SearchResult:
    """A sampling strategy with program samples: the ``draws`` in one batch, then ``select``
    chooses among them; ``info`` holds the programs' statuses and the vote (each group's votes, and how
    many of them are programs)."""
    candidates = [s.candidate for s in sample_draws(ctx, draws)]
    pool = pool_of(candidates)
    info: dict[str, Any] = {"select": select, **greedy_info(draws), **program_info(candidates)}
    chosen = select_among(pool, select, info)
    info["votes"] = [
        {
            "answer": candidates[g[0]].answer,
            "votes": len(g),
            "programs": sum(1 for i in g if candidates[i].program is not None),
        }
        for g in pool.groups
    ]
    return finish(ctx, candidates, chosen, info)


def program_info(candidates: list[Candidate]) -> dict[str, Any]:
    """How the programs fared: the count of each status, and the sandbox's wall time."""
    runs = [c.program for c in candidates if c.program is not None]
    return {
        "programs": dict(Counter(run.status for run in runs)),
        "execution_seconds": round(sum(run.seconds for run in runs), 4),
    }


@register(
    "pot-greedy",
    summary="One greedy program-of-thought: the policy writes a Python program, the sandbox runs it.",
    reads=("max_tokens", "budget"),
    deterministic=True,
    samples="program",
)
def run_greedy(ctx: SearchContext) -> SearchResult:
    samples = sample_draws(ctx, [Draw(PROGRAM, 0, greedy=True)])
    if not samples:
        return finish(ctx, [], None, {"reason": "budget exhausted"})
    candidates = [samples[0].candidate]
    return finish(ctx, candidates, 0 if candidates[0].answer is not None else None, program_info(candidates))


@register(
    "pot",
    summary="N programs in one batch, each run in the sandbox; the most common output wins (or --select).",
    options=PotOptions,
    select=select_by_option,
    samples="program",
)
def run(ctx: SearchContext) -> SearchResult:
    options = options_of(ctx, PotOptions)
    draws = greedy_draws([PROGRAM], options.with_greedy) + [Draw(PROGRAM, i) for i in range(ctx.config.n)]
    return vote_over(ctx, draws, options.select)
