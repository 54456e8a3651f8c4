"""The settings of a search as the commands and the bench hold them: the model choices, the
sampling settings of ``SearchConfig`` and every strategy option by its flag's dest."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from tts_cli.strategies import Options, SearchConfig, get_strategy
from tts_cli.strategies.options import declarations
from tts_cli.strategies.registry import flag_values

COMMON = {d.name: d for d in declarations(SearchConfig)}
_COMMON = COMMON


@dataclass
class SearchSettings:
    strategy: str = "greedy"
    n: int = _COMMON["n"].default
    policy: Optional[str] = None
    verifier: Optional[str] = None
    verifier_kind: Optional[str] = None
    models_file: Optional[Path] = None
    temperature: float = _COMMON["temperature"].default
    top_p: float = _COMMON["top_p"].default
    max_tokens: int = _COMMON["max_tokens"].default
    budget: Optional[int] = _COMMON["budget"].default
    seed: int = _COMMON["seed"].default
    aggregate: str = _COMMON["aggregate"].default
    options: dict[str, Any] = field(default_factory=dict)  # strategy flags by dest; a missing one: its default
    system_prompt: Optional[str] = None
    threads: Optional[int] = None
    gpu_layers: Optional[int] = None
    cpu_repack: Optional[str] = None
    ctx: int = 16384

    def search_config(self) -> SearchConfig:
        """The common settings, checked (a UsageError names the bad flag)."""
        return SearchConfig(**{name: getattr(self, name) for name in _COMMON})

    def strategy_options(self, strategy: Optional[str] = None) -> Options:
        """The options of ``strategy`` (default: the chosen one), checked."""
        return get_strategy(strategy or self.strategy).make_options(self.options)

    def as_dict(self) -> dict[str, Any]:
        """Every setting by name, with each strategy flag's value in place of ``options``."""
        values: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "options":
                values.update(flag_values(self.options))
            else:
                values[f.name] = getattr(self, f.name)
        return values
