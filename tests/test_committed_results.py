"""Every committed bench table reprints from its per-problem file: the rows `tts bench --reprint`
builds equal the rows of the committed summary (docs/bench/NAME.json beside NAME.jsonl)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tts_cli.bench.report import read_outcomes
from tts_cli.bench.rows import build_rows, mark_pareto

BENCH = Path(__file__).resolve().parent.parent / "docs" / "bench"
SUMMARIES = sorted(
    path for path in [*BENCH.glob("*.json"), *BENCH.glob("*/*.json")]
    if path.with_suffix(".jsonl").exists() and json.loads(path.read_text()).get("command") == "bench"
)  # fmt: skip


def test_there_are_committed_tables():
    assert len(SUMMARIES) >= 10


@pytest.mark.parametrize("summary", SUMMARIES, ids=lambda p: str(p.relative_to(BENCH)))
def test_a_committed_table_reprints_from_its_per_problem_file(summary):
    committed = json.loads(summary.read_text())
    rows = build_rows(read_outcomes(summary.with_suffix(".jsonl")), committed["parameters"]["strategies"])
    mark_pareto(rows)
    assert len(rows) == len(committed["rows"])
    for row, old in zip(rows, committed["rows"]):
        new = row.to_dict()
        for key, value in old.items():  # the committed columns (later ones, e.g. no_answer, may be new)
            if isinstance(value, float):
                assert math.isclose(new[key], value, rel_tol=1e-9, abs_tol=1e-12), (old["strategy"], old["n"], key)
            else:
                assert new[key] == value, (old["strategy"], old["n"], key)
