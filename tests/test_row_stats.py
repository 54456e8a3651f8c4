"""engine/signals.row_stats against a plain float64 reference, on hand-made logits rows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tts_cli.engine.signals import row_stats


def reference(row: np.ndarray, top_k: int) -> tuple[float, float, float, float]:
    x = row.astype(np.float64)
    log_z = math.log(np.exp(x - x.max()).sum()) + x.max()
    logp = x - log_z
    p = np.exp(logp)
    return log_z, -np.sort(logp)[-top_k:].mean(), float(-(p * logp).sum()), float(-logp.mean() - math.log(len(x)))


def test_every_row_matches_the_reference() -> None:
    rng = np.random.default_rng(7)
    logits = (rng.standard_normal((5, 3000)) * 4).astype(np.float32)
    logits[2, 17] = 40.0  # one peaked row
    stats = row_stats(logits, 20)
    for i in range(5):
        got = (stats.log_z[i], stats.confidence[i], stats.entropy[i], stats.self_certainty[i])
        assert got == pytest.approx(reference(logits[i], 20), rel=1e-5, abs=1e-4)
    assert stats.entropy[2] < 0.01 < stats.entropy[0]  # the peaked row is nearly certain


def test_only_the_rows_asked_for_are_computed() -> None:
    logits = np.zeros((3, 10), dtype=np.float32)
    stats = row_stats(logits, 4, rows=[1])
    assert math.isnan(stats.log_z[0]) and math.isnan(stats.log_z[2])
    assert stats.log_z[1] == pytest.approx(math.log(10))
    assert stats.entropy[1] == pytest.approx(math.log(10))  # uniform: the largest entropy
    assert stats.self_certainty[1] == pytest.approx(0.0, abs=1e-6)  # KL(uniform || uniform)


def test_top_k_larger_than_the_vocabulary_uses_all_of_it() -> None:
    logits = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    stats = row_stats(logits, 50)
    assert stats.confidence[0] == pytest.approx(reference(logits[0], 3)[1])
