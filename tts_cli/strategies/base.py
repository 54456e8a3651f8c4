"""What every strategy receives and returns, and the primitives that full-solution sampling
(``sampling.py``), step-level search (``stepper.py``) and the other strategies share: one batched
generate call with its token costs, the budget cap, the steps of a solution, the verifier check."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence, TypeVar

from tts_cli.engine.types import Completion, Engine, Monitor, SamplingParams, TokenTrace
from tts_cli.errors import UsageError
from tts_cli.grading import last_boxed
from tts_cli.grading.forms import FREE, FreeForm
from tts_cli.programs import ProgramRun
from tts_cli.prompts import STEP_SEPARATOR
from tts_cli.strategies.options import Options, option
from tts_cli.tree import SearchTree
from tts_cli.verifiers.aggregate import AGGREGATIONS
from tts_cli.verifiers.base import Verifier


@dataclass(frozen=True)
class SearchConfig(Options):
    """The settings every strategy shares (a strategy's own are in its options class)."""

    n: int = option(4, "-n", "--samples", help="Number of samples / expansions per step.", minimum=1)
    temperature: float = option(0.8, "--temperature", help="Sampling temperature (greedy always uses 0).", minimum=0)
    top_p: float = option(0.95, "--top-p", help="Nucleus sampling threshold.", rule=(lambda p: 0 < p <= 1, "must be in (0, 1]"))
    max_tokens: int = option(1024, "--max-tokens", help="Token limit per sampled solution.", minimum=1)
    seed: int = option(0, "--seed", help="Random seed: the same seed gives the same run.")
    budget: Optional[int] = option(
        None, "--budget", help="Hard cap on generated policy tokens per question.",
        rule=(lambda b: b >= 1, "must be a positive number of tokens"),
    )  # fmt: skip
    # the same for every strategy that reads verifier scores (and for the bench's shared scored pool)
    aggregate: str = option(
        "last", "--aggregate", help="Step scores -> solution score: last, min, prod, mean.", choices=AGGREGATIONS
    )

    def sampling(self, index: int = 0, **overrides: Any) -> SamplingParams:
        values: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed * 100_003 + index,
        }
        values.update(overrides)
        return SamplingParams(**values)


@dataclass
class Candidate:
    text: str
    answer: Optional[str]
    tokens: int
    finish_reason: str
    node_id: Optional[int] = None
    score: Optional[float] = None
    trace: Optional[TokenTrace] = field(default=None, repr=False)  # per-token signals, where recorded
    program: Optional[ProgramRun] = field(default=None, repr=False)  # a program sample's program and its run
    _signals: Optional[dict[str, float]] = field(default=None, init=False, repr=False, compare=False)

    @property
    def signals(self) -> dict[str, float]:
        """Its confidence signals (tts_cli.selection.SIGNALS; higher = more confident): summaries of
        the per-token trace, and ``judge``, the verifier's score, where there is one."""
        if self._signals is None:
            from tts_cli.selection import summarize_trace

            self._signals = {} if self.trace is None else summarize_trace(self.trace)
        found = dict(self._signals)
        if self.score is not None:
            found["judge"] = self.score
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "text": self.text,
            "tokens": self.tokens,
            "finish_reason": self.finish_reason,
            "score": self.score,
            "node": self.node_id,
            "signals": {name: round(value, 4) for name, value in self.signals.items()},
            **({"program": self.program.to_dict()} if self.program is not None else {}),
        }


@dataclass
class SearchContext:
    question: str  # as the model reads it (a multiple-choice question with its lettered options)
    prompt: list[int]  # chat-formatted prompt tokens
    policy: Engine
    config: SearchConfig
    tree: SearchTree
    verifier: Optional[Verifier] = None
    options: Optional[Options] = None  # the strategy's own options (None: its defaults)
    program_prompt: Optional[list[int]] = None  # the program-of-thought prompt, built on first use
    execution_seconds: float = 0.0  # wall time spent running model-written programs in the sandbox
    form: FreeForm = FREE  # the kind of answer the question takes: how answers are read from solutions


OptionsT = TypeVar("OptionsT", bound=Options)


def options_of(ctx: SearchContext, kind: type[OptionsT]) -> OptionsT:
    """The running strategy's options: ``ctx.options``, which must be a ``kind``, or its defaults."""
    if ctx.options is None:
        return kind()
    if not isinstance(ctx.options, kind):
        raise TypeError(f"this strategy takes {kind.__name__}, not {type(ctx.options).__name__}")
    return ctx.options


@dataclass
class SearchResult:
    answer: Optional[str]
    chosen: Optional[int]  # index into candidates
    candidates: list[Candidate]
    info: dict[str, Any] = field(default_factory=dict)


def finish(
    ctx: SearchContext, candidates: list[Candidate], chosen: Optional[int], info: Optional[dict[str, Any]] = None
) -> SearchResult:
    """The end of every search: the chosen candidate (None: no answer) is marked in the tree."""
    info = {} if info is None else info
    if chosen is None:
        return SearchResult(answer=None, chosen=None, candidates=candidates, info=info)
    ctx.tree.mark_chosen(candidates[chosen].node_id or 0)
    return SearchResult(answer=candidates[chosen].answer, chosen=chosen, candidates=candidates, info=info)


@dataclass
class Pool:
    """The first N samples of a shared sample pool, as a poolable strategy's ``select`` sees them
    (``tts bench`` reads every N from one pool of max(N) samples)."""

    answers: Sequence[Optional[str]]
    scores: Optional[Sequence[float]] = None  # aggregated verifier scores; None for an unscored pool
    # signal name -> one value per sample (tts_cli.selection.SIGNALS); the verifier's as "judge"
    signals: Mapping[str, Sequence[float]] = field(default_factory=dict)
    grouping: Optional[Callable[[], list[list[int]]]] = field(default=None, repr=False)  # precomputed groups

    @functools.cached_property
    def groups(self) -> list[list[int]]:
        """The groups of equivalent answers (indices), computed on first use."""
        if self.grouping is not None:
            return self.grouping()
        from tts_cli.grading import group_equivalent

        return group_equivalent(list(self.answers))

    def with_signals(self) -> Mapping[str, Sequence[float]]:
        """``signals``, with the verifier's scores as ``judge`` where there are any."""
        if self.scores is None or "judge" in self.signals:
            return self.signals
        return {**self.signals, "judge": list(self.scores)}


def pool_of(candidates: Sequence[Candidate]) -> Pool:
    """The pool a selector sees of these candidates: answers, judge scores, signals."""
    answers = [c.answer for c in candidates]
    scored = [c.score for c in candidates]
    scores = [s or 0.0 for s in scored] if any(s is not None for s in scored) else None
    per_candidate = [c.signals for c in candidates]
    names = set.intersection(*(set(s) for s in per_candidate)) if per_candidate else set()
    signals = {name: [s[name] for s in per_candidate] for name in sorted(names)}
    return Pool(answers, scores, signals=signals)


def capped_tokens(config: SearchConfig, samples: int, spent: int = 0, limit: Optional[int] = None) -> int:
    """Per-sample token limit (at most ``limit``, default ``config.max_tokens``) under the budget.

    ``samples`` sequences each given the returned limit can together never generate more than what
    is left of the budget, so a round of batched generation cannot overshoot it.
    """
    ceiling = config.max_tokens if limit is None else limit
    if config.budget is None:
        return max(0, ceiling)
    remaining = max(0, config.budget - spent)
    return max(0, min(ceiling, remaining // max(1, samples)))


def generate(
    ctx: SearchContext,
    prefixes: Sequence[Sequence[int]],
    params: Sequence[SamplingParams],
    *,
    monitor: Optional[Monitor] = None,
) -> tuple[list[Completion], list[int]]:
    """One batched generate call; returns the completions and the token cost of each."""
    if monitor is None:  # engines written before monitors existed keep working
        completions = ctx.policy.generate([list(p) for p in prefixes], list(params))
    else:
        completions = ctx.policy.generate([list(p) for p in prefixes], list(params), monitor=monitor)
    return completions, [c.generated_tokens for c in completions]


def split_steps(text: str) -> list[str]:
    """The non-empty steps of a solution, split on blank lines and stripped.

    A *step* is one paragraph of a solution; steps are separated by a blank line
    (``prompts.STEP_SEPARATOR``)."""
    return [part.strip() for part in text.split(STEP_SEPARATOR) if part.strip()]


def has_boxed_answer(text: str) -> bool:
    """Whether ``text`` contains a complete ``\\boxed{...}`` (or ``\\fbox{...}``) final answer."""
    if "\\boxed" not in text and "\\fbox" not in text:
        return False
    return bool(last_boxed(text))


def require_verifier(ctx: SearchContext, strategy: str) -> Any:
    """The search's verifier; a UsageError naming ``strategy`` when none was given."""
    if ctx.verifier is None:
        raise UsageError(f"strategy {strategy} needs a verifier: pass --verifier MODEL")
    return ctx.verifier
