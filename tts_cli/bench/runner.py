"""A bench: its plan, run on the models, with per-problem outcomes read back from the cache.

Split at its seams: ``plan`` (the tasks and their cache keys), ``execute`` (computing and caching
them), ``outcomes`` (grading, pools read per N, replays).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from tts_cli.bench.cache import ResultCache
from tts_cli.bench.execute import forget_kv, run_result
from tts_cli.bench.outcomes import Outcome, OutcomeReader
from tts_cli.bench.plan import BenchPlan, Models, Task, question_key

__all__ = ["Bench", "BenchPlan", "Models", "Outcome", "Task", "forget_kv", "question_key", "run_result"]


@dataclass
class Bench(OutcomeReader):
    plan: BenchPlan
    models: Models
    cache: ResultCache
    forget: Callable[[Any], None] = forget_kv
    errors: dict[str, str] = field(default_factory=dict)  # task key -> message (not cached: retried)
    computed: int = 0
    _verdicts: dict[tuple[Optional[str], Optional[str]], bool] = field(default_factory=dict)
