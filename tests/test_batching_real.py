"""Continuous batching on the real llama.cpp engine (smollm2-135m): several callers, one decode loop."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from tts_cli.cost import ModelUsage
from tts_cli.engine import EngineOptions, SamplingParams, load_engine
from tts_cli.engine.scheduler import EngineClosedError
from tts_cli.errors import ContextOverflowError

pytestmark = pytest.mark.real

# distinct first words: no prompt shares a prefix with another, so each one's prefill is the same
# batch alone or merged, and its first sampled token must be the same too
WORDS = ["Apples", "Bridges", "Clouds", "Dragons", "Engines", "Forests"]


def engine_at(path: Path, n_ctx: int = 4096) -> Any:
    return load_engine(path, name="smollm2-135m", options=EngineOptions(n_ctx=n_ctx, n_threads=2, n_seq_max=32))


def in_threads(calls: list[Any]) -> list[Any]:
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_merged_callers_get_exactly_their_own_completions(smollm2_path: Path) -> None:
    engine = engine_at(smollm2_path)
    prompts = [engine.tokenize(f"{w} are interesting because") for w in WORDS]
    params = [[SamplingParams(temperature=0.9, max_tokens=6 + 3 * i, seed=10 * i + k) for k in range(i % 3 + 1)] for i in range(len(WORDS))]
    alone = [engine.generate([p] * len(ps), ps) for p, ps in zip(prompts, params)]
    engine.forget()
    engine.enable_batching()
    usages = [ModelUsage(model="m", params=1) for _ in WORDS]
    merged = in_threads([
        (lambda p=p, ps=ps, u=u: engine.generate([p] * len(ps), ps, usage=u)) for p, ps, u in zip(prompts, params, usages)
    ])
    assert engine.scheduler is not None and engine.scheduler.peak_running >= 2  # really merged
    for p, ps, solo, got, usage in zip(prompts, params, alone, merged, usages):
        assert not isinstance(got, Exception), got
        assert len(got) == len(ps)
        assert [c.tokens[:1] for c in got] == [c.tokens[:1] for c in solo]  # same prefill, same first token
        assert all(len(c.tokens) <= s.max_tokens for c, s in zip(got, ps))
        # each caller is charged its own work: its prompt once, its own generated tokens
        assert usage.prompt_tokens + usage.cached_tokens == len(p) * len(ps)
        assert usage.generated_tokens == sum(c.generated_tokens for c in got)
    engine.close()


def test_scoring_and_generation_interleave(smollm2_path: Path) -> None:
    engine = engine_at(smollm2_path)
    prompt = engine.tokenize("Is the sky blue? Answer:")
    yes, no = engine.tokenize(" Yes")[0], engine.tokenize(" No")[0]
    expected = engine.next_token_logprobs([prompt], [yes, no])
    engine.forget()
    engine.enable_batching()
    results = in_threads([
        lambda: engine.generate([engine.tokenize("Dragons are")], [SamplingParams(temperature=0.0, max_tokens=30)]),
        lambda: engine.next_token_logprobs([prompt], [yes, no]),
    ])
    assert len(results[0]) == 1 and results[0][0].tokens
    assert results[1][0] == pytest.approx(expected[0], abs=1e-3)
    engine.close()


def test_a_failing_caller_does_not_disturb_the_others(smollm2_path: Path) -> None:
    engine = engine_at(smollm2_path, n_ctx=512)
    engine.enable_batching()
    too_long = list(engine.tokenize("word " * 600))
    results = in_threads([
        lambda: engine.generate([engine.tokenize("Bridges are")], [SamplingParams(temperature=0.0, max_tokens=20)]),
        lambda: engine.generate([too_long], [SamplingParams(temperature=0.0, max_tokens=20)]),
        lambda: engine.generate([engine.tokenize("Clouds are")], [SamplingParams(temperature=0.0, max_tokens=20)]),
    ])
    assert isinstance(results[1], ContextOverflowError)
    assert results[0][0].tokens and results[2][0].tokens
    engine.close()


def test_requests_larger_than_the_cache_together_are_admitted_in_turn(smollm2_path: Path) -> None:
    # 4 callers × 4 sequences × 100 tokens > 1024 cells: the scheduler must queue, not overflow or hang
    engine = engine_at(smollm2_path, n_ctx=1024)
    engine.enable_batching()
    calls = [
        (lambda w=w: engine.generate([engine.tokenize(f"{w} are")] * 4,
                                     [SamplingParams(temperature=0.9, max_tokens=100, seed=s) for s in range(4)]))
        for w in WORDS[:4]
    ]
    results = in_threads(calls)
    assert all(isinstance(r, list) and len(r) == 4 for r in results), results
    engine.close()


def test_closing_the_engine_fails_callers_waiting_in_the_queue(smollm2_path: Path) -> None:
    engine = engine_at(smollm2_path, n_ctx=512)
    engine.enable_batching()
    started = threading.Event()
    outcome: list[Any] = []

    def caller() -> None:
        started.set()
        try:
            outcome.append(engine.generate([engine.tokenize("Forests are")] * 2,
                                           [SamplingParams(temperature=0.9, max_tokens=400, seed=s) for s in range(2)]))
        except Exception as exc:  # noqa: BLE001
            outcome.append(exc)

    thread = threading.Thread(target=caller)
    thread.start()
    started.wait()
    engine.close()
    thread.join(60)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], (EngineClosedError, list)), outcome


def test_solve_with_workers_on_a_local_model(cli: Any, tmp_path: Path, smollm2_path: Path) -> None:
    problems = tmp_path / "p.jsonl"
    problems.write_text("".join(json.dumps({"id": i, "question": f"What is {i} + {i}?", "answer": f"#### {2 * i}"}) + "\n" for i in range(1, 9)))
    out = tmp_path / "out.jsonl"
    result = cli("solve", str(problems), "-o", str(out), "--policy", "smollm2-135m", "--threads", "2", "--no-tree",
                 "-s", "majority", "-n", "3", "--max-tokens", "48", "--budget", "100", "--workers", "4")
    assert result.code == 0, result.err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in records) == list(range(1, 9))
    for r in records:
        policy = r["cost"]["policy"]
        assert policy["generated_tokens"] <= 100  # each problem's own budget
        assert policy["generated_tokens"] == sum(c["tokens"] for c in r["candidates"])
        assert len(r["candidates"]) <= 3
