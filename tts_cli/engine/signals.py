"""Confidence signals of the next-token distribution, read from raw logits while decoding.

Every generated token gets four numbers, all from the model's own distribution (temperature 1,
before any top-k/top-p cut of the sampler), so they cost no extra tokens:

- ``logprob``: log p of the token that was sampled;
- ``confidence``: minus the mean of the top-k log-probabilities (DeepConf's token confidence:
  large when the distribution is peaked);
- ``entropy``: of the full distribution;
- ``self_certainty``: KL(uniform ‖ p) = -log V - mean_j log p_j (large when far from uniform).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from tts_cli.engine.types import TokenTrace


@dataclass(frozen=True)
class RowStats:
    """The distribution-wide numbers of some logits rows; ``log_z`` turns a logit into a log-prob."""

    log_z: np.ndarray
    confidence: np.ndarray
    entropy: np.ndarray
    self_certainty: np.ndarray


def row_stats(logits: np.ndarray, top_k: int, rows: Optional[Sequence[int]] = None) -> RowStats:
    """Signals of the ``rows`` of ``logits`` (shape rows × vocabulary; all rows by default).

    Row by row on purpose: one row (600 KB for a 151k vocabulary) stays in the CPU cache through
    the five passes below, where whole-batch temporaries do not (about 4× slower at 16 rows). Rows not
    asked for are NaN.
    """
    x = np.atleast_2d(np.asarray(logits, dtype=np.float32))
    count, vocab = x.shape
    k = max(1, min(top_k, vocab))
    out = np.full((4, count), np.nan)
    z = np.empty(vocab, dtype=np.float32)
    e = np.empty(vocab, dtype=np.float32)
    log_vocab = float(np.log(vocab))
    for i in range(count) if rows is None else rows:
        row = x[i]
        top = float(row.max())
        np.subtract(row, top, out=z)
        np.exp(z, out=e)
        total = float(e.sum(dtype=np.float64))
        log_total = float(np.log(total))
        out[0, i] = top + log_total  # log Z
        out[1, i] = log_total - float(np.partition(z, vocab - k)[vocab - k :].mean(dtype=np.float64))
        out[2, i] = log_total - float(np.dot(e, z)) / total  # entropy
        out[3, i] = log_total - float(z.sum(dtype=np.float64)) / vocab - log_vocab  # -mean log p - log V
    return RowStats(log_z=out[0], confidence=out[1], entropy=out[2], self_certainty=out[3])


def record(trace: TokenTrace, stats: RowStats, row: int, logit_of_token: float) -> None:
    """Append one generated token's signals (its stats row, and its own logit) to ``trace``."""
    trace.logprob.append(float(logit_of_token - stats.log_z[row]))
    trace.confidence.append(float(stats.confidence[row]))
    trace.entropy.append(float(stats.entropy[row]))
    trace.self_certainty.append(float(stats.self_certainty[row]))
