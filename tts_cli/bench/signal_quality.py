"""How well each confidence signal tells right samples from wrong ones (AUROC), on the bench's pools.

*Across questions*: every sample of every pool in one ranking (does the signal know which
questions the policy gets right?). *Within a question*: the AUROC of each pool that has both right
and wrong samples, averaged (can it pick the right sample of one question? what a selector needs).
A sample without an answer counts as wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence


def auroc(values: Sequence[float], labels: Sequence[bool]) -> Optional[float]:
    """P(a random right sample's value > a random wrong one's), ties counted half; None unless
    both classes are present. NaN values rank lowest."""
    right = [_finite(v) for v, y in zip(values, labels) if y]
    wrong = [_finite(v) for v, y in zip(values, labels) if not y]
    if not right or not wrong:
        return None
    ordered = sorted([(v, 1) for v in right] + [(v, 0) for v in wrong])
    rank_sum = 0.0
    i = 0
    while i < len(ordered):  # average ranks over ties
        j = i
        while j + 1 < len(ordered) and ordered[j + 1][0] == ordered[i][0]:
            j += 1
        mean_rank = (i + j) / 2 + 1
        rank_sum += mean_rank * sum(label for _, label in ordered[i : j + 1])
        i = j + 1
    n_right, n_wrong = len(right), len(wrong)
    return (rank_sum - n_right * (n_right + 1) / 2) / (n_right * n_wrong)


def _finite(value: float) -> float:
    return -math.inf if math.isnan(value) else value


@dataclass
class SignalQuality:
    signal: str
    across: Optional[float]  # AUROC over all samples
    within: Optional[float]  # mean per-question AUROC
    questions: int  # questions with both right and wrong samples (the ``within`` mean's size)
    samples: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "signal": self.signal, "auroc_across": self.across, "auroc_within": self.within,
            "questions": self.questions, "samples": self.samples,
        }  # fmt: skip


def signal_quality(
    pools: Sequence[tuple[dict[str, list[float]], list[Optional[str]], Optional[str]]],
    grade: Callable[[Optional[str], Optional[str]], bool],
) -> list[SignalQuality]:
    """One row per signal, from (signals by name, answers, gold) per pool."""
    names: list[str] = []
    for signals, _, _ in pools:
        names += [name for name in signals if name not in names]
    rows = []
    for name in names:
        all_values: list[float] = []
        all_labels: list[bool] = []
        per_question: list[float] = []
        for signals, answers, gold in pools:
            if name not in signals:
                continue
            labels = [answer is not None and grade(answer, gold) for answer in answers]
            values = list(signals[name])[: len(labels)]
            all_values += values
            all_labels += labels
            value = auroc(values, labels)
            if value is not None:
                per_question.append(value)
        within = math.fsum(per_question) / len(per_question) if per_question else None
        rows.append(SignalQuality(name, auroc(all_values, all_labels), within, len(per_question), len(all_values)))
    return rows
