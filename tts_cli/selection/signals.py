"""Per-sample confidence signals, summarised from per-token traces (higher = more confident).

- ``mean_logprob``: mean log p of the sampled tokens;
- ``mean_conf``: mean token confidence (minus the mean top-k log-prob, DeepConf);
- ``lowest_conf``: the lowest group confidence, a group being ``window`` consecutive tokens
  (DeepConf's lowest group confidence; a trace shorter than the window is one group);
- ``bottom_conf``: mean of the lowest ``bottom`` fraction of the group confidences;
- ``tail_conf``: mean confidence of the last ``tail`` tokens;
- ``neg_entropy``: minus the mean entropy of the next-token distribution;
- ``self_certainty``: mean KL(uniform ‖ p) (Kang et al. 2025);
- ``judge``: the verifier's score, supplied by callers and not computed here.

A candidate that generated nothing is the least confident: every signal of an empty trace is
-inf, and so is any summary that comes out NaN.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Callable, Mapping, Sequence, Union

from tts_cli.selection.errors import SelectionError

if TYPE_CHECKING:  # numpy loads when a signal is computed, not when `tts --help` imports this
    import numpy as np

    from tts_cli.engine.types import TokenTrace

WINDOW = 64
TAIL = 64
BOTTOM = 0.10
SIGNALS: tuple[str, ...] = (
    "mean_logprob",
    "mean_conf",
    "lowest_conf",
    "bottom_conf",
    "tail_conf",
    "neg_entropy",
    "self_certainty",
    "judge",
)
NEG_INF = float("-inf")


def window_means(values: Sequence[float] | np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Means of every run of ``window`` consecutive values (stride 1); one mean of all of them
    when there are fewer; empty for no values."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return x
    w = min(window, x.size)
    sums = np.concatenate(([0.0], np.cumsum(x)))
    return (sums[w:] - sums[:-w]) / w


def summarize(
    logprob: Sequence[float],
    confidence: Sequence[float],
    entropy: Sequence[float],
    self_certainty: Sequence[float],
    *,
    window: int = WINDOW,
    tail: int = TAIL,
    bottom: float = BOTTOM,
) -> dict[str, float]:
    """The signals of one sample (every name of ``SIGNALS`` but ``judge``) from its token traces."""
    if window < 1 or tail < 1:
        raise SelectionError(f"window and tail must be at least 1 token, got window={window}, tail={tail}")
    if not 0 < bottom <= 1:
        raise SelectionError(f"bottom must be a fraction in (0, 1], got {bottom}")
    import numpy as np

    conf = np.asarray(confidence, dtype=np.float64)
    groups = window_means(conf, window)
    found = {
        "mean_logprob": _mean(logprob),
        "mean_conf": _mean(conf),
        "lowest_conf": float(groups.min()) if groups.size else NEG_INF,
        "bottom_conf": _bottom_mean(groups, bottom),
        "tail_conf": _mean(conf[-tail:]),
        "neg_entropy": _mean(entropy, sign=-1.0),
        "self_certainty": _mean(self_certainty),
    }
    return {name: NEG_INF if math.isnan(value) else value for name, value in found.items()}


def summarize_trace(trace: Union[TokenTrace, Mapping[str, Sequence[float]]]) -> dict[str, float]:
    """``summarize`` of one sample's trace: a ``TokenTrace`` or its ``to_dict()`` form."""
    series: Callable[[str], Sequence[float]]
    if isinstance(trace, Mapping):
        series = trace.__getitem__
    else:
        series = functools.partial(getattr, trace)
    return summarize(series("logprob"), series("confidence"), series("entropy"), series("self_certainty"))


def _mean(values: Sequence[float] | np.ndarray, sign: float = 1.0) -> float:
    import numpy as np

    x = np.asarray(values, dtype=np.float64)
    return sign * float(x.mean()) if x.size else NEG_INF


def _bottom_mean(groups: np.ndarray, bottom: float) -> float:
    if groups.size == 0:
        return NEG_INF
    # the epsilon keeps 0.1 × 30 = 3.0000000000000004 from becoming 4
    k = max(1, math.ceil(bottom * groups.size - 1e-9))
    import numpy as np

    return float(np.partition(groups, k - 1)[:k].mean())
