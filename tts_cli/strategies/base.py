"""What every strategy receives and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from tts_cli.engine.types import Engine, SamplingParams
from tts_cli.tree import SearchTree


@dataclass(frozen=True)
class SearchConfig:
    n: int = 4
    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 1024
    seed: int = 0
    budget: Optional[int] = None  # hard cap on generated policy tokens
    aggregate: str = "last"  # step scores -> solution score: last | min | prod | mean
    beam_width: int = 2  # M: beams kept per step (beam), width of each subtree (dvts), children per expansion (mcts)
    max_depth: int = 40  # step-level search: at most this many steps per solution
    step_tokens: int = 256  # step-level search: token limit of one step
    iterations: int = 8  # mcts: selection/expansion/evaluation/backpropagation rounds
    c_puct: float = 1.0  # mcts: exploration constant of the PUCT rule
    rounds: int = 3  # refine: critique/revise rounds at most

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "text": self.text,
            "tokens": self.tokens,
            "finish_reason": self.finish_reason,
            "score": self.score,
            "node": self.node_id,
        }


@dataclass
class SearchContext:
    question: str
    prompt: list[int]  # chat-formatted prompt tokens
    policy: Engine
    config: SearchConfig
    tree: SearchTree
    verifier: Any = None


@dataclass
class SearchResult:
    answer: Optional[str]
    chosen: Optional[int]  # index into candidates
    candidates: list[Candidate]
    info: dict[str, Any] = field(default_factory=dict)


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
