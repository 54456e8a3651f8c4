"""Turning per-step scores into one score per solution."""

from __future__ import annotations

import math
from typing import Sequence

AGGREGATIONS: tuple[str, ...] = ("last", "min", "prod", "mean")


def aggregate(scores: Sequence[float], how: str) -> float:
    """One score from a solution's step scores: ``last``, ``min``, ``prod`` or ``mean``.

    An empty list scores 0.0 (nothing was verified).
    """
    if how not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {how!r}; choose from {', '.join(AGGREGATIONS)}")
    values = [float(s) for s in scores]
    if not values:
        return 0.0
    if how == "last":
        return values[-1]
    if how == "min":
        return min(values)
    if how == "prod":
        return math.prod(values)
    return math.fsum(values) / len(values)
