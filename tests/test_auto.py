"""`auto` routing on scripted engines: unanimous pilot stops, a split pilot escalates, budgets hold."""

from __future__ import annotations

from fakes import ScriptedEngine, ScriptedVerifier, generated

from tts_cli.prompts import MATH
from tts_cli.strategies import SearchConfig, SearchContext, get_strategy
from tts_cli.strategies.auto import CLEAR_MAJORITY, route_decision
from tts_cli.tree import SearchTree

QUESTION = "What is 3 + 4?"


def context(engine, verifier=None, **config) -> SearchContext:
    return SearchContext(
        question=QUESTION,
        prompt=engine.chat_prompt(MATH.messages(QUESTION)),
        policy=engine,
        config=SearchConfig(**config),
        tree=SearchTree(QUESTION),
        verifier=verifier,
    )


def answers_by_seed(mapping):
    """A script whose full-solution answer depends on the sample's seed index."""

    def script(text, params, index):
        if params.stop:  # step-level search (beam): a first step, then the answer
            return "So \\boxed{7}" if "Add them." in generated(text) else "Add them.\n\n"
        return f"Step one.\n\nSo the answer is \\boxed{{{mapping(params.seed % 100_003)}}}"

    return script


def test_unanimous_pilot_stops_after_one_batch():
    engine = ScriptedEngine(answers_by_seed(lambda i: 7))
    result = get_strategy("auto").run(context(engine, n=16))
    assert result.answer == "7"
    assert engine.calls == [4]  # only the pilot, in one batch
    assert result.info["route"]["decision"] == "stop"
    assert "unanimous" in result.info["route"]["reason"]


def test_split_pilot_escalates_to_more_samples():
    # pilot (seeds 0-3): 7, 8, 7, 8 -> split; the next 12 samples mostly say 7
    engine = ScriptedEngine(answers_by_seed(lambda i: 8 if i in (1, 3, 5) else 7))
    result = get_strategy("auto").run(context(engine, n=16))
    assert engine.calls == [4, 12]
    assert result.info["route"]["decision"] == "more samples"
    assert result.answer == "7"


def test_still_split_with_a_verifier_goes_to_beam_search():
    engine = ScriptedEngine(answers_by_seed(lambda i: i))  # every sample disagrees
    verifier = ScriptedVerifier(default=0.6)
    result = get_strategy("auto").run(context(engine, verifier, n=8, beam_width=2))
    assert result.info["route"]["decision"] == "beam search"
    assert engine.calls[:2] == [4, 4] and len(engine.calls) > 2
    assert result.answer == "7"


def test_unanimous_but_verifier_unsure_escalates():
    engine = ScriptedEngine(answers_by_seed(lambda i: 7))
    verifier = ScriptedVerifier(default=0.1)
    result = get_strategy("auto").run(context(engine, verifier, n=8))
    assert engine.calls[:2] == [4, 4]
    assert result.info["route"]["decision"] != "stop"


def test_route_rules():
    assert route_decision(1.0, True, None, "pilot")
    assert route_decision(1.0, True, 0.9, "pilot")
    assert route_decision(1.0, True, 0.2, "pilot") is None
    assert route_decision(0.5, False, None, "pilot") is None
    assert route_decision(CLEAR_MAJORITY, False, None, "escalated")
    assert route_decision(CLEAR_MAJORITY - 0.01, False, None, "escalated") is None


def test_budget_is_never_exceeded():
    for budget in (10, 60, 200, 500):
        engine = ScriptedEngine(answers_by_seed(lambda i: i % 3))
        ctx = context(engine, ScriptedVerifier(default=0.6), n=8, budget=budget, max_tokens=100)
        get_strategy("auto").run(ctx)
        assert engine.usage.generated_tokens <= budget
        assert ctx.tree.total_tokens == engine.usage.generated_tokens
