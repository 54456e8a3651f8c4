"""``weighted``: N samples; equivalent answers grouped; each group's verifier scores summed; best group wins."""

from __future__ import annotations

from typing import Any, Optional

from tts_cli.selection import weighted_vote
from tts_cli.strategies.base import Pool, SearchContext, SearchResult, finish, require_verifier
from tts_cli.strategies.options import Options
from tts_cli.strategies.registry import register
from tts_cli.strategies.sampling import sample_full, score_samples


def select(pool: Pool, options: Options) -> Optional[int]:
    """The group of equivalent answers with the highest summed score wins (ties: the larger group,
    then the earlier one); its best-scored member (the first on ties) is chosen."""
    if pool.scores is None:
        raise ValueError("weighted needs verifier scores")
    return weighted_vote(pool.groups, pool.scores, "sum")


@register(
    "weighted",
    summary="N samples; answers grouped by equivalence, verifier scores summed per group; the best group wins.",
    needs_verifier=True,
    select=select,
)
def run(ctx: SearchContext) -> SearchResult:
    verifier = require_verifier(ctx, "weighted")
    samples = sample_full(ctx, max(1, ctx.config.n))
    if not samples:
        return finish(ctx, [], None, {"reason": "budget exhausted"})
    score_samples(ctx, verifier, samples)
    candidates = [s.candidate for s in samples]
    scores = [c.score or 0.0 for c in candidates]
    pool = Pool([c.answer for c in candidates], scores)
    table: list[dict[str, Any]] = [
        {"answer": candidates[g[0]].answer, "weight": sum(scores[i] for i in g), "size": len(g), "members": list(g)}
        for g in pool.groups
    ]
    info: dict[str, Any] = {"aggregate": ctx.config.aggregate, "groups": table}
    return finish(ctx, candidates, select(pool, Options()), info)
