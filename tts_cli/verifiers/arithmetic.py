"""Arithmetic verifier: scores each step by exact recomputation of the arithmetic it claims.

No model and no tokens: ``tts_cli.grading.arithmetic.check_steps`` parses every equality it can in
the steps (``48 / 2 = 24``, ``\\frac{48}{2} = 24``, ...) and evaluates both sides exactly. Step k's
score is the fraction of the claims in steps 1..k that hold (1.0 until a claim is seen), so the
last step's score already reflects a mistake made earlier (what beam search reads, ``last_only``).

It checks only the arithmetic, not whether the right quantities were combined, so it is a filter
against slips rather than a judge of the reasoning; a solution without a single checkable claim
scores 1.0 like a flawless one.
"""

from __future__ import annotations

import time
from typing import Sequence

from tts_cli.cost import ModelUsage
from tts_cli.grading.arithmetic import check_steps


class ArithmeticVerifier:
    """The ``Verifier`` protocol over ``check_steps``. ``usage`` stays at zero tokens and zero
    parameters (so zero FLOPs); ``seconds`` is the wall time spent checking, kept apart from the
    model time fields of ``usage``."""

    name = "arithmetic"

    def __init__(self) -> None:
        self.usage = ModelUsage(model="arithmetic", params=0)
        self.seconds = 0.0

    def score(self, question: str, solutions: Sequence[Sequence[str]], *, last_only: bool = False) -> list[list[float]]:
        started = time.perf_counter()
        out: list[list[float]] = []
        for steps in solutions:
            scores = check_steps(steps)
            out.append(scores[-1:] if last_only else scores)
        self.seconds += time.perf_counter() - started
        return out
