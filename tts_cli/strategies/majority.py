"""``majority`` (self-consistency): N samples in one batch; the most common equivalent answer wins."""

from __future__ import annotations

from tts_cli.grading import majority_answer
from tts_cli.strategies.base import SearchContext, SearchResult
from tts_cli.strategies.registry import register
from tts_cli.strategies.steps import sample_full


@register(
    "majority",
    summary="N samples in one batch; the most common (mathematically equivalent) answer wins.",
    options=("-n", "--temperature", "--top-p", "--max-tokens", "--budget"),
)
def run(ctx: SearchContext) -> SearchResult:
    candidates = [s.candidate for s in sample_full(ctx, ctx.config.n)]
    chosen, groups = majority_answer([c.answer for c in candidates])
    votes = [{"answer": candidates[g[0]].answer, "votes": len(g)} for g in groups]
    for group in groups:
        for i in group:
            candidates[i].score = len(group) / len(candidates)
    if chosen is None:
        return SearchResult(answer=None, chosen=None, candidates=candidates, info={"votes": votes})
    ctx.tree.mark_chosen(candidates[chosen].node_id or 0)
    return SearchResult(answer=candidates[chosen].answer, chosen=chosen, candidates=candidates, info={"votes": votes})
