"""The real llama.cpp engine on SmolLM2-135M: batching, seeding, prefix reuse, stops, forking."""

from __future__ import annotations

import math

import pytest

from tts_cli.engine import SamplingParams

pytestmark = pytest.mark.real

QUESTION = [{"role": "user", "content": "Write a short poem about the sea."}]


def test_batch_of_four_gives_four_different_samples(smollm2):
    prompt = smollm2.chat_prompt(QUESTION)
    outs = smollm2.generate([prompt] * 4, [SamplingParams(temperature=1.0, max_tokens=24, seed=i) for i in range(4)])
    assert len(outs) == 4
    assert len({o.text for o in outs}) == 4
    assert all(0 < len(o.tokens) <= 24 for o in outs)


def test_same_seed_same_output(smollm2):
    prompt = smollm2.chat_prompt(QUESTION)
    params = [SamplingParams(temperature=1.0, max_tokens=20, seed=7)]
    first = smollm2.generate([prompt], params)[0]
    # a different batch composition must not change a seeded sequence
    again = smollm2.generate([prompt, prompt], params + [SamplingParams(temperature=1.0, max_tokens=5, seed=8)])[0]
    assert first.tokens == again.tokens


def test_shared_prefix_is_evaluated_once(smollm2):
    prompt = smollm2.chat_prompt([{"role": "user", "content": "Counting test: name three colours, please."}])
    before = smollm2.usage.snapshot()
    k = 4
    outs = smollm2.generate([prompt] * k, [SamplingParams(temperature=1.0, max_tokens=8, seed=i) for i in range(k)])
    used = smollm2.usage.since(before)
    shared_from_earlier = used.cached_tokens - (k - 1) * len(prompt)
    # every prompt token is evaluated once or reused, never both, and k-1 sequences reuse all of it
    assert used.prompt_tokens + shared_from_earlier == len(prompt)
    assert used.prompt_tokens >= 1
    assert used.generated_tokens == sum(len(o.tokens) + (o.finish_reason == "eos") for o in outs)


def test_stop_strings_are_honoured(smollm2):
    prompt = smollm2.chat_prompt([{"role": "user", "content": "List five fruits, one per line."}])
    out = smollm2.generate([prompt], [SamplingParams(temperature=0.0, max_tokens=60, stop=("\n",))])[0]
    assert out.finish_reason == "stop" and out.stop == "\n"
    assert "\n" not in out.text
    assert "\n" in smollm2.detokenize(out.tokens)


def test_fork_continues_without_reevaluating_prefix(smollm2):
    prompt = smollm2.chat_prompt([{"role": "user", "content": "Explain rain in two sentences."}])
    parent = smollm2.generate([prompt], [SamplingParams(temperature=0.0, max_tokens=12)])[0]
    node = list(prompt) + parent.tokens
    before = smollm2.usage.snapshot()
    children = smollm2.generate([node] * 3, [SamplingParams(temperature=1.0, max_tokens=6, seed=i) for i in range(3)])
    used = smollm2.usage.since(before)
    assert len(children) == 3
    # only the parent's last sampled token (never fed back) needs a forward pass
    assert used.prompt_tokens == 1
    assert used.cached_tokens == len(node) - 1 + 2 * len(node)


def test_greedy_matches_sequential_and_batched(smollm2):
    prompt_a = smollm2.chat_prompt([{"role": "user", "content": "What is the capital of France?"}])
    prompt_b = smollm2.chat_prompt([{"role": "user", "content": "Name a big animal."}])
    greedy = SamplingParams(temperature=0.0, max_tokens=16)
    alone = [smollm2.generate([p], [greedy])[0].tokens for p in (prompt_a, prompt_b)]
    together = [o.tokens for o in smollm2.generate([prompt_a, prompt_b], [greedy, greedy])]
    assert alone == together


def test_next_token_logprobs(smollm2):
    prompt = smollm2.tokenize("Question: Is the sky blue? Answer (Yes or No):")
    yes, no = smollm2.tokenize(" Yes")[0], smollm2.tokenize(" No")[0]
    before = smollm2.usage.snapshot()
    (lp,) = smollm2.next_token_logprobs([prompt], [yes, no])
    assert all(v <= 0 for v in lp) and math.exp(lp[0]) + math.exp(lp[1]) <= 1.0 + 1e-6
    assert smollm2.usage.since(before).generated_tokens == 0


def test_many_sequences_do_not_leak_slots(smollm2):
    prompt = smollm2.chat_prompt(QUESTION)
    for round_ in range(3):
        smollm2.generate([prompt] * 16, [SamplingParams(temperature=1.0, max_tokens=4, seed=round_ * 16 + i) for i in range(16)])
    assert len(smollm2._slots.live()) <= smollm2.n_seq_max


def test_distinct_prefixes_in_one_call_share_their_common_part(smollm2):
    common = smollm2.tokenize("A long shared problem statement about trains leaving stations at noon. " * 3)
    tails = [smollm2.tokenize(" First tail."), smollm2.tokenize(" Second, different tail!")]
    prefixes = [common + t for t in tails]
    before = smollm2.usage.snapshot()
    smollm2.next_token_logprobs(prefixes, [smollm2.tokenize(" Yes")[0]])
    used = smollm2.usage.since(before)
    assert used.prompt_tokens + used.cached_tokens == sum(len(p) for p in prefixes)
    assert used.prompt_tokens <= len(common) + sum(len(t) for t in tails)
    assert used.cached_tokens >= len(common) - 1


def test_load_engine_refuses_a_truncated_gguf_before_llama_cpp_maps_it(smollm2_path, tmp_path):
    from tts_cli.engine import EngineOptions, load_engine
    from tts_cli.errors import ModelError

    truncated = tmp_path / "half.gguf"
    with smollm2_path.open("rb") as source:
        truncated.write_bytes(source.read(smollm2_path.stat().st_size // 2))
    with pytest.raises(ModelError, match=r"half\.gguf: truncated GGUF file"):
        load_engine(truncated, name="half", options=EngineOptions(n_ctx=512, n_threads=1))


def test_greedy_picks_what_llama_cpps_own_top_1_sampler_picks(smollm2):
    # greedy tokens come from numpy's argmax of the logits row; llama.cpp's top-k=1 chain is the
    # reference (ties between float logits are not expected on real text)
    prompt = smollm2.chat_prompt([{"role": "user", "content": "List four prime numbers and explain why."}])
    greedy = smollm2.generate([prompt], [SamplingParams(temperature=0.0, max_tokens=32)])[0]
    top_1 = smollm2.generate([prompt], [SamplingParams(temperature=1.0, top_k=1, max_tokens=32, seed=3)])[0]
    assert greedy.tokens == top_1.tokens and len(greedy.tokens) > 8
