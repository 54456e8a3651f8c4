"""``greedy``: one chain-of-thought sample at temperature 0 — the baseline."""

from __future__ import annotations

from dataclasses import replace

from tts_cli.strategies.base import SearchContext, SearchResult
from tts_cli.strategies.registry import register
from tts_cli.strategies.steps import sample_full


@register("greedy", summary="One chain-of-thought at temperature 0 (the baseline).", options=("--max-tokens", "--budget"))
def run(ctx: SearchContext) -> SearchResult:
    greedy_ctx = replace(ctx, config=replace(ctx.config, temperature=0.0))
    samples = sample_full(greedy_ctx, 1)
    if not samples:
        return SearchResult(answer=None, chosen=None, candidates=[], info={"reason": "budget exhausted"})
    candidate = samples[0].candidate
    ctx.tree.mark_chosen(candidate.node_id or 0)
    return SearchResult(answer=candidate.answer, chosen=0, candidates=[candidate])
