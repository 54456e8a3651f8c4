"""``majority`` (self-consistency): N samples in one batch; the most common equivalent answer wins."""

from __future__ import annotations

from typing import Optional

from tts_cli.grading import majority_answer
from tts_cli.strategies.base import Pool, SearchContext, SearchResult, finish
from tts_cli.strategies.options import Options
from tts_cli.strategies.registry import register
from tts_cli.strategies.steps import sample_full


def select(pool: Pool, options: Options) -> Optional[int]:
    """``majority_answer``'s rule: the first member of the largest group, the earliest on ties."""
    return max(pool.groups, key=len)[0] if pool.groups else None


@register(
    "majority",
    summary="N samples in one batch; the most common (mathematically equivalent) answer wins.",
    select=select,
)
def run(ctx: SearchContext) -> SearchResult:
    candidates = [s.candidate for s in sample_full(ctx, ctx.config.n)]
    chosen, groups = majority_answer([c.answer for c in candidates])
    votes = [{"answer": candidates[g[0]].answer, "votes": len(g)} for g in groups]
    for group in groups:
        for i in group:
            candidates[i].score = len(group) / len(candidates)
    return finish(ctx, candidates, chosen, {"votes": votes})
