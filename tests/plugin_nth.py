"""A plugin strategy as a third-party package would ship it: one module, and ``setup`` as its
``tts_cli.strategies`` entry point. ``nth-answer`` draws N samples and keeps the nth one that has
an answer; it is poolable, so `tts bench` reads every N from one shared pool."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from tts_cli.strategies import Options, Pool, SearchContext, SearchResult, finish, option, options_of
from tts_cli.strategies.sampling import sample_full


@dataclass(frozen=True)
class NthOptions(Options):
    nth: int = option(1, "--nth", help="Which sample with an answer wins (1: the first).", minimum=1)


def select(pool: Pool, options: NthOptions) -> Optional[int]:
    answered = [i for i, answer in enumerate(pool.answers) if answer is not None]
    return answered[options.nth - 1] if len(answered) >= options.nth else None


def run(ctx: SearchContext) -> SearchResult:
    options = options_of(ctx, NthOptions)
    candidates = [s.candidate for s in sample_full(ctx, ctx.config.n)]
    return finish(ctx, candidates, select(Pool([c.answer for c in candidates]), options), {"nth": options.nth})


def setup(register: Callable[..., Any]) -> None:
    register("nth-answer", summary="N samples; the nth one with an answer wins.", options=NthOptions, select=select)(run)
