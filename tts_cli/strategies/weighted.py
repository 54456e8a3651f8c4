"""``weighted``: N samples; equivalent answers grouped; each group's verifier scores summed; best group wins."""

from __future__ import annotations

from typing import Any

from tts_cli.grading import group_equivalent
from tts_cli.strategies.base import SearchContext, SearchResult
from tts_cli.strategies.registry import register
from tts_cli.strategies.steps import best_index, require_verifier, sample_full, score_samples


@register(
    "weighted",
    summary="N samples; answers grouped by equivalence, verifier scores summed per group; the best group wins.",
    needs_verifier=True,
    options=("-n", "--temperature", "--top-p", "--max-tokens", "--budget", "--verifier", "--aggregate"),
)
def run(ctx: SearchContext) -> SearchResult:
    verifier = require_verifier(ctx, "weighted")
    samples = sample_full(ctx, max(1, ctx.config.n))
    if not samples:
        return SearchResult(answer=None, chosen=None, candidates=[], info={"reason": "budget exhausted"})
    score_samples(ctx, verifier, samples)
    candidates = [s.candidate for s in samples]
    groups = group_equivalent([c.answer for c in candidates])
    weights = [sum(candidates[i].score or 0.0 for i in group) for group in groups]
    table: list[dict[str, Any]] = [
        {"answer": candidates[g[0]].answer, "weight": w, "size": len(g), "members": list(g)}
        for g, w in zip(groups, weights)
    ]
    info: dict[str, Any] = {"aggregate": ctx.config.aggregate, "groups": table}
    if not groups:
        return SearchResult(answer=None, chosen=None, candidates=candidates, info=info)
    # Highest summed score; among equal sums the larger group, then the earlier one.
    keys = [(w, len(g)) for g, w in zip(groups, weights)]
    best_group = groups[max(range(len(groups)), key=lambda k: (keys[k], -k))]
    member = best_index([candidates[i].score or 0.0 for i in best_group])
    chosen = best_group[member or 0]
    ctx.tree.mark_chosen(candidates[chosen].node_id or 0)
    return SearchResult(answer=candidates[chosen].answer, chosen=chosen, candidates=candidates, info=info)
