"""Every strategy completes on the real engine (smollm2-135m) within a tiny budget."""

from __future__ import annotations

import pytest

from tts_cli.prompts import MATH
from tts_cli.solver import solve
from tts_cli.strategies import SearchConfig, available, get_strategy
from tts_cli.verifiers import JudgeVerifier

pytestmark = pytest.mark.real

BUDGET = 120


@pytest.mark.parametrize("name", [s.name for s in available()])
def test_strategy_completes_with_tree_and_cost(smollm2, name):
    config = SearchConfig(n=4, max_tokens=40, budget=BUDGET)
    flags = {"beam_width": 2, "step_tokens": 16, "max_depth": 4, "iterations": 2, "rounds": 2}
    options = get_strategy(name).make_options(flags)
    verifier = JudgeVerifier(smollm2)
    solution = solve(
        "What is 3 + 4?", strategy=name, policy=smollm2, config=config, prompts=MATH, verifier=verifier, options=options
    )
    policy = solution.cost.policy
    assert len(solution.tree.nodes) > 1
    assert 0 < policy.generated_tokens <= BUDGET
    assert solution.tree.total_tokens == policy.generated_tokens  # cost totals equal the sum over nodes
    assert solution.cost.flops > 0 and solution.cost.wall_seconds > 0
    data = solution.to_dict()
    assert data["strategy"] == name and isinstance(data["tree"], list)
    if name not in ("greedy", "majority"):
        assert solution.cost.verifier is not None
        assert solution.cost.verifier.generated_tokens == 0
