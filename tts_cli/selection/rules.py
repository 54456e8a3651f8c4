"""Selection rules: which of N sampled candidates to answer with.

``groups`` are the caller's groups of equivalent answers: indices into the candidates, each group
in increasing order, groups ordered by their first member; a candidate without an answer is in no
group. ``values`` hold one signal value per candidate (higher = more confident); NaN counts as
-inf. Every rule returns the index of the chosen candidate, or None when no candidate has an
answer. Ties between groups go to the larger group, then to the earlier one; within a group, to
its highest-valued member, then to the earliest.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

from tts_cli.selection.errors import SelectionError

Groups = Sequence[Sequence[int]]
NEG_INF = float("-inf")
HOW = ("sum", "mean", "max")


def majority(groups: Groups) -> Optional[int]:
    """The first member of the largest group, the earliest group on ties (self-consistency)."""
    largest = max(_nonempty(groups), key=len, default=None)
    return None if largest is None else largest[0]


def best(answers: Sequence[Optional[str]], values: Sequence[float]) -> Optional[int]:
    """The answered candidate with the highest value (the earliest on ties)."""
    v = _clean(values)
    answered = [i for i, answer in enumerate(answers) if answer is not None]
    return max(answered, key=lambda i: (v[i], -i), default=None)


def weighted_vote(groups: Groups, values: Sequence[float], how: str = "sum") -> Optional[int]:
    """The group with the largest sum, mean or max of its members' values.

    ``sum`` is a vote only for positive weights (confidences, probabilities, judge scores): with
    negative values such as log-probs, more members lower the total. It is applied as given."""
    if how not in HOW:
        raise SelectionError(f"unknown weighting '{how}'; choose one of {', '.join(HOW)}")
    found = _nonempty(groups)
    if not found:
        return None
    v = _clean(values)
    weights = [_reduce([v[i] for i in g], how) for g in found]
    return _top_member(found[_heaviest(found, weights)], v)


def filtered_vote(groups: Groups, values: Sequence[float], keep: float = 0.9) -> Optional[int]:
    """Majority among the top ``keep`` fraction (rounded up, at least one) of the answered
    candidates by value (DeepConf's filtered vote); the first kept member of the winning group.

    The kept members' groups are ordered by their first kept member, so majority's tie-break
    (the earliest group) is the earliest of the kept candidates."""
    if not 0 < keep <= 1:
        raise SelectionError(f"keep must be a fraction in (0, 1], got {keep}")
    found = _nonempty(groups)
    if not found:
        return None
    ranked = _ranked(found, _clean(values))
    # the epsilon keeps 0.7 × 10 = 7.000000000000001 from keeping 8
    kept = set(ranked[: max(1, math.ceil(keep * len(ranked) - 1e-9))])
    survivors = [[i for i in g if i in kept] for g in found]
    return majority(sorted((g for g in survivors if g), key=lambda g: g[0]))


def softmax_vote(groups: Groups, values: Sequence[float], temperature: float = 1.0) -> Optional[int]:
    """The group with the largest sum of softmax(value / temperature) over the answered
    candidates: a small temperature tends to the best candidate's group, a large one to majority."""
    if not temperature > 0:
        raise SelectionError(f"temperature must be above 0, got {temperature}")
    found = _nonempty(groups)
    if not found:
        return None
    v = _clean(values)
    answered = sorted(i for g in found for i in g)
    weight = dict(zip(answered, _softmax([v[i] / temperature for i in answered])))
    totals = [math.fsum(weight[i] for i in g) for g in found]
    return _top_member(found[_heaviest(found, totals)], v)


def borda(groups: Groups, values: Sequence[float], power: float = 1.0) -> Optional[int]:
    """Borda count: the answered candidates ranked by value (rank 1 the best, the earlier on
    ties) get (n - rank + 1) ** power points each, summed per group."""
    if not power > 0:
        raise SelectionError(f"power must be above 0, got {power}")
    found = _nonempty(groups)
    if not found:
        return None
    v = _clean(values)
    ranked = _ranked(found, v)
    points = {i: float(len(ranked) - at) ** power for at, i in enumerate(ranked)}
    totals = [math.fsum(points[i] for i in g) for g in found]
    return _top_member(found[_heaviest(found, totals)], v)


def _nonempty(groups: Groups) -> list[Sequence[int]]:
    return [g for g in groups if len(g)]


def _clean(values: Sequence[float]) -> list[float]:
    return [NEG_INF if math.isnan(x) else float(x) for x in values]


def _ranked(groups: Groups, v: Sequence[float]) -> list[int]:
    """The grouped candidates, best value first, the earlier on ties."""
    return sorted((i for g in groups for i in g), key=lambda i: (-v[i], i))


def _top_member(group: Sequence[int], v: Sequence[float]) -> int:
    return max(group, key=lambda i: (v[i], -i))


def _heaviest(groups: Groups, weights: Sequence[float]) -> int:
    """Position of the group of largest weight; ties: the larger group, then the earlier."""

    def key(k: int) -> tuple[float, int, int]:
        w = weights[k]
        return (NEG_INF if math.isnan(w) else w, len(groups[k]), -k)

    return max(range(len(groups)), key=key)


def _reduce(xs: list[float], how: str) -> float:
    if how == "max":
        return max(xs)
    try:
        # fsum is exact, so groups with equal values tie exactly whatever their order
        total = math.fsum(xs)
    except (ValueError, OverflowError):  # inf + -inf, or finite values overflowing
        total = sum(xs)
    return total / len(xs) if how == "mean" else total


def _softmax(x: list[float]) -> list[float]:
    top = max(x)
    if top == NEG_INF:  # nothing to tell them apart: equal weights
        return [1.0 / len(x)] * len(x)
    if top == math.inf:
        e = [1.0 if xi == math.inf else 0.0 for xi in x]
    else:
        e = [math.exp(xi - top) for xi in x]
    total = math.fsum(e)
    return [ei / total for ei in e]
