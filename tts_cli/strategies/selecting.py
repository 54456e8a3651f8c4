"""The ``--select`` option of the sampling strategies, and choosing with it in a live run."""

from __future__ import annotations

from typing import Any, Optional

from tts_cli.selection import parse_selector
from tts_cli.strategies.base import Pool
from tts_cli.strategies.options import option


def _is_selector(spec: str) -> bool:
    if not isinstance(spec, str):
        return False
    try:
        parse_selector(spec)
    except ValueError:
        return False
    return True


SELECT_RULE = (_is_selector, "must be a selector: vote, a preset or RULE:SIGNAL[@PARAM] (see tts strategies)")


def select_option(default: str) -> Any:
    return option(
        default, "--select", help="How the answer is chosen among the samples (see `tts strategies`).",
        rule=SELECT_RULE,
    )  # fmt: skip


def with_greedy_option() -> Any:
    return option(
        False, "--with-greedy",
        help="Also decode the greedy solution (one of each kind sampled) in the same batch, as one more candidate.",
    )  # fmt: skip


def select_among(pool: Pool, select: str, info: Optional[dict[str, Any]] = None) -> Optional[int]:
    """The sample ``select`` chooses; where the samples lack the signal it reads (an engine that
    records none, e.g. a server), the plain vote, noted in ``info["select_fallback"]``."""
    selector = parse_selector(select)
    signals = pool.with_signals()
    if selector.needs is not None and selector.needs not in signals:
        if info is not None:
            info["select_fallback"] = f"vote: the samples carry no {selector.needs}"
        selector = parse_selector("vote")
    return selector.choose(pool.answers, pool.groups, signals)


def select_by_option(pool: Pool, options: Any) -> Optional[int]:
    """A pool ``select`` for a sampling strategy whose options have a ``select`` field: the sample
    its selector chooses (``vote``: the first member of the largest group, the earliest on ties)."""
    spec = getattr(options, "select", "vote")
    return parse_selector(spec).choose(pool.answers, pool.groups, pool.with_signals())
