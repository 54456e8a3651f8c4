"""Strategy registry. Built-ins register themselves like plugins do; third-party packages add
strategies through the ``tts_cli.strategies`` entry-point group, whose objects are called with
``register`` as their only argument."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Callable

from tts_cli.errors import UsageError
from tts_cli.strategies.base import SearchContext, SearchResult

StrategyFn = Callable[[SearchContext], SearchResult]


@dataclass(frozen=True)
class StrategyInfo:
    name: str
    run: StrategyFn
    summary: str
    needs_verifier: bool = False
    options: tuple[str, ...] = ()


_STRATEGIES: dict[str, StrategyInfo] = {}
_loaded = False


def register(
    name: str, *, summary: str, needs_verifier: bool = False, options: tuple[str, ...] = ()
) -> Callable[[StrategyFn], StrategyFn]:
    def decorator(fn: StrategyFn) -> StrategyFn:
        _STRATEGIES[name] = StrategyInfo(name, fn, summary, needs_verifier, options)
        return fn

    return decorator


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import tts_cli.strategies.builtin  # noqa: F401  (registers the built-ins)

    for ep in entry_points(group="tts_cli.strategies"):
        ep.load()(register)


def available() -> list[StrategyInfo]:
    _load()
    return list(_STRATEGIES.values())


def get_strategy(name: str) -> StrategyInfo:
    _load()
    if name not in _STRATEGIES:
        close = difflib.get_close_matches(name, list(_STRATEGIES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(f"unknown strategy {name!r}{hint}; choose from {', '.join(_STRATEGIES)}")
    return _STRATEGIES[name]
