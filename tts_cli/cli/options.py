"""Options shared by the commands that run a search (`ask`, `solve`, `bench`).

The sampling settings are declared on ``SearchConfig`` and every strategy's own options on its
options class (``strategies/options.py``); their flags and help are generated from there.
``with_search_options(command)`` gives a command all of them as CLI parameters and hands it one
``SearchSettings`` object instead of thirty keyword arguments.
"""

from __future__ import annotations

import inspect
import keyword
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Callable, Optional, Sequence

import typer

from tts_cli.settings import COMMON as _COMMON
from tts_cli.settings import SearchSettings
from tts_cli.strategies import StrategyInfo, strategy_flags
from tts_cli.strategies.options import declarations

_HELP = "Search"
_OPTIONS: dict[str, Any] = {
    "strategy": Annotated[str, typer.Option("--strategy", "-s", help="Search strategy (see `tts strategies`).", rich_help_panel=_HELP)],
    "policy": Annotated[Optional[str], typer.Option("--policy", "-p", help="Policy model: a models.toml name or a .gguf path.", rich_help_panel="Models")],
    "verifier": Annotated[Optional[str], typer.Option("--verifier", "-v", help="Verifier model (the policy's name shares its engine).", rich_help_panel="Models")],
    "verifier_kind": Annotated[Optional[str], typer.Option("--verifier-kind", help="judge, token-prm, program (programs the model writes) or arithmetic (no model, no --verifier) (default: judge, or token-prm from models.toml).", rich_help_panel="Models")],
    "models_file": Annotated[Optional[Path], typer.Option("--models", help="Extra models.toml (overrides built-ins).", rich_help_panel="Models")],
    "system_prompt": Annotated[Optional[str], typer.Option("--system-prompt", help="Replace the chain-of-thought system prompt (program samples keep theirs).", rich_help_panel=_HELP)],
    "threads": Annotated[Optional[int], typer.Option(help="CPU threads (default: all cores).", rich_help_panel="Hardware")],
    "gpu_layers": Annotated[Optional[int], typer.Option("--gpu-layers", help="Layers offloaded to a GPU (-1 all; default from models.toml).", rich_help_panel="Hardware")],
    "cpu_repack": Annotated[Optional[str], typer.Option("--cpu-repack", help="llama.cpp's extra CPU buffer types (AMX, repacked weights): auto (off where AMX is present: it can crash), on, off. Default: $TTS_CPU_REPACK, else auto.", rich_help_panel="Hardware")],
    "ctx": Annotated[int, typer.Option("--ctx", help="KV-cache size in tokens, shared by all parallel sequences.", rich_help_panel="Hardware")],
}


def listed_flags(info: StrategyInfo) -> list[str]:
    """What `tts strategies` lists for a strategy: the common settings it reads, --verifier when
    it reads scores, and its own options (each by its first spelling)."""
    common = [d.spec.flag for d in _COMMON.values() if d.name in info.reads]
    return common + (["--verifier"] if info.reads_scores else []) + [d.spec.flag for d in declarations(info.options)]


def with_search_options(command: Callable[..., Any], *, without: Sequence[str] = ()) -> Callable[..., Any]:
    """The Typer callback of ``command(settings: SearchSettings, ...)``: its own parameters, then
    every shared option except those named in ``without`` (they keep their defaults): the common
    search settings, each registered strategy's flags, the models and the hardware."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "settings"]
    shared, dests = _shared_parameters(without)
    clashes = sorted({p.name for p in own} & {p.name for p in shared})
    if clashes:
        raise TypeError(f"option {clashes[0]!r} of `{command.__name__}` clashes with a shared search option")

    def call(values: dict[str, Any]) -> Any:
        options = {dest: values.pop(dest) for dest in dests}
        settings = SearchSettings(options=options, **{p.name: values.pop(p.name) for p in shared if p.name not in dests})
        return command(settings=settings, **values)

    return _function(command.__name__, command.__doc__, own + shared, call)


def _shared_parameters(without: Sequence[str]) -> tuple[list[inspect.Parameter], set[str]]:
    """The shared parameters in SearchSettings order (strategy flags where ``options`` is), and
    the names of the strategy flags among them."""
    flags = strategy_flags()
    names = {f.name for f in fields(SearchSettings)}
    clashing = [flag for flag in flags if flag.dest in names]
    if clashing:
        flag = clashing[0]
        raise TypeError(f"option {flag.flags[0]} of {', '.join(flag.owners)} clashes with a shared search option")
    params: list[inspect.Parameter] = []
    for f in fields(SearchSettings):
        if f.name in without:
            continue
        if f.name == "options":
            for flag in flags:
                option = typer.Option(*flag.flags, help=flag.help, rich_help_panel=_HELP)
                params.append(_parameter(flag.dest, flag.type, flag.default, option))
        elif f.name in _COMMON:
            declared = _COMMON[f.name]
            option = typer.Option(*declared.spec.flags, help=declared.spec.help, rich_help_panel=_HELP)
            params.append(_parameter(f.name, declared.type, declared.default, option))
        else:
            kind = inspect.Parameter.KEYWORD_ONLY
            params.append(inspect.Parameter(f.name, kind, default=f.default, annotation=_OPTIONS[f.name]))
    return params, {flag.dest for flag in flags}


def _parameter(name: str, kind: Any, default: Any, option: Any) -> inspect.Parameter:
    annotation = Annotated[Optional[kind] if default is None else kind, option]  # type: ignore[valid-type]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _function(
    name: str, doc: Optional[str], params: Sequence[inspect.Parameter], call: Callable[[dict[str, Any]], Any]
) -> Callable[..., Any]:
    """A plain function ``name(*, <params>)`` that returns ``call({param: value})``.

    Typer reads a command's CLI parameters from its callback's signature (``inspect.signature``
    and the annotations), so options generated at run time must be real parameters of a real
    function. It is compiled from a one-line ``def`` whose names are checked identifiers and whose
    annotations and defaults are passed by reference, as ``collections.namedtuple`` and
    ``dataclasses`` build theirs; this relies on no private Typer or Click module and not on
    ``__signature__`` (an implementation detail of ``inspect``).
    """
    namespace: dict[str, Any] = {"_call": call}
    args = []
    for i, p in enumerate(params):
        if not p.name.isidentifier() or keyword.iskeyword(p.name) or p.name.startswith("_"):
            raise ValueError(f"not a parameter name: {p.name!r}")
        namespace[f"_t{i}"] = p.annotation
        if p.default is inspect.Parameter.empty:
            args.append(f"{p.name}: _t{i}")
        else:
            namespace[f"_d{i}"] = p.default
            args.append(f"{p.name}: _t{i} = _d{i}")
    signature = f"*, {', '.join(args)}" if args else ""
    exec(f"def {name}({signature}):\n    return _call(dict(locals()))\n", namespace)
    function: Callable[..., Any] = namespace[name]
    function.__doc__ = doc
    return function
