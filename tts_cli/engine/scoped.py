"""A per-problem view of a shared engine, so that problems solved concurrently count their own cost."""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from tts_cli.cost import ModelUsage
from tts_cli.engine.cancel import check_cancelled
from tts_cli.engine.types import Completion, Engine, Monitor, SamplingParams, Tokens


class UsageScope:
    """Forwards every call to ``engine`` but charges it to its own ``usage``.

    ``solve`` measures a problem's cost as the growth of ``policy.usage``; when several problems
    share one engine at the same time, each needs its own counter or they would count each other.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.name = engine.name
        self.n_params = engine.n_params
        self.usage = ModelUsage(model=engine.name, params=engine.n_params, source=engine.usage.source)

    @property
    def context_length(self) -> int:
        return self.engine.context_length

    @property
    def on_step(self) -> Optional[Callable[[int], None]]:
        """The shared engine's progress hook (setting it sets the engine's)."""
        return self.engine.on_step

    @on_step.setter
    def on_step(self, hook: Optional[Callable[[int], None]]) -> None:
        self.engine.on_step = hook

    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        return self.engine.tokenize(text, add_special=add_special)

    def detokenize(self, tokens: Tokens) -> str:
        return self.engine.detokenize(tokens)

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> list[int]:
        return self.engine.chat_prompt(messages)

    def generate(
        self,
        prefixes: Sequence[Tokens],
        params: Sequence[SamplingParams],
        *,
        usage: Optional[ModelUsage] = None,
        monitor: Optional[Monitor] = None,
    ) -> list[Completion]:
        check_cancelled()
        if monitor is None:  # engines written before monitors existed keep working
            return self.engine.generate(prefixes, params, usage=usage or self.usage)
        return self.engine.generate(prefixes, params, usage=usage or self.usage, monitor=monitor)

    def next_token_logprobs(
        self, prefixes: Sequence[Tokens], candidates: Sequence[int], *, usage: Optional[ModelUsage] = None
    ) -> list[list[float]]:
        check_cancelled()
        return self.engine.next_token_logprobs(prefixes, candidates, usage=usage or self.usage)

    def close(self) -> None:
        """The shared engine belongs to its loader; a view closes nothing."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)
