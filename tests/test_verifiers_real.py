"""Verifiers on the real llama.cpp engine (SmolLM2-135M): scores are meaningless but well-formed."""

from __future__ import annotations

import pytest

from tts_cli.verifiers import PRM_PRESETS, JudgeVerifier, TokenPRMVerifier

pytestmark = pytest.mark.real

QUESTION = "What is 2 + 3?"
SOLUTIONS = [["2 + 3 = 5.", "The answer is 5."], ["2 + 3 = 6.", "The answer is 6."]]


def in_unit_interval(scores: list[list[float]]) -> bool:
    return all(0.0 <= s <= 1.0 for row in scores for s in row)


def test_judge_scores_steps_on_its_own_usage(smollm2):
    policy_before = smollm2.usage.snapshot()
    judge = JudgeVerifier(smollm2)
    scores = judge.score(QUESTION, SOLUTIONS)
    assert [len(row) for row in scores] == [2, 2] and in_unit_interval(scores)
    first = judge.usage.snapshot()
    assert first.prompt_tokens > 0 and first.generated_tokens == 0
    assert first.model == "smollm2-135m" and first.params == smollm2.n_params

    # scoring the last steps again reuses the KV cache of the first call's prompts. The values are
    # not compared: llama.cpp is not batch-invariant (a sequence's logits move by ~0.1 when other
    # sequences sit before it in the unified KV cache), which is noise, not a verifier property.
    again = judge.score(QUESTION, SOLUTIONS, last_only=True)
    assert [len(row) for row in again] == [1, 1] and in_unit_interval(again)
    used = judge.usage.since(first)
    assert used.cached_tokens > used.prompt_tokens and used.generated_tokens == 0

    policy = smollm2.usage.since(policy_before)
    assert (policy.prompt_tokens, policy.cached_tokens, policy.generated_tokens) == (0, 0, 0)


def test_math_shepherd_preset_runs(smollm2):
    prm = TokenPRMVerifier(smollm2, PRM_PRESETS["math-shepherd"])
    scores = prm.score(QUESTION, SOLUTIONS)
    assert [len(row) for row in scores] == [2, 2] and in_unit_interval(scores)
    assert prm.usage.prompt_tokens > 0 and prm.usage.generated_tokens == 0
    text = smollm2.detokenize(prm.prefix(QUESTION, SOLUTIONS[0], 2))
    assert text.endswith("Step 2: The answer is 5. ки")
