"""Adaptive-Consistency's stop rule (Aggarwal et al. 2023): stop sampling once the leading answer
is ahead of the runner-up with high posterior probability.

With a uniform prior on the two leaders' shares, the leader's share among the two is
Beta(top + 1, second + 1); the vote is settled when that share exceeds 1/2 with probability at
least ``threshold``.
"""

from __future__ import annotations

import math
from typing import Sequence

from tts_cli.selection.errors import SelectionError

EXACT_LIMIT = 4096  # above this many trials, the continued fraction instead of the binomial sum
_TINY = 1e-300
_EPS = 1e-15
_MAX_TERMS = 100_000


def settle_probability(counts: Sequence[float]) -> float:
    """P(leader's share > 1/2) under Beta(top + 1, second + 1), from the vote counts (or weights)
    of the answer groups, in any order; a single group counts as leading one with no votes."""
    for c in counts:
        if not (math.isfinite(c) and c >= 0):
            raise SelectionError(f"vote counts must be finite and at least 0, got {c}")
    ordered = sorted((float(c) for c in counts), reverse=True) + [0.0, 0.0]
    return beta_above_half(ordered[0] + 1, ordered[1] + 1)


def beta_above_half(a: float, b: float) -> float:
    """P(X > 1/2) for X ~ Beta(a, b), a, b > 0."""
    a, b = float(a), float(b)
    if not (a > 0 and b > 0):
        raise SelectionError(f"beta parameters must be above 0, got a={a}, b={b}")
    if a.is_integer() and b.is_integer() and a + b - 1 <= EXACT_LIMIT:
        # X > 1/2 iff fewer than a of n = a + b - 1 fair coin flips come up heads
        n, heads = int(a + b - 1), int(a)
        total, term = 0, 1
        for j in range(heads):
            total += term
            term = term * (n - j) // (j + 1)
        return total / 2**n
    return regularized_beta(0.5, b, a)


def regularized_beta(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b) = P(X <= x), X ~ Beta(a, b)."""
    if not (a > 0 and b > 0):
        raise SelectionError(f"beta parameters must be above 0, got a={a}, b={b}")
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    # the continued fraction converges fast only left of the mean; use the symmetry otherwise
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(x, a, b) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(1.0 - x, b, a) / b


def _beta_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of I_x(a, b), by the modified Lentz method."""

    def nonzero(v: float) -> float:
        return v if abs(v) > _TINY else _TINY

    c = 1.0
    d = 1.0 / nonzero(1.0 - (a + b) * x / (a + 1.0))
    result = d
    for m in range(1, _MAX_TERMS):
        even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1.0 / nonzero(1.0 + even * d)
        c = nonzero(1.0 + even / c)
        result *= d * c
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        d = 1.0 / nonzero(1.0 + odd * d)
        c = nonzero(1.0 + odd / c)
        step = d * c
        result *= step
        if abs(step - 1.0) < _EPS:
            break
    return result
