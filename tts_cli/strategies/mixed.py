"""``mixed``: chain-of-thought and program samples in one batch and one vote. Sample i is a chain
of thought when i is even and a program when i is odd (each kind numbered on its own: the k-th
chain of thought is what ``majority`` draws as its sample k, the k-th program what ``pot`` draws),
so ``-n N`` holds ceil(N/2) chains of thought and floor(N/2) programs, and ``tts bench`` reads
every N from a chain-of-thought pool and a program pool, alternated."""

from __future__ import annotations

from dataclasses import dataclass

from tts_cli.strategies.base import SearchContext, SearchResult, options_of
from tts_cli.strategies.options import Options
from tts_cli.strategies.pot import vote_over
from tts_cli.strategies.registry import register
from tts_cli.strategies.sampling import COT, PROGRAM, Draw, greedy_draws
from tts_cli.strategies.selecting import select_by_option, select_option, with_greedy_option


@dataclass(frozen=True)
class MixedOptions(Options):
    select: str = select_option("vote")
    with_greedy: bool = with_greedy_option()


def mixed_draws(n: int) -> list[Draw]:
    """The first ``n`` draws of a mixed run: chain of thought, program, chain of thought, ..."""
    return [Draw(COT if i % 2 == 0 else PROGRAM, i // 2) for i in range(n)]


@register(
    "mixed",
    summary="Chain-of-thought and program samples alternating in one batch; one vote over both (or --select).",
    options=MixedOptions,
    select=select_by_option,
    samples="mixed",
)
def run(ctx: SearchContext) -> SearchResult:
    options = options_of(ctx, MixedOptions)
    draws = greedy_draws([COT, PROGRAM], options.with_greedy) + mixed_draws(ctx.config.n)
    return vote_over(ctx, draws, options.select)
