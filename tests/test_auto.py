"""`auto` and `adaptive` on scripted engines: the confidence gate, stages, early stop of weak traces,
the settled vote, budgets; and the bench's replay spends and answers what the live run does."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import ScriptedEngine

from tts_cli.bench.replay import ReplayEngine, ReplayError
from tts_cli.engine.types import SamplingParams
from tts_cli.prompts import MATH
from tts_cli.selection import WINDOW
from tts_cli.strategies import SearchConfig, SearchContext, get_strategy
from tts_cli.strategies.adaptive import AdaptiveOptions, confidence_threshold, stages
from tts_cli.strategies.auto import AutoOptions
from tts_cli.strategies.base import Candidate
from tts_cli.tree import SearchTree

QUESTION = "What is 3 + 4?"
PAD = "x" * (WINDOW + 20)  # long enough for a window of confidence


def context(engine: Any, options: Any = None, **config: Any) -> SearchContext:
    return SearchContext(
        question=QUESTION, prompt=engine.chat_prompt(MATH.messages(QUESTION)), policy=engine,
        config=SearchConfig(**config), tree=SearchTree(QUESTION), options=options,
    )  # fmt: skip


def seed_index(params: SamplingParams) -> int:
    return -1 if params.temperature <= 0 else params.seed % 100_003


def engine_of(answer_of: Any, confidence_of: Any) -> ScriptedEngine:
    """Replies by seed index (-1: greedy); each reply's tokens all have one confidence, taken from
    the reply's first line (``conf=V``)."""

    def script(text: str, params: SamplingParams, index: int) -> str:
        i = seed_index(params)
        return f"conf={confidence_of(i)}\n{PAD}\nSo the answer is \\boxed{{{answer_of(i)}}}"

    def confidence(reply: str) -> list[float]:
        value = float(reply.split("\n", 1)[0].split("=")[1])
        return [value] * (len(reply) + 1)

    return ScriptedEngine(script, confidence=confidence)


def test_stages_double_up_to_n():
    assert stages(4, 16) == [4, 8, 16]
    assert stages(4, 2) == [2]
    assert stages(3, 10) == [3, 6, 10]


def test_a_confident_greedy_answer_stands_alone():
    engine = engine_of(lambda i: 7, lambda i: 20.0)
    result = get_strategy("auto").run(context(engine, AutoOptions(gate_signal="tail_conf", gate=15.0), n=16))
    assert result.answer == "7"
    assert engine.calls == [1]
    assert result.info["route"]["decision"] == "greedy"
    assert len(result.candidates) == 1


def test_an_unsure_greedy_answer_escalates_and_stays_a_candidate():
    # greedy says 8 with low confidence; samples say 7: 3 to 1 after the warm-up stage is not settled
    # (P = 0.81 under Beta(4, 2)), 7 to 1 after the next is (P = 0.98)
    engine = engine_of(lambda i: 8 if i < 0 else 7, lambda i: 5.0 if i < 0 else 20.0)
    result = get_strategy("auto").run(context(engine, AutoOptions(gate=15.0, select="vote", warmup=4, settle=0.95), n=16))
    assert engine.calls == [1, 3, 4]  # greedy alone, the warm-up stage (4 candidates with it), then 8
    assert result.answer == "7"
    assert result.candidates[0].answer == "8"  # the greedy solution is a candidate
    route = result.info["route"]
    assert route["decision"] == "adaptive" and "settled" in route["reason"]
    assert [stage["samples"] for stage in route["stages"]] == [4, 8]
    assert route["stages"][0]["settled"] < 0.95 <= route["stages"][1]["settled"]


def test_a_split_vote_keeps_drawing_stages_until_n():
    engine = engine_of(lambda i: i % 4 if i >= 0 else 9, lambda i: 10.0)
    result = get_strategy("auto").run(context(engine, AutoOptions(gate=50.0, warmup=4, settle=0.95), n=16))
    assert engine.calls == [1, 3, 4, 8]
    assert result.info["route"]["samples"] == 16


def test_weak_traces_after_the_warm_up_are_stopped_early_but_never_the_last_one():
    # warm-up (seeds 0-3) at confidence 10; seeds 4+ at 2: below the warm-up's threshold
    engine = engine_of(lambda i: i % 3, lambda i: 10.0 if i < 4 else 2.0)
    options = AdaptiveOptions(warmup=4, keep=0.9, settle=1.0)
    result = get_strategy("adaptive").run(context(engine, options, n=8))
    stopped, last = result.candidates[4:7], result.candidates[7]
    assert all(c.finish_reason == "stopped" and c.answer is None for c in stopped)
    assert all(c.tokens == WINDOW for c in stopped)  # stopped as soon as one window was below
    assert last.finish_reason == "eos" and last.answer is not None  # the last live one answers
    assert result.info["route"]["stopped_early"] == 3
    full = [len(c.text) + 1 for c in result.candidates[:4]] + [len(last.text) + 1]
    assert engine.usage.generated_tokens == sum(full) + 3 * WINDOW


def test_lockstep_stops_mirror_the_engine_loop():
    from tts_cli.engine.monitor import lockstep_stops
    from tts_cli.engine.types import TokenTrace

    def trace(n: int) -> TokenTrace:
        return TokenTrace([0.0] * n, [1.0] * n, [0.0] * n, [1.0] * n)

    always = lambda index, t: True  # noqa: E731
    # the first token is never checked; each is ended at its second token, except the last live one
    assert lockstep_stops([trace(5), trace(5), trace(5)], [5, 5, 5], always) == [2, 2, None]
    # a sequence that finishes leaves the others; the survivor is whoever is live last
    assert lockstep_stops([trace(1), trace(5)], [1, 5], always) == [None, None]
    at_three = lambda index, t: len(t) == 3  # noqa: E731
    assert lockstep_stops([trace(2), trace(6), trace(6)], [2, 6, 6], at_three) == [None, 3, None]


def test_confidence_threshold_is_the_quantile_of_the_warm_up():
    def candidate(value: float) -> Candidate:
        c = Candidate(text="", answer="1", tokens=1, finish_reason="eos")
        c._signals = {"lowest_conf": value}
        return c

    values = [candidate(v) for v in (5.0, 1.0, 3.0, 4.0, 2.0, 6.0, 7.0, 8.0, 9.0, 10.0)]
    assert confidence_threshold(values, 0.9) == 1.0  # keep 90%: the lowest tenth is below
    assert confidence_threshold(values, 0.5) == 5.0
    assert confidence_threshold(values, 1.0) is None


def test_budget_is_never_exceeded():
    for budget in (30, 200, 800):
        engine = engine_of(lambda i: i % 3, lambda i: 5.0)
        ctx = context(engine, AutoOptions(gate=50.0, warmup=4), n=8, budget=budget, max_tokens=100)
        get_strategy("auto").run(ctx)
        assert engine.usage.generated_tokens <= budget


def test_majority_select_reads_the_signals():
    # two samples say 8 confidently, three say 7 weakly: the vote says 7, a confidence-weighted one 8
    engine = engine_of(lambda i: 8 if i in (0, 1) else 7, lambda i: 30.0 if i in (0, 1) else 1.0)
    from tts_cli.strategies.majority import MajorityOptions

    assert get_strategy("majority").run(context(engine, MajorityOptions(select="vote"), n=5)).answer == "7"
    chosen = get_strategy("majority").run(context(engine, MajorityOptions(select="vote-sum:mean_conf"), n=5))
    assert chosen.answer == "8"
    assert set(chosen.candidates[0].to_dict()["signals"]) >= {"mean_conf", "lowest_conf", "tail_conf"}


def test_majority_with_greedy_adds_the_greedy_solution_first_in_the_same_batch():
    # greedy (seed index -1) says 5, samples alternate 3 and 7: alone they tie (3 wins, the earliest);
    # with the greedy solution first, a three-way tie goes to it
    engine = engine_of(lambda i: 5 if i < 0 else (3 if i % 2 == 0 else 7), lambda i: 10.0)
    from tts_cli.strategies.majority import MajorityOptions

    assert get_strategy("majority").run(context(engine, MajorityOptions(), n=2)).answer == "3"
    engine.calls.clear()
    result = get_strategy("majority").run(context(engine, MajorityOptions(with_greedy=True), n=2))
    assert engine.calls == [3]  # one batch: the greedy solution and the 2 samples
    assert [c.answer for c in result.candidates] == ["5", "3", "7"] and result.answer == "5"
    assert result.info["greedy_candidates"] == 1
    assert result.info["votes"] == [{"answer": "5", "votes": 1}, {"answer": "3", "votes": 1}, {"answer": "7", "votes": 1}]
    # the samples are the same seeds as without it: 4 samples say 3, 7, 3, 7 and 3 wins over the greedy 5
    assert get_strategy("majority").run(context(engine, MajorityOptions(with_greedy=True), n=4)).answer == "3"
    assert get_strategy("majority").make_options({"with_greedy": True}).with_greedy is True


# ------------------------------------------------------------------------------ replay


def cached(engine: ScriptedEngine, size: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the bench caches for a problem: the greedy run and a pool of ``size`` samples."""
    prompt = engine.chat_prompt(MATH.messages(QUESTION))
    config = SearchConfig()
    greedy = engine.generate([prompt], [config.sampling(0, temperature=0.0)])[0]
    samples = engine.generate([prompt] * size, [config.sampling(i) for i in range(size)])
    pool = {
        "size": size, "seed": 0, "model": engine.name, "params": engine.n_params,
        "answers": [None] * size, "tokens": [c.generated_tokens for c in samples],
        "finish": [c.finish_reason for c in samples], "prompt_tokens": len(prompt), "cached_tokens": 0,
        "wall_seconds": 1.0, "texts": [c.text for c in samples],
        "traces": [c.trace.to_dict() for c in samples if c.trace is not None],
    }  # fmt: skip
    run = {
        "answer": None, "policy_tokens": greedy.generated_tokens, "policy_prompt_tokens": len(prompt),
        "wall_seconds": 0.5, "text": greedy.text, "trace": greedy.trace.to_dict() if greedy.trace else None,
    }  # fmt: skip
    return pool, run


@pytest.mark.parametrize(
    "answer_of, confidence_of",
    [
        (lambda i: 7, lambda i: 20.0),  # confident greedy
        (lambda i: 8 if i < 0 else 7, lambda i: 5.0 if i < 0 else 20.0),  # settled after a stage
        (lambda i: i % 3, lambda i: 10.0 if i < 4 else 2.0),  # weak traces stopped early
        (lambda i: i % 4, lambda i: 8.0 + (i % 5)),  # split to the end
    ],
)
@pytest.mark.parametrize(
    "strategy, options",
    [("auto", AutoOptions(gate_signal="tail_conf", gate=15.0)), ("auto", AutoOptions()), ("adaptive", AdaptiveOptions())],
)
def test_a_replay_spends_and_answers_what_the_live_run_does(answer_of, confidence_of, strategy, options):
    live_engine = engine_of(answer_of, confidence_of)
    live = get_strategy(strategy).run(context(live_engine, options, n=16))
    pool, greedy = cached(engine_of(answer_of, confidence_of), 16)
    replay_engine = ReplayEngine(pool, greedy, seed=0)
    replayed = get_strategy(strategy).run(context(replay_engine, options, n=16))
    assert replayed.answer == live.answer
    assert replay_engine.usage.generated_tokens == live_engine.usage.generated_tokens
    assert [c.finish_reason for c in replayed.candidates] == [c.finish_reason for c in live.candidates]


def test_a_replay_refuses_what_the_cache_does_not_hold():
    pool, greedy = cached(engine_of(lambda i: i % 4, lambda i: 8.0), 4)
    engine = ReplayEngine(pool, greedy, seed=0)
    with pytest.raises(ReplayError, match="holds 4"):
        get_strategy("adaptive").run(context(engine, AdaptiveOptions(settle=1.0), n=8))
    engine = ReplayEngine({k: v for k, v in pool.items() if k != "texts"}, greedy, seed=0)
    with pytest.raises(ReplayError, match="no texts"):
        get_strategy("adaptive").run(context(engine, AdaptiveOptions(), n=4))


# ------------------------------------------------------------------------------ auto --check program


def checked_engine(answer_of: Any, confidence_of: Any, program_of: Any) -> ScriptedEngine:
    """``engine_of``, and for the program prompt a program printing ``program_of(seed index)``."""
    base = engine_of(answer_of, confidence_of)
    cot_script, cot_confidence = base._script, base.confidence

    def script(text: str, params: SamplingParams, index: int) -> str:
        if "Python program" in text:
            return f"```python\n# {PAD}\nprint({program_of(seed_index(params))})\n```"
        return cot_script(text, params, index)

    def confidence(reply: str) -> list[float]:
        return [20.0] * (len(reply) + 1) if reply.startswith("```") else list(cot_confidence(reply))  # type: ignore[misc]

    return ScriptedEngine(script, confidence=confidence)


def test_a_greedy_program_that_agrees_confirms_a_doubtful_greedy_answer(sandboxed):
    engine = checked_engine(lambda i: 7, lambda i: 5.0, lambda i: 7)
    result = get_strategy("auto").run(context(engine, AutoOptions(check="program"), n=16))
    assert result.answer == "7" and result.info["route"]["decision"] == "agree"
    assert engine.calls == [1, 1]  # the greedy chain of thought, then the greedy program
    assert [c.program is not None for c in result.candidates] == [False, True]
    # without the check the same doubtful answer escalates to sampling
    engine = checked_engine(lambda i: 7, lambda i: 5.0, lambda i: 7)
    assert get_strategy("auto").run(context(engine, AutoOptions(), n=16)).info["route"]["decision"] == "adaptive"


def test_a_disagreeing_program_escalates_to_samples_alternating_the_two_kinds(sandboxed):
    engine = checked_engine(lambda i: 8 if i < 0 else 7, lambda i: 5.0 if i < 0 else 20.0, lambda i: 7)
    result = get_strategy("auto").run(context(engine, AutoOptions(check="program", warmup=4), n=16))
    route = result.info["route"]
    assert route["decision"] == "adaptive" and route["program"] == "7"
    kinds = ["program" if c.program is not None else "cot" for c in result.candidates]
    assert kinds == ["cot", "program", "cot", "program"]  # warm-up of 4: greedy pair, then one of each kind
    assert route["stages"][0]["votes"] == [3, 1] and "settled" in route["reason"]
    assert result.answer == "7"


def test_a_confident_chain_stands_when_the_program_disagrees_with_a_chain_gate(sandboxed):
    # the greedy chain says 8 with lowest_conf 9: below the gate (10), above the chain gate (8)
    engine = checked_engine(lambda i: 8 if i < 0 else 7, lambda i: 9.0, lambda i: 7)
    result = get_strategy("auto").run(context(engine, AutoOptions(check="program", chain_gate=8.0), n=16))
    route = result.info["route"]
    assert route["decision"] == "chain" and result.answer == "8" and route["program"] == "7"
    assert engine.calls == [1, 1]  # the two greedy solutions, nothing sampled
    # without a chain gate the same disagreement escalates to sampling
    engine = checked_engine(lambda i: 8 if i < 0 else 7, lambda i: 9.0, lambda i: 7)
    assert get_strategy("auto").run(context(engine, AutoOptions(check="program"), n=16)).info["route"]["decision"] == "adaptive"


def test_program_first_stands_on_a_confident_program_and_is_checked_by_the_chain_below_the_gate(sandboxed):
    # programs' traces have confidence 20 (checked_engine): at gate 10 the program stands alone
    engine = checked_engine(lambda i: 8, lambda i: 5.0, lambda i: 7)
    result = get_strategy("auto").run(context(engine, AutoOptions(first="program"), n=16))
    assert result.answer == "7" and result.info["route"]["decision"] == "greedy" and engine.calls == [1]
    assert result.candidates[0].program is not None
    # at gate 30 the greedy chain checks it: they agree on 7
    engine = checked_engine(lambda i: 7, lambda i: 5.0, lambda i: 7)
    result = get_strategy("auto").run(context(engine, AutoOptions(first="program", gate=30.0), n=16))
    assert result.info["route"]["decision"] == "agree" and result.answer == "7" and engine.calls == [1, 1]
    assert AutoOptions(first="program").runs_programs()


@pytest.mark.parametrize(
    "answer_of, confidence_of, program_of",
    [
        (lambda i: 7, lambda i: 5.0, lambda i: 7),  # agree
        (lambda i: 8 if i < 0 else 7, lambda i: 5.0 if i < 0 else 20.0, lambda i: 7),  # escalate, settle
        (lambda i: i % 3, lambda i: 10.0 if i < 4 else 2.0, lambda i: i % 2),  # weak traces stopped early
    ],
)
def test_a_replay_with_program_checks_spends_and_answers_what_the_live_run_does(
    sandboxed, answer_of, confidence_of, program_of
):
    options = AutoOptions(check="program")
    live_engine = checked_engine(answer_of, confidence_of, program_of)
    live = get_strategy("auto").run(context(live_engine, options, n=16))
    recorder = checked_engine(answer_of, confidence_of, program_of)
    pool, greedy = cached(recorder, 16)
    from tts_cli.prompts import prompt_set

    program_prompt = recorder.chat_prompt(prompt_set("program").messages(QUESTION))
    config = SearchConfig()
    program_greedy = recorder.generate([program_prompt], [config.sampling(0, temperature=0.0)])[0]
    programs = recorder.generate([program_prompt] * 16, [config.sampling(i) for i in range(16)])
    program_pool = {
        **pool, "tokens": [c.generated_tokens for c in programs], "finish": [c.finish_reason for c in programs],
        "texts": [c.text for c in programs], "traces": [c.trace.to_dict() for c in programs if c.trace is not None],
        "prompt_tokens": len(program_prompt),
    }  # fmt: skip
    program_run = {"policy_tokens": program_greedy.generated_tokens, "policy_prompt_tokens": len(program_prompt),
                   "wall_seconds": 0.2, "text": program_greedy.text, "trace": program_greedy.trace.to_dict()}  # fmt: skip
    replay_engine = ReplayEngine(pool, greedy, seed=0, programs=program_pool, program_greedy=program_run)
    replayed = get_strategy("auto").run(context(replay_engine, options, n=16))
    assert replayed.answer == live.answer
    assert replayed.info["route"]["decision"] == live.info["route"]["decision"]
    assert replay_engine.usage.generated_tokens == live_engine.usage.generated_tokens
    assert [c.finish_reason for c in replayed.candidates] == [c.finish_reason for c in live.candidates]
    assert [c.program is not None for c in replayed.candidates] == [c.program is not None for c in live.candidates]
