"""``adaptive``: self-consistency that stops paying for what it already knows.

Samples are drawn in stages that double (``--warmup``, then 2×, 4×, … up to ``-n``), all in one
batch per stage. Two rules save tokens, both from signals the policy emits while generating:

- **early stop of weak traces** (DeepConf online, Fu et al. 2025): the warm-up samples set a
  threshold, the ``1 - keep`` quantile of their lowest window confidence; a later sample whose
  confidence over its last ``WINDOW`` tokens falls below it is ended between two decode steps. It
  is then a candidate without an answer, and the tokens it did not generate are saved.
- **settled vote** (Adaptive-Consistency, Aggarwal et al. 2023): after each stage the vote counts
  of the two leading answers give a Beta posterior; once the leader is ahead with probability
  ``settle``, no more stages are drawn.

The answer is chosen by ``--select`` over every sample with an answer (tts_cli.selection).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from tts_cli.engine.types import Monitor, TokenTrace
from tts_cli.grading import group_equivalent
from tts_cli.selection import WINDOW, settle_probability
from tts_cli.strategies.base import Candidate, SearchContext, SearchResult, finish, options_of, pool_of
from tts_cli.strategies.options import Options, option
from tts_cli.strategies.registry import register
from tts_cli.strategies.sampling import COT, PROGRAM, Draw, Sample, sample_draws
from tts_cli.strategies.selecting import select_among, select_option


@dataclass(frozen=True)
class AdaptiveOptions(Options):
    warmup: int = option(3, "--warmup", help="Samples drawn before any is stopped early; they set the threshold.", minimum=1)
    keep: float = option(
        0.9, "--keep", help="Share of traces expected to pass the confidence threshold (1: never stop one early).",
        rule=(lambda v: 0 < v <= 1, "must be in (0, 1]"),
    )  # fmt: skip
    settle: float = option(
        0.8, "--settle", help="Stop sampling once the leading answer leads with this posterior probability (1: never).",
        rule=(lambda v: 0.5 <= v <= 1, "must be in [0.5, 1]"),
    )  # fmt: skip
    select: str = select_option("conf-borda")


def stages(first: int, n: int) -> list[int]:
    """Sample counts after each stage: ``first``, then doubling up to ``n``."""
    n = max(1, n)
    out = [min(max(1, first), n)]
    while out[-1] < n:
        out.append(min(n, out[-1] * 2))
    return out


def window_confidence(trace: TokenTrace) -> Optional[float]:
    """Mean token confidence over the last ``WINDOW`` tokens (None while the trace is shorter)."""
    if len(trace.confidence) < WINDOW:
        return None
    return math.fsum(trace.confidence[-WINDOW:]) / WINDOW


def stop_below(threshold: float) -> Monitor:
    """A monitor that ends a trace once its window confidence falls below ``threshold``."""

    def monitor(index: int, trace: TokenTrace) -> bool:
        value = window_confidence(trace)
        return value is not None and value < threshold

    return monitor


def confidence_threshold(candidates: Sequence[Candidate], keep: float) -> Optional[float]:
    """The ``1 - keep`` quantile of the chain-of-thought candidates' lowest window confidence (None:
    no signals). Program samples are left out: only chains of thought are ever stopped early."""
    values = sorted(c.signals["lowest_conf"] for c in candidates if "lowest_conf" in c.signals and c.program is None)
    values = [v for v in values if math.isfinite(v)]
    if not values or keep >= 1:
        return None
    at = min(len(values) - 1, max(0, math.ceil((1 - keep) * len(values)) - 1))
    return values[at]


@dataclass
class Sampling:
    """The samples of an adaptive run so far, and what it decided on the way."""

    samples: list[Sample]
    threshold: Optional[float] = None
    stopped_early: int = 0
    stages: list[dict[str, Any]] = field(default_factory=list)


def settle_counts(candidates: Sequence[Candidate]) -> list[int]:
    """Vote counts of the answer groups, largest first."""
    groups = group_equivalent([c.answer for c in candidates])
    return sorted((len(g) for g in groups), reverse=True)


def grow(
    ctx: SearchContext,
    run: Sampling,
    sizes: Sequence[int],
    options: AdaptiveOptions,
    first_index: int,
    *,
    mixed: bool = False,
) -> str:
    """Draw stages until the vote is settled or ``sizes`` is done; returns why it stopped. Draw j
    of the run (from 0) is chain-of-thought sample ``first_index + j``; with ``mixed``, draws
    alternate a chain of thought and a program (the k-th of each kind has seed index
    ``first_index + k``)."""
    drawn = 0
    for size in sizes:
        count = size - len(run.samples)
        if count <= 0:
            continue
        monitor = stop_below(run.threshold) if run.threshold is not None else None
        draws = [_draw(drawn + j, first_index, mixed) for j in range(count)]
        more = sample_draws(ctx, draws, monitor=monitor)
        if not more:
            return "budget spent"
        drawn += count
        run.samples += more
        cut = [s for s in more if s.candidate.finish_reason == "stopped"]
        run.stopped_early += len(cut)
        if run.threshold is None and len(run.samples) >= options.warmup:
            run.threshold = confidence_threshold([s.candidate for s in run.samples], options.keep)
        counts = settle_counts([s.candidate for s in run.samples])
        probability = settle_probability(counts) if counts else 0.0
        run.stages.append(
            {"samples": len(run.samples), "votes": counts, "settled": round(probability, 4), "stopped": len(cut)}
        )
        if counts and probability >= options.settle:
            return f"vote settled after {len(run.samples)} samples (P = {probability:.3f})"
    return f"all {len(run.samples)} samples drawn"


def _draw(j: int, first_index: int, mixed: bool) -> Draw:
    if not mixed:
        return Draw(COT, first_index + j)
    return Draw(COT if j % 2 == 0 else PROGRAM, first_index + j // 2)


def choose(ctx: SearchContext, candidates: list[Candidate], select: str, info: dict[str, Any]) -> SearchResult:
    return finish(ctx, candidates, select_among(pool_of(candidates), select, info), info)


@register(
    "adaptive",
    summary="Samples in doubling stages; weak traces stopped early by confidence; stops once the vote is settled.",
    options=AdaptiveOptions,
    replayable=True,
)
def run(ctx: SearchContext) -> SearchResult:
    options = options_of(ctx, AdaptiveOptions)
    sampling = Sampling(samples=[])
    reason = grow(ctx, sampling, stages(options.warmup, ctx.config.n), options, first_index=0)
    candidates = [s.candidate for s in sampling.samples]
    info = {
        "route": {
            "stages": sampling.stages, "threshold": sampling.threshold, "stopped_early": sampling.stopped_early,
            "samples": len(candidates), "reason": reason,
        },
        "select": options.select,
    }  # fmt: skip
    return choose(ctx, candidates, options.select, info)
