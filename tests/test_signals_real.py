"""Per-token confidence signals recorded by the real engine (SmolLM2-135M), and ending single
sequences between decode steps."""

from __future__ import annotations

import math

import pytest

from tts_cli.engine import SamplingParams

pytestmark = pytest.mark.real

QUESTION = [{"role": "user", "content": "What is 7 times 8? Answer briefly."}]


def test_trace_has_one_entry_per_generated_token(smollm2):
    prompt = smollm2.chat_prompt(QUESTION)
    outs = smollm2.generate([prompt] * 3, [SamplingParams(temperature=1.0, max_tokens=24, seed=i) for i in range(3)])
    for out in outs:
        assert out.trace is not None
        assert len(out.trace) == out.generated_tokens
        assert all(v <= 1e-6 for v in out.trace.logprob)
        assert all(e >= -1e-6 for e in out.trace.entropy)
        # -mean of the top-20 log-probs is at least -log p of the most likely token
        assert all(c > 0 for c in out.trace.confidence)


def test_recorded_logprobs_match_a_forward_pass_over_the_same_tokens(smollm2):
    prompt = smollm2.chat_prompt(QUESTION)
    out = smollm2.generate([prompt], [SamplingParams(temperature=1.0, max_tokens=12, seed=3)])[0]
    assert out.trace is not None and len(out.tokens) >= 4
    for i in (0, 1, len(out.tokens) - 1):
        scored = smollm2.next_token_logprobs([list(prompt) + out.tokens[:i]], [out.tokens[i]])[0][0]
        assert math.isclose(scored, out.trace.logprob[i], abs_tol=2e-2), i


def test_greedy_tokens_are_the_most_likely_ones(smollm2):
    prompt = smollm2.chat_prompt(QUESTION)
    out = smollm2.generate([prompt], [SamplingParams(temperature=0.0, max_tokens=10)])[0]
    assert out.trace is not None
    # the argmax token's log-prob is at least the mean of the top-k log-probs (= -confidence)
    for logprob, confidence in zip(out.trace.logprob, out.trace.confidence):
        assert logprob >= -confidence - 1e-4


def test_no_trace_when_signals_are_off(smollm2):
    prompt = smollm2.chat_prompt(QUESTION)
    out = smollm2.generate([prompt], [SamplingParams(temperature=0.0, max_tokens=6, signals_top_k=0)])[0]
    assert out.trace is None


def test_a_monitor_ends_one_sequence_and_leaves_the_others(smollm2):
    prompt = smollm2.chat_prompt([{"role": "user", "content": "Write a long story about a cat."}])
    params = [SamplingParams(temperature=1.0, max_tokens=30, seed=i) for i in range(3)]
    seen: list[tuple[int, int]] = []

    def stop_second_after_five(index: int, trace) -> bool:
        seen.append((index, len(trace)))
        return index == 1 and len(trace) >= 5

    outs = smollm2.generate([prompt] * 3, params, monitor=stop_second_after_five)
    assert outs[1].finish_reason == "stopped"
    assert outs[1].generated_tokens == 5 and len(outs[1].tokens) == 5
    assert all(outs[i].finish_reason != "stopped" for i in (0, 2))
    assert max(outs[i].generated_tokens for i in (0, 2)) > 5
    assert {index for index, _ in seen} == {0, 1, 2}
    assert smollm2.usage.generated_tokens >= sum(o.generated_tokens for o in outs)


def test_a_monitor_works_under_continuous_batching(smollm2_path):
    from concurrent.futures import ThreadPoolExecutor

    from tts_cli.engine import EngineOptions, load_engine

    engine = load_engine(smollm2_path, name="smollm2-135m", options=EngineOptions(n_ctx=4096, n_seq_max=16))
    engine.enable_batching()
    try:
        prompt = engine.chat_prompt([{"role": "user", "content": "Tell me about rivers."}])

        def one(stop_at: int):
            return engine.generate(
                [prompt] * 2, [SamplingParams(temperature=1.0, max_tokens=20, seed=s) for s in range(2)],
                monitor=lambda index, trace: index == 0 and len(trace) >= stop_at,
            )  # fmt: skip

        with ThreadPoolExecutor(2) as pool:
            first, second = pool.map(one, [3, 7])
        assert first[0].finish_reason == "stopped" and first[0].generated_tokens == 3
        assert second[0].finish_reason == "stopped" and second[0].generated_tokens == 7
        assert first[1].finish_reason != "stopped" and second[1].finish_reason != "stopped"
    finally:
        engine.close()


def test_a_monitor_never_ends_the_last_live_sequence(smollm2):
    prompt = smollm2.chat_prompt([{"role": "user", "content": "Write a long story about a dog."}])
    params = [SamplingParams(temperature=1.0, max_tokens=12, seed=i) for i in range(3)]
    outs = smollm2.generate([prompt] * 3, params, monitor=lambda index, trace: True)
    assert [o.finish_reason for o in outs[:2]] == ["stopped", "stopped"]
    assert outs[2].finish_reason != "stopped" and outs[2].generated_tokens > 2
