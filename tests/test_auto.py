"""`auto` routing on scripted engines: unanimous pilot stops, a split pilot escalates, budgets hold."""

from __future__ import annotations

from fakes import ScriptedEngine, ScriptedVerifier, generated

from tts_cli.prompts import MATH
from tts_cli.strategies import SearchConfig, SearchContext, get_strategy
from tts_cli.strategies.auto import AutoOptions, route_decision, schedule
from tts_cli.tree import SearchTree

QUESTION = "What is 3 + 4?"


def context(engine, verifier=None, options=None, **config) -> SearchContext:
    return SearchContext(
        question=QUESTION,
        prompt=engine.chat_prompt(MATH.messages(QUESTION)),
        policy=engine,
        config=SearchConfig(**config),
        tree=SearchTree(QUESTION),
        verifier=verifier,
        options=options,
    )


def answers_by_seed(mapping):
    """A script whose full-solution answer depends on the sample's seed index."""

    def script(text, params, index):
        if params.stop:  # step-level search (beam): a first step, then the answer
            return "So \\boxed{7}" if "Add them." in generated(text) else "Add them.\n\n"
        return f"Step one.\n\nSo the answer is \\boxed{{{mapping(params.seed % 100_003)}}}"

    return script


def test_schedule_doubles_up_to_n():
    assert schedule(1) == [1]
    assert schedule(2) == [2]
    assert schedule(5) == [2, 4, 5]
    assert schedule(16) == [2, 4, 8, 16]


def test_unanimous_pilot_stops_after_one_batch():
    engine = ScriptedEngine(answers_by_seed(lambda i: 7))
    result = get_strategy("auto").run(context(engine, n=16))
    assert result.answer == "7"
    assert engine.calls == [2]  # only the pilot, in one batch
    assert result.info["route"]["decision"] == "stop"
    assert "unanimous" in result.info["route"]["reason"]


def test_split_pilot_escalates_until_the_vote_is_settled():
    # pilot (greedy, seed 1): 7, 8 -> split; seeds 2-3 say 7 -> 3 of 4 agree: settled
    engine = ScriptedEngine(answers_by_seed(lambda i: 8 if i == 1 else 7))
    result = get_strategy("auto").run(context(engine, n=16))
    assert engine.calls == [2, 2]
    assert result.info["route"]["decision"] == "more samples"
    assert [stage["samples"] for stage in result.info["route"]["stages"]] == [2, 4]
    assert result.answer == "7"


def test_close_vote_keeps_doubling_without_a_verifier():
    # 7 and 8 alternate: always tied, so every stage up to -n is drawn, then a vote
    engine = ScriptedEngine(answers_by_seed(lambda i: 7 + i % 2))
    result = get_strategy("auto").run(context(engine, n=16))
    assert engine.calls == [2, 2, 4, 8]
    assert result.info["route"]["decision"] == "vote"
    assert "no verifier" in result.info["route"]["reason"]
    assert result.answer == "7"  # 8 votes each: the earlier group wins


def test_still_split_with_a_verifier_goes_to_beam_search_at_a_quarter_of_n():
    engine = ScriptedEngine(answers_by_seed(lambda i: i))  # every sample disagrees
    verifier = ScriptedVerifier(default=0.6)
    result = get_strategy("auto").run(context(engine, verifier, AutoOptions(width=2), n=16))
    assert result.info["route"]["decision"] == "beam search"
    assert engine.calls[:2] == [2, 2]  # sampling stops at 4 = n / 4
    assert engine.calls[2] == 4  # beam search: max(2 x width, n / 4) continuations per depth
    assert result.answer == "7"


def test_unanimous_but_verifier_unsure_escalates():
    engine = ScriptedEngine(answers_by_seed(lambda i: 7))
    verifier = ScriptedVerifier(default=0.1)
    result = get_strategy("auto").run(context(engine, verifier, n=16))
    assert engine.calls[:2] == [2, 2]
    assert result.info["route"]["decision"] == "more samples"  # 4 of 4 agree: settled without the verifier


def test_route_rules():
    assert route_decision([2], 2, None, "pilot")
    assert route_decision([2], 2, 0.9, "pilot")
    assert route_decision([2], 2, 0.2, "pilot") is None
    assert route_decision([1], 2, None, "pilot") is None  # one answerless sample
    assert route_decision([1, 1], 2, None, "pilot") is None
    assert route_decision([], 2, None, "pilot") is None
    assert route_decision([3, 1], 4, None, "escalated")
    assert route_decision([2, 1, 1], 4, None, "escalated")  # a plurality with half the votes
    assert route_decision([2, 2], 4, None, "escalated") is None  # tied
    assert route_decision([1, 1, 1, 1], 4, None, "escalated") is None
    assert route_decision([4, 2, 1, 1], 8, None, "escalated")
    assert route_decision([3, 1], 8, None, "escalated") is None  # ahead, but under half of the votes
    assert route_decision([5, 4], 9, None, "escalated")
    assert route_decision([4, 3, 2], 9, None, "escalated") is None  # ahead, but under half


def test_budget_is_never_exceeded():
    for budget in (10, 60, 200, 500):
        engine = ScriptedEngine(answers_by_seed(lambda i: i % 3))
        ctx = context(engine, ScriptedVerifier(default=0.6), n=8, budget=budget, max_tokens=100)
        get_strategy("auto").run(ctx)
        assert engine.usage.generated_tokens <= budget
        assert ctx.tree.total_tokens == engine.usage.generated_tokens


def test_the_pilot_is_the_greedy_solution_and_one_sample_in_one_batch():
    seen = []

    def script(text, params, index):
        seen.append(params.temperature)
        return "So the answer is \\boxed{7}" if params.temperature == 0 else "So the answer is \\boxed{8}"

    engine = ScriptedEngine(script)
    result = get_strategy("auto").run(context(engine, n=16, temperature=0.8))
    assert engine.calls[0] == 2 and seen[:2] == [0.0, 0.8]
    assert seen[2:] and all(t == 0.8 for t in seen[2:])  # split pilot: later samples are sampled
    assert result.info["route"]["pilot_greedy"] is True


def test_beam_search_gets_the_tokens_of_a_quarter_of_n_more_samples():
    engine = ScriptedEngine(answers_by_seed(lambda i: i))  # every sample disagrees -> beam search
    ctx = context(engine, ScriptedVerifier(default=0.6), AutoOptions(width=2), n=16)
    result = get_strategy("auto").run(ctx)
    route = result.info["route"]
    sampled = sum(c.tokens for c in result.candidates[: route["samples"]])
    assert route["beam_budget"] == round(4 * sampled / route["samples"])
    assert ctx.tree.total_tokens <= sampled + route["beam_budget"]
