"""``auto``: compute-optimal allocation per question.

Difficulty is estimated cheaply from a small pilot batch: how many samples agree, and (with a
verifier) how confident the verifier is in the winning answer. Easy questions stop there; split
ones get more samples; questions that stay split go to step-level beam search, all within the
token budget. The decision and its reason are recorded in ``info["route"]``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

from tts_cli.grading import group_equivalent
from tts_cli.strategies import beam
from tts_cli.strategies.base import SearchContext, SearchResult
from tts_cli.strategies.registry import register
from tts_cli.strategies.steps import Sample, best_index, sample_full, score_samples

PILOT = 4  # samples in the pilot batch (fewer when -n is smaller)
CONFIDENT = 0.5  # mean verifier score of the winning group that counts as confident
CLEAR_MAJORITY = 0.6  # share of the votes after escalation that settles a question


def route_decision(share: float, unanimous: bool, confidence: Optional[float], stage: str) -> Optional[str]:
    """Why to stop at this stage, or None to escalate (pure, so tests can check each rule)."""
    if stage == "pilot":
        if unanimous and (confidence is None or confidence >= CONFIDENT):
            return "pilot unanimous" + ("" if confidence is None else f" and verifier confident ({confidence:.2f})")
        return None
    if share >= CLEAR_MAJORITY:
        return f"clear majority after escalation ({share:.0%} of the votes)"
    return None


@register(
    "auto",
    summary="Compute-optimal: a small pilot; stop if unanimous, add samples if split, beam search if still split.",
    options=("-n", "--budget", "--verifier", "--beam-width", "--temperature", "--max-tokens", "--aggregate"),
)
def run(ctx: SearchContext) -> SearchResult:
    n = max(1, ctx.config.n)
    pilot_n = min(PILOT, n)
    samples = sample_full(ctx, pilot_n)
    route: dict[str, Any] = {"pilot": pilot_n}
    vote = _vote(ctx, samples)
    reason = route_decision(vote["share"], vote["unanimous"], vote["confidence"], "pilot")
    if reason:
        return _result(ctx, samples, vote, {**route, "decision": "stop", "reason": reason})

    extra = n - pilot_n
    if extra > 0:
        more = sample_full(ctx, extra, first_index=pilot_n)
        if more:
            samples += more
            vote = _vote(ctx, samples)
            route["samples"] = len(samples)
            reason = route_decision(vote["share"], vote["unanimous"], vote["confidence"], "escalated")
            if reason:
                return _result(ctx, samples, vote, {**route, "decision": "more samples", "reason": reason})

    if ctx.verifier is not None and _budget_left(ctx):
        searched = beam.run(replace(ctx, config=replace(ctx.config, beam_width=min(ctx.config.beam_width, n))))
        if searched.answer is not None:
            offset = len(samples)
            candidates = [s.candidate for s in samples] + searched.candidates
            info = {
                "route": {**route, "decision": "beam search", "reason": f"still split ({vote['share']:.0%} agree)"},
                "beam": searched.info,
            }
            return SearchResult(
                answer=searched.answer,
                chosen=None if searched.chosen is None else offset + searched.chosen,
                candidates=candidates,
                info=info,
            )
    why = "still split; no verifier for step-level search" if ctx.verifier is None else "still split; budget spent"
    return _result(ctx, samples, vote, {**route, "decision": "vote", "reason": why})


def _vote(ctx: SearchContext, samples: list[Sample]) -> dict[str, Any]:
    """Answer groups, the winning group, its vote share and (with a verifier) its mean score."""
    if ctx.verifier is not None:
        unscored = [s for s in samples if not s.step_scores and s.steps]
        if unscored:
            score_samples(ctx, ctx.verifier, unscored)
    answers = [s.candidate.answer for s in samples]
    groups = group_equivalent(answers)
    if not groups:
        return {"groups": [], "best": None, "share": 0.0, "unanimous": False, "confidence": None}

    def weight(group: list[int]) -> float:
        if ctx.verifier is None:
            return float(len(group))
        return sum(samples[i].candidate.score or 0.0 for i in group)

    best = max(groups, key=lambda g: (weight(g), len(g)))
    confidence = (
        None if ctx.verifier is None else sum(samples[i].candidate.score or 0.0 for i in best) / len(best)
    )
    return {
        "groups": groups,
        "best": best,
        "share": len(best) / len(samples),
        "unanimous": len(groups) == 1 and len(best) == len(samples),
        "confidence": confidence,
    }


def _result(ctx: SearchContext, samples: list[Sample], vote: dict[str, Any], route: dict[str, Any]) -> SearchResult:
    candidates = [s.candidate for s in samples]
    info = {"route": {**route, "samples": len(samples)}, "votes": [len(g) for g in vote["groups"]]}
    best = vote["best"]
    if not best:
        return SearchResult(answer=None, chosen=None, candidates=candidates, info=info)
    member = best_index([candidates[i].score or 0.0 for i in best]) or 0
    chosen = best[member]
    ctx.tree.mark_chosen(candidates[chosen].node_id or 0)
    return SearchResult(answer=candidates[chosen].answer, chosen=chosen, candidates=candidates, info=info)


def _budget_left(ctx: SearchContext) -> bool:
    budget = ctx.config.budget
    return budget is None or ctx.tree.total_tokens < budget
