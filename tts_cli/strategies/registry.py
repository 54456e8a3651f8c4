"""Strategy registry. Built-ins register themselves like plugins do; third-party packages add
strategies through the ``tts_cli.strategies`` entry-point group, whose objects are called with
``register`` as their only argument.

A registration carries what the rest of the program needs to know about a strategy, so that no
code outside its module matches on its name: its options class (flags and checks), which of the
common settings it reads, and its capabilities (verifier, determinism, sample pools)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable, Mapping, Optional

from tts_cli.errors import UsageError
from tts_cli.strategies.base import Pool, SearchContext, SearchResult
from tts_cli.strategies.options import Flag, Options, declarations, merge_flags

StrategyFn = Callable[[SearchContext], SearchResult]
PoolSelect = Callable[[Pool, Any], Optional[int]]  # (samples, its options) -> the chosen one (None: no answer)

SAMPLING = ("n", "temperature", "top_p", "max_tokens", "budget")  # SearchConfig fields most strategies read
SAMPLE_POOLS = ("cot", "program", "mixed")  # what a strategy's samples are (StrategyInfo.samples)


@dataclass(frozen=True)
class StrategyInfo:
    name: str
    run: StrategyFn
    summary: str
    options: type[Options] = Options  # its own options, declared with their flags and checks
    reads: tuple[str, ...] = SAMPLING  # the SearchConfig settings it reads (listed by `tts strategies`)
    needs_verifier: bool = False  # fails without a verifier
    reads_scores: bool = False  # uses verifier scores when a verifier is given (implied by needs_verifier)
    deterministic: bool = False  # one greedy sample: -n, the sampling settings and any verifier do not matter
    select: Optional[PoolSelect] = None  # how it chooses among N samples of a shared pool (see ``poolable``)
    # draws only full solutions from the prompt (sample i with seed index i, or the greedy one), so
    # `tts bench --replay` can run it on a problem's cached greedy run and sample pool
    replayable: bool = False
    # the kind of samples its pool holds: "cot" (chain of thought), "program" (programs run in the
    # sandbox) or "mixed" (the two alternating, a chain of thought first)
    samples: str = "cot"
    needs_sandbox: bool = False  # runs model-written programs: refused where no sandbox is available

    @property
    def poolable(self) -> bool:
        """Its -n N result is ``select`` over the first N samples of one pool of full solutions
        (sample i drawn with seed index i), so `tts bench` reads every N from one batch."""
        return self.select is not None

    def make_options(self, values: Mapping[str, Any] = {}) -> Options:
        """Its options from command-line values keyed by dest (``{"beam_width": 4}``)."""
        return self.options.from_values(values)


_STRATEGIES: dict[str, StrategyInfo] = {}
_loaded = False


def register(
    name: str,
    *,
    summary: str,
    options: type[Options] = Options,
    reads: tuple[str, ...] = SAMPLING,
    needs_verifier: bool = False,
    reads_scores: bool = False,
    deterministic: bool = False,
    select: Optional[PoolSelect] = None,
    replayable: bool = False,
    samples: str = "cot",
    needs_sandbox: bool = False,
) -> Callable[[StrategyFn], StrategyFn]:
    declarations(options)  # an undeclared field fails at registration, not at the first run
    if samples not in SAMPLE_POOLS:
        raise ValueError(f"samples must be one of {', '.join(SAMPLE_POOLS)}, not {samples!r}")
    if reads_scores or needs_verifier:
        reads = tuple(dict.fromkeys((*reads, "aggregate")))
    info_args = (
        summary, options, reads, needs_verifier, reads_scores or needs_verifier, deterministic, select, replayable,
        samples, needs_sandbox or samples != "cot",
    )  # fmt: skip

    def decorator(fn: StrategyFn) -> StrategyFn:
        _STRATEGIES[name] = StrategyInfo(name, fn, *info_args)
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


def greedy_run(samples: str) -> str:
    """The strategy that draws the one greedy solution of a kind of sample (the first registered
    deterministic strategy whose samples are ``samples``)."""
    for info in available():
        if info.deterministic and info.samples == samples:
            return info.name
    raise UsageError(f"no registered strategy draws a greedy {samples} solution")


def selecting() -> list[str]:
    """The poolable strategies that choose among their samples by a ``--select`` selector (those
    a bench evaluates every selector for, on the same pools)."""
    return [
        info.name for info in available()
        if info.poolable and any(d.name == "select" for d in declarations(info.options))
    ]  # fmt: skip


def strategy_flags() -> list[Flag]:
    """Every registered strategy's options as command-line flags (a shared flag once)."""
    return merge_flags((info.name, info.options) for info in available())


def flag_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` completed with the default of every strategy flag it lacks, in flag order."""
    return {flag.dest: values.get(flag.dest, flag.default) for flag in strategy_flags()}
