"""Choosing among sampled solutions: confidence signals, selection rules, named selectors and the
settled-vote stop rule. Pure functions of candidates (stdlib and numpy only)."""

from __future__ import annotations

from tts_cli.selection.errors import SelectionError
from tts_cli.selection.rules import best, borda, filtered_vote, majority, softmax_vote, weighted_vote
from tts_cli.selection.selectors import (
    DEFAULT_PARAM,
    PRESETS,
    RULES,
    Selector,
    available_selectors,
    parse_selector,
)
from tts_cli.selection.signals import BOTTOM, SIGNALS, TAIL, WINDOW, summarize, summarize_trace, window_means
from tts_cli.selection.stopping import beta_above_half, regularized_beta, settle_probability

__all__ = [
    "BOTTOM",
    "DEFAULT_PARAM",
    "PRESETS",
    "RULES",
    "SIGNALS",
    "TAIL",
    "WINDOW",
    "SelectionError",
    "Selector",
    "available_selectors",
    "best",
    "beta_above_half",
    "borda",
    "filtered_vote",
    "majority",
    "parse_selector",
    "regularized_beta",
    "settle_probability",
    "softmax_vote",
    "summarize",
    "summarize_trace",
    "weighted_vote",
    "window_means",
]
