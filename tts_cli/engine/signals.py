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

import numpy as np

from tts_cli.engine.types import TokenTrace


@dataclass(frozen=True)
class RowStats:
    """The distribution-wide numbers of some logits rows; ``log_z`` turns a logit into a log-prob."""

    log_z: np.ndarray
    confidence: np.ndarray
    entropy: np.ndarray
    self_certainty: np.ndarray


def row_stats(logits: np.ndarray, top_k: int) -> RowStats:
    """Signals of every row of ``logits`` (shape rows × vocabulary), vectorised."""
    x = np.atleast_2d(np.asarray(logits, dtype=np.float32))
    vocab = x.shape[1]
    top = x.max(axis=1)
    z = x - top[:, None]
    e = np.exp(z)
    total = e.sum(axis=1)
    log_total = np.log(total)
    entropy = log_total - (e * z).sum(axis=1) / total
    mean_logp = z.mean(axis=1) - log_total
    k = max(1, min(top_k, vocab))
    top_values = np.partition(z, vocab - k, axis=1)[:, vocab - k :]
    confidence = -(top_values.mean(axis=1) - log_total)
    return RowStats(
        log_z=(top + log_total).astype(np.float64),
        confidence=confidence.astype(np.float64),
        entropy=entropy.astype(np.float64),
        self_certainty=(-mean_logp - np.log(vocab)).astype(np.float64),
    )


def record(trace: TokenTrace, stats: RowStats, row: int, logit_of_token: float) -> None:
    """Append one generated token's signals (its stats row, and its own logit) to ``trace``."""
    trace.logprob.append(float(logit_of_token - stats.log_z[row]))
    trace.confidence.append(float(stats.confidence[row]))
    trace.entropy.append(float(stats.entropy[row]))
    trace.self_certainty.append(float(stats.self_certainty[row]))
