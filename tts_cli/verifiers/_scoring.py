"""Shared helpers: probabilities from next-token log-probs, single-token lookups."""

from __future__ import annotations

import math
from typing import Iterable, Sequence

from tts_cli.engine.types import Engine
from tts_cli.errors import ModelError


def logsumexp(values: Iterable[float]) -> float:
    xs = [v for v in values if not math.isnan(v)]
    top = max(xs, default=-math.inf)
    if top == -math.inf:
        return -math.inf
    return top + math.log(math.fsum(math.exp(v - top) for v in xs))


def binary_score(good: Sequence[float], bad: Sequence[float]) -> float:
    """p(good) / (p(good) + p(bad)) from log-probs; each side sums its variants. 0.5 if both vanish."""
    lg, lb = logsumexp(good), logsumexp(bad)
    if lg == -math.inf and lb == -math.inf:
        return 0.5
    if lb == -math.inf:
        return 1.0
    if lg == -math.inf:
        return 0.0
    d = lg - lb  # score = sigmoid(d), evaluated without overflow
    if d >= 0:
        return 1.0 / (1.0 + math.exp(-d))
    e = math.exp(d)
    return e / (1.0 + e)


def single_tokens(engine: Engine, variants: Sequence[str]) -> list[int]:
    """Distinct ids of the variants that are exactly one token in the engine's vocabulary."""
    ids: list[int] = []
    for text in variants:
        tokens = engine.tokenize(text, add_special=False)
        if len(tokens) == 1 and tokens[0] not in ids:
            ids.append(tokens[0])
    return ids


def single_token(engine: Engine, text: str, what: str) -> int:
    tokens = engine.tokenize(text, add_special=False)
    if len(tokens) != 1:
        raise ModelError(
            f"{engine.name}: the {what} {text!r} is {len(tokens)} tokens in this vocabulary, "
            "not one; set a single-token string in the PRM configuration"
        )
    return tokens[0]


def steps_to_score(solutions: Sequence[Sequence[str]], last_only: bool) -> list[tuple[int, int]]:
    """(solution index, 1-based step) pairs to score: every step, or only each solution's last."""
    pairs: list[tuple[int, int]] = []
    for i, steps in enumerate(solutions):
        first = len(steps) if last_only else 1
        pairs.extend((i, k) for k in range(max(first, 1), len(steps) + 1))
    return pairs
