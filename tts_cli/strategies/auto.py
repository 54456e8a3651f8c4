"""``auto``: compute-optimal allocation per question.

Difficulty is estimated from the samples themselves, drawn in stages that double in size (an
adaptive-consistency schedule): a pilot of 2 — the greedy solution, the model's single best guess,
and one sample, decoded in one batch — then 4, 8, ... up to ``-n``. A unanimous pilot the
verifier (if any) is confident in stops at once; later stages stop as soon as the vote is settled
(the leading answer is ahead of every other and holds at least half of the votes). A question that is
still split when a quarter of ``-n`` is spent goes to step-level beam search when there is a verifier,
with the tokens a quarter of ``-n`` more samples would take;
without one the samples grow to ``-n`` and are voted on. Everything stays within ``--budget``.
The decision, its reason and the votes at every stage are recorded in ``info["route"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

from tts_cli.grading import group_equivalent
from tts_cli.strategies import beam
from tts_cli.strategies.base import SearchContext, SearchResult, finish, options_of
from tts_cli.strategies.options import Options, option
from tts_cli.strategies.registry import register
from tts_cli.strategies.steps import (
    Sample,
    best_index,
    max_depth_option,
    sample_full,
    score_samples,
    step_tokens_option,
)

PILOT = 2  # samples in the pilot batch (fewer when -n is smaller)
CONFIDENT = 0.5  # mean verifier score of a unanimous pilot's answer that counts as confident
MARGIN = 1  # votes the leading answer needs over the runner-up for an escalated vote to be settled
SETTLED_SHARE = 0.5  # ... and the share of all votes it needs


def schedule(n: int) -> list[int]:
    """Sample counts after each sampling stage: 2, 4, 8, ... doubling up to ``n``."""
    n = max(1, n)
    stages = [min(PILOT, n)]
    while stages[-1] < n:
        stages.append(min(n, stages[-1] * 2))
    return stages


def route_decision(votes: list[int], total: int, confidence: Optional[float], stage: str) -> Optional[str]:
    """Why to stop after this stage, or None to escalate (pure, so tests can check each rule).

    ``votes``: the sizes of the groups of equivalent answers, largest first; ``total``: samples
    drawn (answerless ones included); ``confidence``: the verifier's mean score of the leading
    group (None without a verifier)."""
    if not votes:
        return None
    lead = votes[0]
    if stage == "pilot":
        if lead == total and (confidence is None or confidence >= CONFIDENT):
            return "pilot unanimous" + ("" if confidence is None else f" and verifier confident ({confidence:.2f})")
        return None
    runner_up = votes[1] if len(votes) > 1 else 0
    if lead - runner_up >= MARGIN and lead >= SETTLED_SHARE * total:
        return f"settled after {total} samples ({lead} of {total} agree, next best {runner_up})"
    return None


@dataclass(frozen=True)
class AutoOptions(Options):
    """The options of the beam search a still-split question goes to (with a verifier)."""

    width: int = option(
        2, "--beam-width", "-m", help="Beams kept when a split question goes to beam search.",
        minimum=1,
    )  # fmt: skip
    max_depth: int = max_depth_option()
    step_tokens: int = step_tokens_option()


@register(
    "auto",
    summary="Compute-optimal: samples in doubling stages until the vote is settled; beam search if still split.",
    options=AutoOptions,
    reads_scores=True,
)
def run(ctx: SearchContext) -> SearchResult:
    n = max(1, ctx.config.n)
    stages = schedule(n)
    # with a verifier, sampling stops at a quarter of -n: a question still split by then is hard,
    # and step-level search with the verifier pays more there than more votes (Snell et al. 2024)
    last_sampling = max(s for s in stages if s <= max(stages[0], n // 4)) if ctx.verifier is not None else n
    samples: list[Sample] = []
    route: dict[str, Any] = {"pilot": stages[0], "pilot_greedy": True, "stages": []}
    vote = _vote(ctx, samples)
    for size in stages:
        if size > last_sampling:
            break
        more = sample_full(ctx, size - len(samples), first_index=len(samples), greedy_first=not samples)
        if not more:
            break  # the budget is spent
        samples += more
        vote = _vote(ctx, samples)
        route["stages"].append({"samples": len(samples), "votes": vote["votes"]})
        stage = "pilot" if len(samples) == stages[0] else "escalated"
        reason = route_decision(vote["votes"], len(samples), vote["confidence"], stage)
        if reason:
            return _result(ctx, samples, vote, {**route, "decision": "stop" if stage == "pilot" else "more samples", "reason": reason})

    share = vote["share"]
    if ctx.verifier is not None and _budget_left(ctx):
        options = options_of(ctx, AutoOptions)
        width = max(1, min(options.width, n))
        beams = max(2 * width, n // 4)
        # the search gets as many tokens as `beams` more samples would take (and no more than --budget)
        mean_sample = sum(s.candidate.tokens for s in samples) / max(1, len(samples))
        allowance = ctx.tree.total_tokens + max(1, round(beams * mean_sample))
        budget = allowance if ctx.config.budget is None else min(ctx.config.budget, allowance)
        route["beam_budget"] = budget - ctx.tree.total_tokens
        beam_options = beam.BeamOptions(width=width, max_depth=options.max_depth, step_tokens=options.step_tokens)
        searched = beam.run(replace(ctx, config=replace(ctx.config, n=beams, budget=budget), options=beam_options))
        if searched.answer is not None:
            offset = len(samples)
            candidates = [s.candidate for s in samples] + searched.candidates
            reason = f"still split after {len(samples)} samples ({share:.0%} agree)"
            info = {
                "route": {**route, "samples": len(samples), "decision": "beam search", "reason": reason},
                "beam": searched.info,
            }
            return SearchResult(
                answer=searched.answer,
                chosen=None if searched.chosen is None else offset + searched.chosen,
                candidates=candidates,
                info=info,
            )
    if ctx.verifier is None:
        why = f"still split after {len(samples)} samples; no verifier for step-level search"
    elif _budget_left(ctx):
        why = f"still split after {len(samples)} samples; beam search found no answer"
    else:
        why = f"still split after {len(samples)} samples; budget spent"
    return _result(ctx, samples, vote, {**route, "decision": "vote", "reason": why})


def _vote(ctx: SearchContext, samples: list[Sample]) -> dict[str, Any]:
    """Answer groups, the winning group (verifier-weighted when there is a verifier), its vote
    share, the group sizes (largest first) and the verifier's mean score of the winner."""
    if ctx.verifier is not None:
        unscored = [s for s in samples if not s.step_scores and s.steps]
        if unscored:
            score_samples(ctx, ctx.verifier, unscored)
    answers = [s.candidate.answer for s in samples]
    groups = group_equivalent(answers)
    if not groups:
        return {"groups": [], "best": None, "share": 0.0, "votes": [], "confidence": None}

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
        "votes": sorted((len(g) for g in groups), reverse=True),
        "confidence": confidence,
    }


def _result(ctx: SearchContext, samples: list[Sample], vote: dict[str, Any], route: dict[str, Any]) -> SearchResult:
    candidates = [s.candidate for s in samples]
    info = {"route": {**route, "samples": len(samples)}, "votes": vote["votes"]}
    best = vote["best"]
    if not best:
        return finish(ctx, candidates, None, info)
    member = best_index([candidates[i].score or 0.0 for i in best]) or 0
    return finish(ctx, candidates, best[member], info)


def _budget_left(ctx: SearchContext) -> bool:
    budget = ctx.config.budget
    return budget is None or ctx.tree.total_tokens < budget
