"""Sample pools, as search-and-learn evaluates its sampling strategies.

For ``majority``, ``best-of-n`` and ``weighted``, one pool of max(N) samples is drawn per
(problem, model, seed) in one batched call (the ``best-of-n`` strategy scores them all with the
verifier in one call; ``majority`` when no scores are needed), and each N is read from the first N
samples. Sample ``i`` has seed index ``i`` whatever the batch size, so the first N samples of the
pool are the samples an ``-n N`` run would draw (token budgets aside: with ``--budget`` the
per-sample cap depends on N, so the bench runs each N on its own instead).

Cost of an N-subset: its samples' generated tokens; the prompt evaluated once; the pool's cached
prompt copies and its sampling wall time shared pro rata (N/size); for the strategies that read
scores, the verifier's tokens, FLOPs and seconds shared by the number of steps scored in each
sample (the unit the verifiers score; with only last steps scored, by sample length). ``majority`` is never charged for a pool's verifier work.
"""

from __future__ import annotations

import functools
from typing import Any, Optional, Sequence

from tts_cli.cost import ModelUsage
from tts_cli.grading import group_equivalent
from tts_cli.strategies.base import Candidate
from tts_cli.strategies.steps import best_index, pick_best, split_steps
from tts_cli.verifiers.aggregate import aggregate

POOLED = ("majority", "best-of-n", "weighted")
SCORED = ("best-of-n", "weighted")


def pool_from_solution(solution: Any, *, seed: int) -> dict[str, Any]:
    """The cacheable pool from a ``best-of-n`` (scored) or ``majority`` (unscored) solution."""
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
    }
    if verifier is not None:
        nodes = solution.tree.nodes
        pool["verifier"] = verifier.model
        pool["step_scores"] = [list(nodes[c.node_id or 0].meta.get("step_scores", [])) for c in candidates]
        # the verifier reads each scored step with the solution up to it: with only the last step
        # scored, a sample's share follows its length
        last_only = all(len(s) <= 1 for s in pool["step_scores"])
        weights = [c.tokens + 1 for c in candidates] if last_only else steps
        pool["verifier_tokens"] = pro_rata(verifier.prompt_tokens + verifier.cached_tokens, weights)
        pool["verifier_flops"] = pro_rata(verifier.flops, weights)
        pool["verifier_seconds"] = pro_rata(verifier.prompt_seconds + verifier.generate_seconds, weights)
    return pool


def pro_rata(total: float, weights: Sequence[float]) -> list[float]:
    """``total`` split in proportion to ``weights`` (evenly when they are all zero)."""
    if not weights:
        return []
    whole = float(sum(weights))
    if whole <= 0:
        return [total / len(weights)] * len(weights)
    return [total * w / whole for w in weights]


def subset_result(pool: dict[str, Any], strategy: str, n: int, how: str) -> dict[str, Any]:
    """What ``strategy`` with ``-n n`` answers from the pool's first n samples, and their cost."""
    size = pool["size"]
    k = min(n, size)
    answers = list(pool["answers"][:k])
    scores = None
    if pool.get("step_scores") is not None:
        scores = [aggregate(s, how) for s in pool["step_scores"][:k]]
    groups = prefix_groups(pool["answers"], k) if strategy != "best-of-n" else None
    index = select(strategy, answers, scores, groups)
    policy = ModelUsage(
        model=pool["model"],
        params=pool["params"],
        prompt_tokens=pool["prompt_tokens"],  # the prompt is evaluated once whatever N is
        cached_tokens=round(pool["cached_tokens"] * (k - 1) / (size - 1)) if size > 1 else 0,
        generated_tokens=sum(pool["tokens"][:k]),
    )
    scored = strategy in SCORED  # majority reads no scores: a scored pool's verifier work is not its cost
    verifier_tokens = sum(pool.get("verifier_tokens", [])[:k]) if scored else 0.0
    verifier_flops = sum(pool.get("verifier_flops", [])[:k]) if scored else 0.0
    scoring = pool.get("verifier_seconds", [])
    sampling_seconds = max(0.0, pool["wall_seconds"] - sum(scoring))
    return {
        "answer": answers[index] if index is not None else None,
        "policy_tokens": policy.generated_tokens,
        "verifier_tokens": verifier_tokens,
        "flops": policy.flops + verifier_flops,
        "wall_seconds": sampling_seconds * k / size + (sum(scoring[:k]) if scored else 0.0),
    }


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
) -> Optional[int]:
    """The index of the sample ``strategy`` chooses (None: no answer), from the answers, their
    solution scores and (optionally, precomputed) their groups of equivalent answers."""
    if strategy == "majority":  # majority_answer's rule: the largest group, the earliest on ties
        groups = group_equivalent(answers) if groups is None else groups
        return max(groups, key=len)[0] if groups else None
    if scores is None:
        raise ValueError(f"{strategy} needs verifier scores")
    if strategy == "best-of-n":
        candidates = [Candidate(text="", answer=a, tokens=0, finish_reason="", score=s) for a, s in zip(answers, scores)]
        chosen = pick_best(candidates)  # the strategy's own rule
        return chosen if chosen is not None and answers[chosen] is not None else None
    if strategy == "weighted":
        return weighted_choice(answers, scores, groups)
    raise ValueError(f"{strategy} does not select from a sample pool")


def weighted_choice(
    answers: Sequence[Optional[str]], scores: Sequence[float], groups: Optional[list[list[int]]] = None
) -> Optional[int]:
    """``weighted``'s rule as a pure function (mirrors strategies/weighted.py; a test checks they
    agree): the group of equivalent answers with the highest summed score wins (ties: the larger
    group, then the earlier one); its best-scored member (the first on ties) is chosen."""
    if groups is None:
        groups = group_equivalent(answers)
    if not groups:
        return None
    weights = [sum(scores[i] for i in group) for group in groups]
    keys = [(w, len(g)) for g, w in zip(groups, weights)]
    best = groups[max(range(len(groups)), key=lambda k: (keys[k], -k))]
    return best[best_index([scores[i] for i in best]) or 0]
