"""Named selectors, as users give them to ``--select``.

Grammar: ``vote`` (plain majority), ``RULE:SIGNAL`` or ``RULE:SIGNAL@PARAM``, or a preset name
(``PRESETS``). RULE is one of ``RULES``; SIGNAL one of ``SIGNALS``; PARAM is the kept fraction of
``filter``, the temperature of ``softmax``, the power of ``borda`` (defaults in ``DEFAULT_PARAM``).
A rule is one entry of ``RULE_TABLE``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

from tts_cli.selection.errors import SelectionError
from tts_cli.selection.rules import Groups, best, borda, filtered_vote, majority, softmax_vote, weighted_vote
from tts_cli.selection.signals import SIGNALS

Chooser = Callable[[Sequence[Optional[str]], Groups, Sequence[float], float], Optional[int]]


@dataclass(frozen=True)
class Param:
    """A rule's ``@PARAM``: its default, what users call it, which values it takes."""

    default: float
    what: str
    accepts: Callable[[float], bool]
    need: str


@dataclass(frozen=True)
class Rule:
    """One selection rule: how it chooses (answers, groups, signal values, parameter), its
    one-line summary for a signal and parameter, and its ``@PARAM`` (None: it takes none)."""

    choose: Chooser
    describe: Callable[[str, Optional[float]], str]
    param: Optional[Param] = None


def _positive(what: str, default: float) -> Param:
    return Param(default, what, lambda value: 0 < value < math.inf, "a number above 0")


def _weighted(how: str) -> Chooser:
    return lambda answers, groups, values, param: weighted_vote(groups, values, how=how)


RULE_TABLE: dict[str, Rule] = {
    "best": Rule(
        lambda answers, groups, values, param: best(answers, values),
        lambda signal, param: f"the one sample with the highest {signal}",
    ),
    "vote-sum": Rule(_weighted("sum"), lambda signal, param: f"vote weighted by {signal}, summed per answer"),
    "vote-mean": Rule(
        _weighted("mean"), lambda signal, param: f"the answer whose samples have the highest mean {signal}"
    ),
    "vote-max": Rule(
        _weighted("max"),
        lambda signal, param: f"the answer of the sample with the highest {signal} (the larger group on ties)",
    ),
    "filter": Rule(
        lambda answers, groups, values, param: filtered_vote(groups, values, keep=param),
        lambda signal, param: f"majority among the {(param or 0) * 100:.4g}% of samples with the highest {signal}",
        Param(0.9, "@PARAM", lambda value: 0 < value <= 1, "a kept fraction in (0, 1]"),
    ),
    "softmax": Rule(
        lambda answers, groups, values, param: softmax_vote(groups, values, temperature=param),
        lambda signal, param: f"vote weighted by softmax({signal} / {_number_or_blank(param)})",
        _positive("temperature", 1.0),
    ),
    "borda": Rule(
        lambda answers, groups, values, param: borda(groups, values, power=param),
        lambda signal, param: f"Borda count on the ranks by {signal} (points ** {_number_or_blank(param)})",
        _positive("power", 1.0),
    ),
}
RULES: tuple[str, ...] = tuple(RULE_TABLE)
DEFAULT_PARAM: dict[str, float] = {name: rule.param.default for name, rule in RULE_TABLE.items() if rule.param}
PRESETS: dict[str, str] = {
    "conf-borda": "borda:lowest_conf@1",
    "conf-vote": "softmax:lowest_conf@1",
    "conf-filter": "filter:lowest_conf@0.75",
    "conf-top10": "filter:lowest_conf@0.1",
    "logprob-softmax": "softmax:mean_logprob@0.1",
    "certainty-borda": "borda:self_certainty@1",
    "judge-vote": "vote-sum:judge",
    "judge-best": "best:judge",
}
_GRAMMAR = "vote, a preset or RULE:SIGNAL[@PARAM]"


@dataclass(frozen=True)
class Selector:
    """A rule applied to one signal (``rule`` is ``majority`` for ``vote``, which reads none)."""

    name: str
    rule: str
    signal: Optional[str] = None
    param: Optional[float] = None
    summary: str = ""

    @property
    def needs(self) -> Optional[str]:
        """The signal it reads (None: none)."""
        return self.signal

    @property
    def spec(self) -> str:
        """The canonical spec: ``parse_selector(spec)`` gives the same rule, signal and parameter."""
        return _spec(self.rule, self.signal, self.param)

    def __str__(self) -> str:
        return self.spec

    def choose(
        self, answers: Sequence[Optional[str]], groups: Groups, signals: Mapping[str, Sequence[float]]
    ) -> Optional[int]:
        """Index of the chosen candidate (None when none has an answer); ``signals`` maps a signal
        name to one value per candidate."""
        if self.rule == "majority" or self.signal is None:
            return majority(groups)
        if self.signal not in signals:
            have = ", ".join(sorted(signals)) or "none"
            raise SelectionError(
                f"selector '{self.name}' needs the signal '{self.signal}', which these candidates lack (they have: {have})"
            )
        values = signals[self.signal]
        if len(values) != len(answers):
            raise SelectionError(
                f"selector '{self.name}': {len(values)} values of '{self.signal}' for {len(answers)} candidates"
            )
        rule = RULE_TABLE.get(self.rule)
        if rule is None:
            raise SelectionError(f"selector '{self.name}': unknown rule '{self.rule}'; rules: {', '.join(RULES)}")
        param = DEFAULT_PARAM.get(self.rule, 0.0) if self.param is None else self.param
        return rule.choose(answers, groups, values, param)


def parse_selector(spec: str) -> Selector:
    """The selector of a spec (see the module's grammar); a bad one raises ``SelectionError``
    naming the valid choices."""
    text = spec.strip()
    if text == "vote":
        return Selector(name="vote", rule="majority", summary="the most common answer (the earliest on ties)")
    if text in PRESETS:
        found = parse_selector(PRESETS[text])
        return Selector(text, found.rule, found.signal, found.param, found.summary)
    rule, colon, rest = text.partition(":")
    rule = rule.strip()
    if rule not in RULES:
        if rule == "vote" and colon:
            raise SelectionError(
                f"'vote' takes no signal in selector '{spec}'; for a weighted vote use vote-sum, vote-mean or vote-max"
            )
        raise SelectionError(
            f"unknown selector '{spec}': use {_GRAMMAR}; presets: {', '.join(PRESETS)}; rules: {', '.join(RULES)}"
        )
    signal, at, number = (part.strip() for part in rest.partition("@"))
    if signal not in SIGNALS:
        what = f"unknown signal '{signal}'" if signal else "no signal"
        raise SelectionError(f"{what} in selector '{spec}' ({rule}:SIGNAL); signals: {', '.join(SIGNALS)}")
    param: Optional[float] = DEFAULT_PARAM.get(rule)
    if at:
        param = _parse_param(spec, rule, number)
    return Selector(_spec(rule, signal, param), rule, signal, param, RULE_TABLE[rule].describe(signal, param))


def available_selectors() -> list[Selector]:
    """``vote`` and the presets, for listings."""
    return [parse_selector("vote")] + [parse_selector(name) for name in PRESETS]


def _parse_param(spec: str, rule: str, number: str) -> float:
    param = RULE_TABLE[rule].param
    if param is None:
        takes = ", ".join(DEFAULT_PARAM)
        raise SelectionError(f"rule '{rule}' takes no @PARAM in selector '{spec}'; only {takes} do")
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if not param.accepts(value):
        raise SelectionError(f"bad {param.what} '{number}' in selector '{spec}': {rule} needs {param.need}")
    return value


def _spec(rule: str, signal: Optional[str], param: Optional[float]) -> str:
    if rule == "majority":
        return "vote"
    text = f"{rule}:{signal}"
    return text if param is None else f"{text}@{_number(param)}"


def _number(value: float) -> str:
    short = f"{value:g}"
    return short if float(short) == value else repr(value)



def _number_or_blank(value: Optional[float]) -> str:
    return "" if value is None else _number(value)
