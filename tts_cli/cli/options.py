"""Options shared by the commands that run a search (`ask`, `solve`), declared once.

``@search_options`` appends these parameters to a command's signature (Typer reads the signature)
and hands the command one ``SearchSettings`` object instead of twenty keyword arguments.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer


@dataclass
class SearchSettings:
    strategy: str = "greedy"
    n: int = 4
    policy: Optional[str] = None
    verifier: Optional[str] = None
    verifier_kind: Optional[str] = None
    models_file: Optional[Path] = None
    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 1024
    budget: Optional[int] = None
    seed: int = 0
    aggregate: str = "last"
    beam_width: int = 2
    max_depth: int = 40
    step_tokens: int = 256
    iterations: int = 8
    rounds: int = 3
    c_puct: float = 1.0
    system_prompt: Optional[str] = None
    threads: Optional[int] = None
    gpu_layers: Optional[int] = None
    cpu_repack: Optional[str] = None
    ctx: int = 16384

    def search_config(self) -> Any:
        from tts_cli.cli.runtime import make_config

        return make_config(
            n=self.n, temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens,
            budget=self.budget, seed=self.seed, aggregate=self.aggregate, beam_width=self.beam_width,
            max_depth=self.max_depth, step_tokens=self.step_tokens, iterations=self.iterations,
            rounds=self.rounds, c_puct=self.c_puct,
        )


_HELP = "Search"
_OPTIONS: dict[str, Any] = {
    "strategy": Annotated[str, typer.Option("--strategy", "-s", help="Search strategy (see `tts strategies`).", rich_help_panel=_HELP)],
    "n": Annotated[int, typer.Option("-n", "--samples", help="Number of samples / expansions per step.", rich_help_panel=_HELP)],
    "policy": Annotated[Optional[str], typer.Option("--policy", "-p", help="Policy model: a models.toml name or a .gguf path.", rich_help_panel="Models")],
    "verifier": Annotated[Optional[str], typer.Option("--verifier", "-v", help="Verifier model (the policy's name shares its engine).", rich_help_panel="Models")],
    "verifier_kind": Annotated[Optional[str], typer.Option("--verifier-kind", help="judge or token-prm (default: from models.toml).", rich_help_panel="Models")],
    "models_file": Annotated[Optional[Path], typer.Option("--models", help="Extra models.toml (overrides built-ins).", rich_help_panel="Models")],
    "temperature": Annotated[float, typer.Option(help="Sampling temperature (greedy always uses 0).", rich_help_panel=_HELP)],
    "top_p": Annotated[float, typer.Option("--top-p", help="Nucleus sampling threshold.", rich_help_panel=_HELP)],
    "max_tokens": Annotated[int, typer.Option("--max-tokens", help="Token limit per sampled solution.", rich_help_panel=_HELP)],
    "budget": Annotated[Optional[int], typer.Option("--budget", help="Hard cap on generated policy tokens per question.", rich_help_panel=_HELP)],
    "seed": Annotated[int, typer.Option(help="Random seed: the same seed gives the same run.", rich_help_panel=_HELP)],
    "aggregate": Annotated[str, typer.Option(help="Step scores -> solution score: last, min, prod, mean.", rich_help_panel=_HELP)],
    "beam_width": Annotated[int, typer.Option("--beam-width", "-m", help="Beams kept (beam), subtree width (dvts), children (mcts).", rich_help_panel=_HELP)],
    "max_depth": Annotated[int, typer.Option("--max-depth", help="Step-level search: most steps per solution.", rich_help_panel=_HELP)],
    "step_tokens": Annotated[int, typer.Option("--step-tokens", help="Step-level search: token limit per step.", rich_help_panel=_HELP)],
    "iterations": Annotated[int, typer.Option(help="mcts: search iterations.", rich_help_panel=_HELP)],
    "rounds": Annotated[int, typer.Option(help="refine: critique/revise rounds at most.", rich_help_panel=_HELP)],
    "c_puct": Annotated[float, typer.Option("--c-puct", help="mcts: exploration constant of PUCT.", rich_help_panel=_HELP)],
    "system_prompt": Annotated[Optional[str], typer.Option("--system-prompt", help="Replace the system prompt.", rich_help_panel=_HELP)],
    "threads": Annotated[Optional[int], typer.Option(help="CPU threads (default: all cores).", rich_help_panel="Hardware")],
    "gpu_layers": Annotated[Optional[int], typer.Option("--gpu-layers", help="Layers offloaded to a GPU (-1 all; default from models.toml).", rich_help_panel="Hardware")],
    "cpu_repack": Annotated[Optional[str], typer.Option("--cpu-repack", help="llama.cpp's extra CPU buffer types (AMX, repacked weights): auto (off where AMX is present: it can crash), on, off. Default: $TTS_CPU_REPACK, else auto.", rich_help_panel="Hardware")],
    "ctx": Annotated[int, typer.Option("--ctx", help="KV-cache size in tokens, shared by all parallel sequences.", rich_help_panel="Hardware")],
}


def search_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command(settings: SearchSettings, ...)`` the shared options as CLI parameters."""
    defaults = SearchSettings()
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "settings"]
    shared = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=getattr(defaults, f.name), annotation=_OPTIONS[f.name])
        for f in fields(SearchSettings)
    ]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        settings = SearchSettings(**{f.name: kwargs.pop(f.name) for f in fields(SearchSettings)})
        return command(settings=settings, **kwargs)

    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + shared
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # Typer must read the new signature, not the command's own
    return wrapper
