"""Search strategies: one module each, one signature ``run(ctx: SearchContext) -> SearchResult``."""

from tts_cli.strategies.base import Candidate, SearchConfig, SearchContext, SearchResult
from tts_cli.strategies.registry import StrategyInfo, available, get_strategy, register

__all__ = [
    "Candidate",
    "SearchConfig",
    "SearchContext",
    "SearchResult",
    "StrategyInfo",
    "available",
    "get_strategy",
    "register",
]
