"""``greedy``: one chain-of-thought sample at temperature 0 — the baseline."""

from __future__ import annotations

from tts_cli.strategies.base import SearchContext, SearchResult
from tts_cli.strategies.registry import register
from tts_cli.strategies.sampling import sample_solutions


@register("greedy", summary="One chain-of-thought at temperature 0 (the baseline).", options=("--max-tokens",))
def run(ctx: SearchContext) -> SearchResult:
    candidates = sample_solutions(ctx, 1, temperature=0.0)
    if not candidates:
        return SearchResult(answer=None, chosen=None, candidates=[], info={"reason": "budget exhausted"})
    ctx.tree.mark_chosen(candidates[0].node_id or 0)
    return SearchResult(answer=candidates[0].answer, chosen=0, candidates=candidates)
