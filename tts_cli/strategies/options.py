"""Declared options: what a strategy can be told, each option declared once, next to its strategy.

A strategy's options are a frozen dataclass deriving from ``Options``; every field is made with
``option(default, *flags, help=..., <checks>)``. The dataclass checks itself on construction, so a
library caller meets the same errors (``UsageError``, worded for the command line) as a user. The
CLI flags, their help and `tts strategies` are generated from these declarations: a strategy whose
options are declared here needs no change anywhere in ``cli/``.

Several strategies may declare the same flag (``--beam-width`` is beams kept for ``beam``, the
subtree width for ``dvts``, children per expansion for ``mcts``): each declares it with its own help
and field name, and the command line has one flag whose value goes to each of them
(``merge_flags``). Such a flag is named by its first long spelling (``beam_width``): its *dest*.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional, TypeVar

from tts_cli.errors import UsageError

_SPEC = "tts_cli.option"

Rule = tuple[Callable[[Any], bool], str]  # (is the value acceptable, "must be ..." for the message)


@dataclass(frozen=True)
class OptionSpec:
    flags: tuple[str, ...]  # CLI spellings, e.g. ("--beam-width", "-m")
    help: str
    minimum: Optional[float] = None  # ints: "at least"; floats: finite and ">="
    choices: tuple[str, ...] = ()
    rule: Optional[Rule] = None
    at_most_n: bool = False  # may not exceed -n: the CLI refuses a larger value, the bench caps it
    # added after bench results were cached: at its default it stays out of the bench's cache key,
    # so those results (computed when it did not exist, i.e. at its default) are still found
    added_later: bool = False

    @property
    def flag(self) -> str:
        """How messages and `tts strategies` name the option: its first spelling."""
        return self.flags[0]

    @property
    def dest(self) -> str:
        """The name of the option's value on the command line, from its first long spelling."""
        long = next((f for f in self.flags if f.startswith("--")), self.flags[0])
        return long.lstrip("-").replace("-", "_")


def option(
    default: Any,
    *flags: str,
    help: str,
    minimum: Optional[float] = None,
    choices: Iterable[str] = (),
    rule: Optional[Rule] = None,
    at_most_n: bool = False,
    added_later: bool = False,
) -> Any:
    """A dataclass field declared as an option: its default, CLI spellings, help and checks."""
    if not flags or not all(f.startswith("-") for f in flags):
        raise ValueError(f"an option needs its CLI spellings, e.g. '--beam-width' (got {flags!r})")
    spec = OptionSpec(tuple(flags), help, minimum, tuple(choices), rule, at_most_n, added_later)
    return field(default=default, metadata={_SPEC: spec})


@dataclass(frozen=True)
class Declared:
    """One declared option of an options class."""

    name: str  # the field
    type: Any  # its resolved annotation
    default: Any
    spec: OptionSpec

    def check(self, value: Any) -> None:
        """Raise a UsageError naming the flag when ``value`` breaks a declared rule."""
        spec = self.spec
        if value is None:  # an optional option left unset
            return
        if spec.choices and value not in spec.choices:
            raise UsageError(f"{spec.flag} must be one of {', '.join(spec.choices)} (got {value!r})")
        if spec.minimum is not None:
            if _is_float(self.type):
                if not math.isfinite(value) or value < spec.minimum:
                    raise UsageError(f"{spec.flag} must be >= {spec.minimum} (got {value})")
            elif value < spec.minimum:
                raise UsageError(f"{spec.flag} must be at least {spec.minimum} (got {value})")
        if spec.rule is not None and not spec.rule[0](value):
            raise UsageError(f"{spec.flag} {spec.rule[1]} (got {value})")


def _is_float(hint: Any) -> bool:
    return hint is float or float in typing.get_args(hint)


OptionsT = TypeVar("OptionsT", bound="Options")


@dataclass(frozen=True)
class Options:
    """Base of every options class; a strategy without options registers ``Options`` itself."""

    def __post_init__(self) -> None:
        for declared in declarations(type(self)):
            declared.check(getattr(self, declared.name))

    @classmethod
    def from_values(cls: type[OptionsT], values: Mapping[str, Any]) -> OptionsT:
        """The options from command-line values keyed by dest (``beam_width`` for ``--beam-width``);
        values it does not declare are ignored, and missing or None ones keep their defaults."""
        given = {d.name: values[d.spec.dest] for d in declarations(cls) if values.get(d.spec.dest) is not None}
        return cls(**given)

    def capped(self: OptionsT, n: int) -> OptionsT:
        """A copy with every option that may not exceed -n lowered to ``n``."""
        lowered = {declared.name: n for declared, _ in self.above_n(n)}
        return dataclasses.replace(self, **lowered) if lowered else self

    def runs_programs(self) -> bool:
        """Whether these options make the strategy run model-written programs (so it needs the
        sandbox and, in ``tts bench``, program samples); a registration's ``samples`` says it for
        strategies that always do."""
        return False

    def above_n(self, n: int) -> list[tuple[Declared, Any]]:
        """The options that may not exceed -n but do, with their values."""
        found = [(d, getattr(self, d.name)) for d in declarations(type(self)) if d.spec.at_most_n]
        return [(d, value) for d, value in found if value is not None and value > n]


_DECLARED: dict[type, tuple[Declared, ...]] = {}


def declarations(cls: type) -> tuple[Declared, ...]:
    """The declared options of an options class, in field order. Every field must be an ``option``."""
    if cls in _DECLARED:
        return _DECLARED[cls]
    if not (isinstance(cls, type) and issubclass(cls, Options) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"strategy options must be a dataclass deriving from Options (got {cls!r})")
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(_SPEC)
        if spec is None:
            raise TypeError(f"{cls.__name__}.{f.name} is not declared with option(...)")
        out.append(Declared(f.name, hints[f.name], f.default, spec))
    _DECLARED[cls] = tuple(out)
    return _DECLARED[cls]


@dataclass(frozen=True)
class Flag:
    """One command-line flag and every strategy option declared with it."""

    dest: str
    flags: tuple[str, ...]
    type: Any
    default: Any  # None when the strategies' defaults differ: each then keeps its own
    help: str
    owners: tuple[str, ...]  # the strategies that declare it


def merge_flags(owners: Iterable[tuple[str, type[Options]]]) -> list[Flag]:
    """One flag per dest over the (strategy name, options class) pairs, in order of first
    declaration. A shared flag must have one type; its help names the strategies that read it and
    what it means for each."""
    grouped: dict[str, list[tuple[str, Declared]]] = {}
    for owner, cls in owners:
        for declared in declarations(cls):
            grouped.setdefault(declared.spec.dest, []).append((owner, declared))
    return [_merge(dest, found) for dest, found in grouped.items()]


def _merge(dest: str, found: list[tuple[str, Declared]]) -> Flag:
    names = tuple(owner for owner, _ in found)
    types = {declared.type for _, declared in found}
    if len(types) > 1:
        raise TypeError(f"option --{dest.replace('_', '-')} has different types in {', '.join(names)}")
    spellings = tuple(dict.fromkeys(f for _, declared in found for f in declared.spec.flags))
    defaults = [declared.default for _, declared in found]
    same_default = all(d == defaults[0] for d in defaults)
    helps: dict[str, list[str]] = {}
    for owner, declared in found:
        helps.setdefault(declared.spec.help.rstrip("."), []).append(owner)
    text = "; ".join(f"{', '.join(who)}: {what[:1].lower()}{what[1:]}" for what, who in helps.items()) + "."
    if not same_default:
        text += " Default: " + ", ".join(f"{owner} {declared.default}" for owner, declared in found) + "."
    return Flag(dest, spellings, types.pop(), defaults[0] if same_default else None, text, names)
