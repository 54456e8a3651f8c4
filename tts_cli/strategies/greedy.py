"""``greedy``: one chain-of-thought sample at temperature 0 — the baseline."""

from __future__ import annotations

from dataclasses import replace

from tts_cli.strategies.base import SearchContext, SearchResult, finish
from tts_cli.strategies.registry import register
from tts_cli.strategies.sampling import sample_full


@register(
    "greedy",
    summary="One chain-of-thought at temperature 0 (the baseline).",
    reads=("max_tokens", "budget"),
    deterministic=True,
    replayable=True,
)
def run(ctx: SearchContext) -> SearchResult:
    greedy_ctx = replace(ctx, config=replace(ctx.config, temperature=0.0))
    samples = sample_full(greedy_ctx, 1)
    if not samples:
        return finish(ctx, [], None, {"reason": "budget exhausted"})
    return finish(ctx, [samples[0].candidate], 0)
