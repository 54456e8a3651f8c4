"""The verifier interface: scores for the steps of partial or complete solutions."""

from __future__ import annotations

from typing import Protocol, Sequence

from tts_cli.cost import ModelUsage


class Verifier(Protocol):
    name: str
    usage: ModelUsage  # this verifier's own compute, even when it shares the policy's engine

    def score(
        self, question: str, solutions: Sequence[Sequence[str]], *, last_only: bool = False
    ) -> list[list[float]]:
        """For each solution (a list of steps), one score in [0, 1] per step.

        With ``last_only`` only the last step of each solution is scored (a one-element list each):
        step-level search needs just that. Solutions are scored in one batch.
        """
        ...
