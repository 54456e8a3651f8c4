"""``best-of-n``: N samples in one batch, every step scored by the verifier, the best solution wins."""

from __future__ import annotations

from tts_cli.strategies.base import SearchContext, SearchResult
from tts_cli.strategies.registry import register
from tts_cli.strategies.steps import pick_best, require_verifier, sample_full, score_samples


@register(
    "best-of-n",
    summary="N samples in one batch; the verifier scores every step; the best aggregated score wins.",
    needs_verifier=True,
    options=("-n", "--temperature", "--top-p", "--max-tokens", "--budget", "--verifier", "--aggregate"),
)
def run(ctx: SearchContext) -> SearchResult:
    verifier = require_verifier(ctx, "best-of-n")
    samples = sample_full(ctx, max(1, ctx.config.n))
    if not samples:
        return SearchResult(answer=None, chosen=None, candidates=[], info={"reason": "budget exhausted"})
    score_samples(ctx, verifier, samples)
    candidates = [s.candidate for s in samples]
    chosen = pick_best(candidates)
    info = {"aggregate": ctx.config.aggregate, "scores": [c.score for c in candidates]}
    if chosen is None or candidates[chosen].answer is None:
        return SearchResult(answer=None, chosen=None, candidates=candidates, info=info)
    ctx.tree.mark_chosen(candidates[chosen].node_id or 0)
    return SearchResult(answer=candidates[chosen].answer, chosen=chosen, candidates=candidates, info=info)
