"""Search strategies: one module each, one signature ``run(ctx: SearchContext) -> SearchResult``."""

from tts_cli.strategies.base import (
    Candidate,
    Pool,
    SearchConfig,
    SearchContext,
    SearchResult,
    finish,
    options_of,
)
from tts_cli.strategies.options import Options, option
from tts_cli.strategies.registry import StrategyInfo, available, get_strategy, register, strategy_flags

__all__ = [
    "Candidate",
    "Options",
    "Pool",
    "SearchConfig",
    "SearchContext",
    "SearchResult",
    "StrategyInfo",
    "available",
    "finish",
    "get_strategy",
    "option",
    "options_of",
    "register",
    "strategy_flags",
]
