"""Sample pools, as search-and-learn evaluates its sampling strategies.

For the poolable strategies (``majority``, ``best-of-n``, ``weighted``, any registered with a
``select`` rule), one pool of max(N) samples is drawn per (problem, model, seed) in one batched
call (scored with the verifier in one call when a strategy that reads scores needs it), and each N
is read from the first N samples by the strategy's own ``select``. Sample ``i`` has seed index
``i`` whatever the batch size, so the first N samples of the pool are the samples an ``-n N`` run
would draw (token budgets aside: with ``--budget`` the per-sample cap depends on N, so the bench
runs each N on its own instead).

Cost of an N-subset: its samples' generated tokens; the prompt evaluated once; the pool's cached
prompt copies and its sampling wall time shared pro rata (N/size); for the strategies that read
scores, the verifier's tokens, FLOPs and seconds shared by the number of steps scored in each
sample (the unit the verifiers score; with only last steps scored, by sample length). A strategy
that reads no scores (``majority``) is never charged for a pool's verifier work.
"""

from __future__ import annotations

import functools
from typing import Any, Optional, Sequence

from tts_cli.cost import ModelUsage
from tts_cli.errors import UsageError
from tts_cli.grading import group_equivalent
from tts_cli.strategies import Options, Pool, SearchContext, SearchResult, StrategyInfo, get_strategy
from tts_cli.strategies.base import split_steps
from tts_cli.strategies.sampling import COT, PROGRAM, sample_full, score_samples
from tts_cli.verifiers.aggregate import aggregate


def draw_pool(ctx: SearchContext, kind: str = COT) -> SearchResult:
    """``ctx.config.n`` full solutions of ``kind`` in one batch, sample i with seed index i (what
    every poolable strategy of that kind draws), scored in one verifier call when there is a
    verifier. Chooses nothing."""
    samples = sample_full(ctx, max(1, ctx.config.n), kind=kind)
    if ctx.verifier is not None and samples:
        score_samples(ctx, ctx.verifier, samples)
    return SearchResult(answer=None, chosen=None, candidates=[s.candidate for s in samples])


POOL = StrategyInfo("pool", draw_pool, summary="A sample pool for the poolable strategies (not registered).")
# one pool strategy per kind of sample ("mixed" strategies read a chain-of-thought and a program pool)
POOLS = {
    COT: POOL,
    PROGRAM: StrategyInfo(
        "pool", functools.partial(draw_pool, kind=PROGRAM), summary="A pool of program samples (not registered).",
        samples=PROGRAM, needs_sandbox=True,
    ),
}  # fmt: skip


def pool_kinds(samples: str) -> tuple[str, ...]:
    """The pools a strategy whose samples are ``samples`` reads (StrategyInfo.samples)."""
    return (COT, PROGRAM) if samples == "mixed" else (samples,)


def interleave_pools(cot: dict[str, Any], program: dict[str, Any]) -> dict[str, Any]:
    """The pool a ``mixed`` strategy reads: a chain-of-thought sample, a program sample, and so on
    (sample 2k is the cot pool's sample k, sample 2k+1 the program pool's), so its first N samples
    are what ``mixed -n N`` draws. Both prompts are counted; the verifier's work is not (a mixed
    strategy reads no scores)."""
    size = min(cot["size"], program["size"])

    def alternate(key: str) -> list[Any]:
        first, second = cot.get(key) or [None] * cot["size"], program.get(key) or [None] * program["size"]
        return [value for k in range(size) for value in (first[k], second[k])]

    merged: dict[str, Any] = {
        "size": 2 * size,
        "seed": cot["seed"],
        "model": cot["model"],
        "params": cot["params"],
        "verifier": None,
        "step_scores": None,
        **{key: cot[key] + program[key] for key in ("prompt_tokens", "cached_tokens", "wall_seconds")},
        **{key: alternate(key) for key in ("answers", "tokens", "finish", "steps", "texts", "traces")},
    }
    return merged


def pool_from_solution(solution: Any, *, seed: int) -> dict[str, Any]:
    """The cacheable pool from a ``draw_pool`` solution."""
    candidates = solution.result.candidates
    cost = solution.cost
    verifier = cost.verifier
    steps = [len(split_steps(c.text)) for c in candidates]
    pool: dict[str, Any] = {
        "size": len(candidates),
        "seed": seed,
        "model": cost.policy.model,
        "params": cost.policy.params,
        "answers": [c.answer for c in candidates],
        "tokens": [c.tokens for c in candidates],
        "finish": [c.finish_reason for c in candidates],
        "steps": steps,
        "prompt_tokens": cost.policy.prompt_tokens,
        "cached_tokens": cost.policy.cached_tokens,
        "wall_seconds": cost.wall_seconds,
        "verifier": None,
        "step_scores": None,
        "texts": [c.text for c in candidates],
        "traces": [c.trace.to_dict() if c.trace is not None else None for c in candidates],
    }
    if any(c.program is not None for c in candidates):
        pool["programs"] = [c.program.to_dict() if c.program is not None else None for c in candidates]
        pool["execution_seconds"] = cost.execution_seconds
    if verifier is not None:
        nodes = solution.tree.nodes
        step_scores = [list(nodes[c.node_id or 0].meta.get("step_scores", [])) for c in candidates]
        _record_scores(pool, verifier, step_scores, verifier.prompt_seconds + verifier.generate_seconds)
    return pool


def score_cached_pool(pool: dict[str, Any], verifier: Any, question: str, aggregate_rule: str) -> dict[str, Any]:
    """A cached unscored ``pool`` scored by ``verifier`` (a model or a model-free one) without drawing
    anything again: every sample's steps in one verifier call, only each last step with the ``last``
    aggregate (as ``draw_pool`` scores). The policy's cost stays the pool's; the verifier's is measured."""
    import time

    texts = [str(t) for t in pool["texts"]]
    steps = [split_steps(text) for text in texts]
    scored = [i for i, s in enumerate(steps) if s]
    before = verifier.usage.snapshot()
    started = time.perf_counter()
    results = verifier.score(question, [steps[i] for i in scored], last_only=aggregate_rule == "last") if scored else []
    seconds = time.perf_counter() - started
    step_scores: list[list[float]] = [[] for _ in texts]
    for i, scores in zip(scored, results):
        step_scores[i] = [float(x) for x in scores]
    out = {**pool, "wall_seconds": pool["wall_seconds"] + seconds}
    out.pop("_signals", None)
    _record_scores(out, verifier.usage.since(before), step_scores, seconds)
    return out


def _record_scores(pool: dict[str, Any], usage: Any, step_scores: list[list[float]], seconds: float) -> None:
    """The scores of a pool and the verifier's cost split over its samples: the verifier reads each
    scored step with the solution up to it; with only last steps scored, a sample's share follows
    its length."""
    pool["verifier"] = usage.model
    pool["step_scores"] = step_scores
    last_only = all(len(s) <= 1 for s in step_scores)
    weights = [t + 1 for t in pool["tokens"]] if last_only else pool["steps"]
    pool["verifier_tokens"] = pro_rata(usage.prompt_tokens + usage.cached_tokens, weights)
    pool["verifier_flops"] = pro_rata(usage.flops, weights)
    pool["verifier_seconds"] = pro_rata(seconds, weights)


def pool_signals(pool: dict[str, Any]) -> dict[str, list[float]]:
    """Signal name -> one summary value per sample, from the pool's per-token traces (computed once
    per pool and kept in it, under a key the cache never writes); empty for a pool without traces."""
    if "_signals" not in pool:
        from tts_cli.selection import summarize_trace

        traces = pool.get("traces") or []
        if not traces or any(t is None for t in traces):
            pool["_signals"] = {}
        else:
            summaries = [summarize_trace(t) for t in traces]
            pool["_signals"] = {name: [s[name] for s in summaries] for name in summaries[0]}
    return dict(pool["_signals"])


def pro_rata(total: float, weights: Sequence[float]) -> list[float]:
    """``total`` split in proportion to ``weights`` (evenly when they are all zero)."""
    if not weights:
        return []
    whole = float(sum(weights))
    if whole <= 0:
        return [total / len(weights)] * len(weights)
    return [total * w / whole for w in weights]


def subset_result(
    pool: dict[str, Any],
    strategy: str,
    n: int,
    how: str,
    options: Optional[Options] = None,
    leads: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """What ``strategy`` with ``-n n`` answers from the pool's first n samples, and their cost;
    ``leads`` (cached greedy runs with their traces: what ``--with-greedy`` decodes) are more
    candidates, the first ones in their order, and their cost is added."""
    size = pool["size"]
    k = min(n, size)
    answers = list(pool["answers"][:k])
    scores = None
    if pool.get("step_scores") is not None:
        scores = [aggregate(s, how) for s in pool["step_scores"][:k]]
    info = get_strategy(strategy)
    signals = {name: values[:k] for name, values in pool_signals(pool).items()}
    everyone: list[Optional[str]] = list(pool["answers"])
    if leads:
        if scores is not None and info.reads_scores:
            raise UsageError("the greedy solution has no verifier score to select by")
        own = [run_signals(run) for run in leads]
        signals = {
            name: [*(lead[name] for lead in own), *values]
            for name, values in signals.items() if all(name in lead for lead in own)
        }  # fmt: skip
        answers = [*(run["answer"] for run in leads), *answers]
        everyone = [*(run["answer"] for run in leads), *everyone]
    count = len(answers)
    chosen_from = Pool(answers, scores, grouping=lambda: prefix_groups(everyone, count), signals=signals)
    index = _choose(info, chosen_from, options)
    policy = ModelUsage(
        model=pool["model"],
        params=pool["params"],
        prompt_tokens=pool["prompt_tokens"],  # the prompt is evaluated once whatever N is
        cached_tokens=round(pool["cached_tokens"] * (k - 1) / (size - 1)) if size > 1 else 0,
        generated_tokens=sum(pool["tokens"][:k]),
    )
    scored = info.reads_scores  # a scored pool's verifier work is no cost of a strategy that reads no scores
    verifier_tokens = sum(pool.get("verifier_tokens", [])[:k]) if scored else 0.0
    verifier_flops = sum(pool.get("verifier_flops", [])[:k]) if scored else 0.0
    scoring = pool.get("verifier_seconds", [])
    sampling_seconds = max(0.0, pool["wall_seconds"] - sum(scoring))
    extra = {key: sum(run.get(key, 0.0) for run in leads) for key in ("policy_tokens", "flops", "wall_seconds")}
    return {
        "answer": answers[index] if index is not None else None,
        "policy_tokens": policy.generated_tokens + extra["policy_tokens"],
        "verifier_tokens": verifier_tokens,
        "flops": policy.flops + verifier_flops + extra["flops"],
        "wall_seconds": sampling_seconds * k / size + (sum(scoring[:k]) if scored else 0.0) + extra["wall_seconds"],
    }


def run_signals(run: dict[str, Any]) -> dict[str, float]:
    """The signal summaries of a cached greedy run (empty without a trace)."""
    trace = run.get("trace")
    if not trace:
        return {}
    from tts_cli.selection import summarize_trace

    return summarize_trace(trace)


def prefix_groups(answers: Sequence[Optional[str]], k: int) -> list[list[int]]:
    """``group_equivalent(answers[:k])``, from one grouping of the whole pool: it places each answer
    by comparing it with the first members of the groups before it, so a prefix's groups are the
    whole list's groups cut at k. (Symbolic equivalence checks can take milliseconds each.)"""
    groups = _pool_groups(tuple(answers))
    return [[i for i in group if i < k] for group in groups if group[0] < k]


@functools.lru_cache(maxsize=1024)
def _pool_groups(answers: tuple[Optional[str], ...]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(group) for group in group_equivalent(list(answers)))


def select(
    strategy: str,
    answers: Sequence[Optional[str]],
    scores: Optional[Sequence[float]],
    groups: Optional[list[list[int]]] = None,
    options: Optional[Options] = None,
) -> Optional[int]:
    """The index of the sample ``strategy`` chooses (None: no answer), from the answers, their
    solution scores and (optionally, precomputed) their groups of equivalent answers."""
    pool = Pool(answers, scores, grouping=None if groups is None else lambda: groups)
    return _choose(get_strategy(strategy), pool, options)


def _choose(info: StrategyInfo, pool: Pool, options: Optional[Options]) -> Optional[int]:
    """``info``'s own selection rule, with its options (None: their defaults)."""
    if info.select is None:
        raise ValueError(f"{info.name} does not select from a sample pool")
    if info.reads_scores and pool.scores is None:
        raise ValueError(f"{info.name} needs verifier scores")
    return info.select(pool, info.options() if options is None else options)
