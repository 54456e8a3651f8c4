"""``best-of-n``: N samples in one batch, every step scored by the verifier, the best solution wins."""

from __future__ import annotations

from typing import Optional

from tts_cli.selection import best
from tts_cli.strategies.base import Pool, SearchContext, SearchResult, finish, require_verifier
from tts_cli.strategies.options import Options
from tts_cli.strategies.registry import register
from tts_cli.strategies.sampling import sample_full, score_samples


def select(pool: Pool, options: Options) -> Optional[int]:
    """The best-scored sample with an answer (``pick_best``); None when it has no answer."""
    if pool.scores is None:
        raise ValueError("best-of-n needs verifier scores")
    return best(pool.answers, pool.scores)


@register(
    "best-of-n",
    summary="N samples in one batch; the verifier scores every step; the best aggregated score wins.",
    needs_verifier=True,
    select=select,
)
def run(ctx: SearchContext) -> SearchResult:
    verifier = require_verifier(ctx, "best-of-n")
    samples = sample_full(ctx, max(1, ctx.config.n))
    if not samples:
        return finish(ctx, [], None, {"reason": "budget exhausted"})
    score_samples(ctx, verifier, samples)
    candidates = [s.candidate for s in samples]
    chosen = select(Pool([c.answer for c in candidates], [c.score or 0.0 for c in candidates]), Options())
    info = {"aggregate": ctx.config.aggregate, "scores": [c.score for c in candidates]}
    return finish(ctx, candidates, chosen, info)
