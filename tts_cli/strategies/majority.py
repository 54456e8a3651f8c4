"""``majority`` (self-consistency): N samples in one batch; the most common equivalent answer wins,
or whatever ``--select`` says (a confidence-weighted or filtered vote, tts_cli.selection)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from tts_cli.strategies.base import Pool, SearchContext, SearchResult, finish, options_of, pool_of
from tts_cli.strategies.options import Options
from tts_cli.strategies.registry import register
from tts_cli.strategies.sampling import COT, Draw, greedy_draws, greedy_info, sample_draws
from tts_cli.strategies.selecting import select_among, select_by_option, select_option, with_greedy_option


@dataclass(frozen=True)
class MajorityOptions(Options):
    select: str = select_option("vote")
    with_greedy: bool = with_greedy_option()


def select_live(pool: Pool, options: MajorityOptions, info: dict[str, Any]) -> Optional[int]:
    """``select`` in a live run: without the signals the selector reads, the plain vote (noted)."""
    return select_among(pool, options.select, info)


@register(
    "majority",
    summary="N samples in one batch; the most common (mathematically equivalent) answer wins (or --select).",
    options=MajorityOptions,
    select=select_by_option,
    replayable=True,
)
def run(ctx: SearchContext) -> SearchResult:
    options = options_of(ctx, MajorityOptions)
    draws = greedy_draws([COT], options.with_greedy) + [Draw(COT, i) for i in range(ctx.config.n)]
    candidates = [s.candidate for s in sample_draws(ctx, draws)]
    pool = pool_of(candidates)
    info: dict[str, Any] = {"select": options.select, **greedy_info(draws)}
    chosen = select_live(pool, options, info)
    info["votes"] = [{"answer": candidates[g[0]].answer, "votes": len(g)} for g in pool.groups]
    return finish(ctx, candidates, chosen, info)
