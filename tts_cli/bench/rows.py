"""Rows of the bench: per (model, strategy, N) accuracy with a 95% Wilson interval, mean costs per
problem, and the Pareto-optimal rows in (mean FLOPs lower is better, accuracy higher is better)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence


def wilson(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of ``correct / total`` (as benchmarks/summarize.py computes it)."""
    if total == 0:
        return 0.0, 0.0
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Row:
    model: str
    strategy: str
    n: int
    problems: int = 0
    correct: int = 0
    covered: int = 0  # pass@N: problems where some sample it drew was right
    unanswered: float = 0.0  # the mean share of drawn samples with no answer (a run: of its answers)
    errors: int = 0
    policy_tokens: float = 0.0  # means per problem
    verifier_tokens: float = 0.0
    flops: float = 0.0
    wall_seconds: float = 0.0
    selection: str = ""
    pareto: bool = False
    routes: Optional[dict[str, int]] = None  # auto: how many problems took each route

    @property
    def accuracy(self) -> float:
        return self.correct / self.problems if self.problems else 0.0

    @property
    def coverage(self) -> float:
        return self.covered / self.problems if self.problems else 0.0

    @property
    def ci(self) -> tuple[float, float]:
        return wilson(self.correct, self.problems)

    def to_dict(self) -> dict[str, Any]:
        low, high = self.ci
        return {
            "model": self.model,
            "strategy": self.strategy,
            "n": self.n,
            "problems": self.problems,
            "correct": self.correct,
            "errors": self.errors,
            "accuracy": self.accuracy,
            "ci_low": low,
            "ci_high": high,
            "coverage": self.coverage,
            "no_answer": self.unanswered,
            "policy_tokens": self.policy_tokens,
            "verifier_tokens": self.verifier_tokens,
            "flops": self.flops,
            "wall_seconds": self.wall_seconds,
            "pareto": self.pareto,
            "selection": self.selection,
            **({"routes": self.routes} if self.routes else {}),
        }


def build_rows(outcomes: Iterable[Any], strategy_order: Optional[Sequence[str]] = None) -> list[Row]:
    """One row per (model, strategy, N): problems that failed count as wrong, costs are means over
    the problems that ran. Rows come by model (first seen), strategy (``strategy_order``), N."""
    groups: dict[tuple[str, str, int], list[Any]] = {}
    for outcome in outcomes:
        groups.setdefault((outcome.model, outcome.strategy, outcome.n), []).append(outcome)
    models = list(dict.fromkeys(model for model, _, _ in groups))
    order = list(strategy_order or [])

    def position(key: tuple[str, str, int]) -> tuple[int, int, str, int]:
        model, strategy, n = key
        rank = order.index(strategy) if strategy in order else len(order)
        return (models.index(model), rank, strategy, n)

    rows = []
    for key in sorted(groups, key=position):
        members = groups[key]
        ran = [o for o in members if o.error is None]
        row = Row(model=key[0], strategy=key[1], n=key[2], problems=len(members))
        row.correct = sum(bool(o.correct) for o in ran)
        row.covered = sum(bool(o.correct if o.covered is None else o.covered) for o in ran)
        row.errors = len(members) - len(ran)
        if ran:
            row.policy_tokens = _mean(o.policy_tokens for o in ran)
            row.verifier_tokens = _mean(o.verifier_tokens for o in ran)
            row.flops = _mean(o.flops for o in ran)
            row.wall_seconds = _mean(o.wall_seconds for o in ran)
            row.unanswered = _mean(o.unanswered or 0.0 for o in ran)
            row.selection = ran[0].selection
            decisions = [str(o.route.get("decision")) for o in ran if getattr(o, "route", None)]
            if decisions:
                row.routes = {d: decisions.count(d) for d in dict.fromkeys(decisions)}
        rows.append(row)
    return rows


def mark_pareto(rows: Sequence[Row]) -> None:
    """Mark the rows that no other row dominates (no more FLOPs and no less accuracy, one of them
    strictly better). Rows with no successful run are never marked."""
    usable = [r for r in rows if r.problems > r.errors]
    for row in rows:
        row.pareto = any(row is r for r in usable) and not any(
            other.flops <= row.flops
            and other.accuracy >= row.accuracy
            and (other.flops < row.flops or other.accuracy > row.accuracy)
            for other in usable
        )


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return math.fsum(items) / len(items) if items else 0.0
