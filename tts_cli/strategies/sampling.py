"""Shared helper: N independent full solutions sampled in one batch, recorded in the tree."""

from __future__ import annotations

from tts_cli.grading import extract_answer
from tts_cli.strategies.base import Candidate, SearchContext, capped_max_tokens
from tts_cli.tree import FINISHED


def sample_solutions(ctx: SearchContext, n: int, *, temperature: float | None = None) -> list[Candidate]:
    max_tokens = capped_max_tokens(ctx.config, n, spent=ctx.tree.total_tokens)
    if max_tokens <= 0:
        return []
    overrides: dict[str, object] = {"max_tokens": max_tokens}
    if temperature is not None:
        overrides["temperature"] = temperature
    params = [ctx.config.sampling(i, **overrides) for i in range(n)]
    completions = ctx.policy.generate([ctx.prompt] * n, params)
    candidates = []
    for completion in completions:
        answer = extract_answer(completion.text)
        node = ctx.tree.add(0, completion.text, len(completion.tokens), status=FINISHED, answer=answer)
        candidates.append(
            Candidate(
                text=completion.text,
                answer=answer,
                tokens=len(completion.tokens),
                finish_reason=completion.finish_reason,
                node_id=node.id,
            )
        )
    return candidates
