"""Strategies against a scripted engine and a scripted verifier: search paths, batching, budgets, costs."""

from __future__ import annotations

import math
from typing import Optional

import pytest
from fakes import ScriptedEngine, ScriptedVerifier, generated

from tts_cli.engine.types import SamplingParams
from tts_cli.errors import UsageError
from tts_cli.prompts import MATH, STEP_SEPARATOR
from tts_cli.strategies import Options, SearchConfig, SearchContext, get_strategy
from tts_cli.strategies.base import capped_tokens, split_steps
from tts_cli.strategies.beam import BeamOptions
from tts_cli.strategies.dvts import DvtsOptions
from tts_cli.strategies.mcts import (
    MctsOptions,
    Stat,
    backpropagate,
    most_visited_path,
    priors_from_scores,
    puct_score,
    select_child,
)
from tts_cli.strategies.refine import RefineOptions
from tts_cli.strategies.stepper import spread
from tts_cli.tree import CHOSEN, FINISHED, PRUNED, SearchTree

QUESTION = "What is x?"
VERIFIED = ("best-of-n", "weighted", "beam", "dvts", "mcts")
ALL = VERIFIED + ("refine",)


def make_ctx(engine: ScriptedEngine, verifier=None, options: Optional[Options] = None, **config) -> SearchContext:
    prompt = engine.chat_prompt(MATH.messages(QUESTION))
    return SearchContext(
        question=QUESTION,
        prompt=prompt,
        policy=engine,
        config=SearchConfig(**config),
        tree=SearchTree(QUESTION),
        verifier=verifier,
        options=options,
    )


def run(name: str, ctx: SearchContext):
    return get_strategy(name).run(ctx)


def boxed(label: str) -> str:
    return f"\\boxed{{{label}}}"


def label_script(final_depth: int, finishes=None):
    """Step-level script: step k of a path is the parent's label plus one letter (``index % 4``).

    A step at ``final_depth`` (or one for which ``finishes(label)`` is true) is a boxed final answer
    ending the generation; other steps end with the blank-line separator. Without a stop string
    (a rollout or a full sample) the rest of the solution comes in one piece.
    """

    def script(text: str, params: SamplingParams, index: int) -> str:
        done = [s for s in generated(text).split(STEP_SEPARATOR)[:-1]]
        parent = done[-1] if done else ""
        parent = parent.replace("\\boxed{", "").replace("}", "")
        label = parent + "abcd"[index % 4]
        if not params.stop:  # rollout: finish from here
            return f"check {parent or 'root'}{STEP_SEPARATOR}{boxed(parent or 'root')}"
        if len(done) + 1 >= final_depth or (finishes and finishes(label)):
            return boxed(label)
        return label + STEP_SEPARATOR

    return script


# --------------------------------------------------------------------------------- helpers


def test_split_steps_and_spread():
    assert split_steps("a\n\nb\n\n\n\n c \n\n") == ["a", "b", "c"]
    assert split_steps("") == []
    assert spread(4, 2) == [2, 2]
    assert spread(5, 2) == [3, 2]
    assert spread(3, 3) == [1, 1, 1]


def test_capped_tokens_never_lets_a_round_overshoot():
    config = SearchConfig(max_tokens=100, budget=50)
    assert capped_tokens(config, 4, spent=0, limit=30) == 12
    assert capped_tokens(config, 4, spent=47) == 0
    assert capped_tokens(SearchConfig(max_tokens=100), 4, spent=10**6, limit=30) == 30


# ----------------------------------------------------------------------- verifier required


@pytest.mark.parametrize("name", VERIFIED)
def test_missing_verifier_is_a_usage_error(name):
    engine = ScriptedEngine(["x"])
    with pytest.raises(UsageError, match=f"strategy {name} needs a verifier: pass --verifier MODEL"):
        run(name, make_ctx(engine, None))
    assert engine.calls == []
    assert get_strategy(name).needs_verifier


def test_refine_runs_without_a_verifier():
    assert not get_strategy("refine").needs_verifier


# ------------------------------------------------------------------ best-of-n and weighted

HALF_SOLUTIONS = [
    f"Work one.{STEP_SEPARATOR}So {boxed('1/2')}",
    f"Work two.{STEP_SEPARATOR}So {boxed('0.5')}",
    f"Work three.{STEP_SEPARATOR}So {boxed(chr(92) + 'frac{1}{2}')}",
    f"Work four.{STEP_SEPARATOR}So {boxed('7')}",
]
HALF_SCORES = {
    f"So {boxed('1/2')}": 0.4,
    f"So {boxed('0.5')}": 0.4,
    f"So {boxed(chr(92) + 'frac{1}{2}')}": 0.4,
    f"So {boxed('7')}": 0.9,
}


def test_best_of_n_picks_the_highest_aggregated_score():
    engine = ScriptedEngine(HALF_SOLUTIONS)
    verifier = ScriptedVerifier(HALF_SCORES, default=1.0)
    ctx = make_ctx(engine, verifier, n=4)
    result = run("best-of-n", ctx)
    assert result.answer == "7"
    assert engine.calls == [4]  # one batch
    assert verifier.calls == [4]  # one verifier call
    assert verifier.scored_steps == 4  # aggregate "last": only each sample's last step is read
    assert [c.score for c in result.candidates] == [0.4, 0.4, 0.4, 0.9]
    assert ctx.tree.nodes[result.candidates[3].node_id].status == CHOSEN


def test_best_of_n_scores_every_step_when_the_aggregate_reads_them():
    engine = ScriptedEngine(HALF_SOLUTIONS)
    verifier = ScriptedVerifier(HALF_SCORES, default=1.0)
    run("best-of-n", make_ctx(engine, verifier, n=4, aggregate="min"))
    assert verifier.scored_steps == 8


def test_best_of_n_aggregation_min_changes_the_winner():
    engine = ScriptedEngine(HALF_SOLUTIONS)
    scores = dict(HALF_SCORES, **{"Work four.": 0.1})
    result = run("best-of-n", make_ctx(engine, ScriptedVerifier(scores, default=1.0), n=4, aggregate="min"))
    assert result.answer == "1/2"
    assert [c.score for c in result.candidates] == [0.4, 0.4, 0.4, 0.1]


def test_weighted_groups_equivalent_answers_and_beats_a_single_higher_score():
    engine = ScriptedEngine(HALF_SOLUTIONS)
    ctx = make_ctx(engine, ScriptedVerifier(HALF_SCORES, default=1.0), n=4)
    result = run("weighted", ctx)
    groups = result.info["groups"]
    assert [g["members"] for g in groups] == [[0, 1, 2], [3]]
    assert math.isclose(groups[0]["weight"], 1.2) and math.isclose(groups[1]["weight"], 0.9)
    assert result.chosen in (0, 1, 2)
    assert result.answer == "1/2"
    assert engine.calls == [4]


def test_weighted_single_answer_wins_when_its_score_is_larger_than_the_group_sum():
    engine = ScriptedEngine(HALF_SOLUTIONS)
    scores = dict(HALF_SCORES, **{f"So {boxed('1/2')}": 0.2, f"So {boxed('0.5')}": 0.3, f"So {boxed(chr(92) + 'frac{1}{2}')}": 0.35})
    result = run("weighted", make_ctx(engine, ScriptedVerifier(scores, default=1.0), n=4))
    assert result.answer == "7"


def test_weighted_chooses_the_best_member_of_the_best_group():
    engine = ScriptedEngine(HALF_SOLUTIONS)
    scores = dict(HALF_SCORES, **{f"So {boxed('0.5')}": 0.6})
    result = run("weighted", make_ctx(engine, ScriptedVerifier(scores, default=1.0), n=4))
    assert result.chosen == 1 and result.answer == "0.5"


# -------------------------------------------------------------------------------------- beam

BEAM_SCORES = {
    "a": 0.2, "b": 0.9, "c": 0.1, "d": 0.8,
    "ba": 0.3, "bb": 0.4, "dc": 0.95, "dd": 0.5,
    boxed("dca"): 0.6, boxed("dcb"): 0.99, boxed("ddc"): 0.7, boxed("ddd"): 0.1,
}


def test_beam_follows_the_scripted_best_path():
    engine = ScriptedEngine(label_script(final_depth=3))
    verifier = ScriptedVerifier(BEAM_SCORES, default=0.0)
    ctx = make_ctx(engine, verifier, BeamOptions(width=2), n=4)
    result = run("beam", ctx)
    # A greedy walk would take b (0.9) first; the beam keeps d (0.8), whose child dc leads to dcb.
    assert result.answer == "dcb"
    assert result.candidates[result.chosen].score == 0.99
    assert engine.calls == [4, 4, 4]  # one batched generate call per depth, N expansions each
    assert verifier.calls == [4, 4, 4]  # one verifier call per depth
    assert verifier.scored_steps == 12  # only the new step of each partial solution
    tree = ctx.tree
    by_text = {n.text: n for n in tree.nodes[1:]}
    assert {by_text[t].status for t in ("a", "c", "ba", "bb")} == {PRUNED}
    assert [n.text for n in tree.path(result.candidates[result.chosen].node_id)] == ["d", "dc", boxed("dcb")]
    assert all(n.status == CHOSEN for n in tree.path(result.candidates[result.chosen].node_id))
    assert by_text["d"].parent == 0 and by_text["dc"].parent == by_text["d"].id
    assert {c.finish_reason for c in result.candidates} == {"eos"}
    assert len(result.candidates) == 4
    assert result.info["depth"] == 3
    assert engine.usage.generated_tokens == tree.total_tokens


def test_beam_continues_from_the_parent_prefix():
    seen: list[str] = []

    def script(text, params, index):
        seen.append(generated(text))
        return label_script(final_depth=2)(text, params, index)

    engine = ScriptedEngine(script)
    run("beam", make_ctx(engine, ScriptedVerifier(BEAM_SCORES, default=0.0), BeamOptions(width=2), n=4))
    assert seen[:4] == [""] * 4
    assert seen[4:] == ["b\n\n", "b\n\n", "d\n\n", "d\n\n"]
    # the second depth extends cached prefixes: their prompt part was not evaluated again
    assert engine.usage.cached_tokens > 0


def test_beam_stops_at_the_depth_limit_with_no_candidates():
    engine = ScriptedEngine(label_script(final_depth=99))
    ctx = make_ctx(engine, ScriptedVerifier({}, 0.5), BeamOptions(width=2, max_depth=3), n=4)
    result = run("beam", ctx)
    assert result.answer is None and result.candidates == []
    assert result.info["stopped"] == "depth limit"
    assert engine.calls == [4, 4, 4]
    assert all(n.status == PRUNED for n in ctx.tree.nodes[1:])


# -------------------------------------------------------------------------------------- dvts


def test_dvts_never_returns_an_unfinished_candidate():
    # subtree 0 (letters a/b) finishes at depth 2; subtree 1 (c/d) never does
    engine = ScriptedEngine(label_script(final_depth=99, finishes=lambda label: label[0] in "ab" and len(label) == 2))
    scores = {boxed("ab"): 0.7, boxed("bb"): 0.9, "a": 0.8, "b": 0.1}
    verifier = ScriptedVerifier(scores, default=0.5)
    ctx = make_ctx(engine, verifier, DvtsOptions(width=2, max_depth=4), n=4)
    result = run("dvts", ctx)
    assert result.info["subtrees"] == 2
    assert result.info["dropped_unfinished"] == 1
    assert len(result.candidates) == 1
    assert all(c.finish_reason == "eos" and c.answer is not None for c in result.candidates)
    assert result.answer == "ab"  # subtree 0 kept a (0.8), then its better child ab
    assert engine.calls == [4, 4, 2, 2]  # all live subtrees in one call per depth
    assert verifier.calls == [4, 4, 2, 2]
    statuses = {ctx.tree.nodes[c.node_id].status for c in result.candidates}
    assert statuses == {CHOSEN}
    # the unfinished subtree's nodes are all pruned
    for node in ctx.tree.nodes[1:]:
        if node.text[:1] in "cd":
            assert node.status == PRUNED
    assert engine.usage.generated_tokens == ctx.tree.total_tokens


def test_dvts_with_no_finished_subtree_answers_none():
    engine = ScriptedEngine(label_script(final_depth=99))
    ctx = make_ctx(engine, ScriptedVerifier({}, 0.5), DvtsOptions(width=2, max_depth=3), n=4)
    result = run("dvts", ctx)
    assert result.answer is None and result.chosen is None and result.candidates == []
    assert result.info["dropped_unfinished"] == 2
    assert not any(n.status in (FINISHED, CHOSEN) for n in ctx.tree.nodes)


def test_dvts_keeps_subtrees_independent_and_diverse():
    engine = ScriptedEngine(label_script(final_depth=2))
    scores = {"a": 0.9, "b": 0.1, "c": 0.2, "d": 0.3, boxed("aa"): 0.5, boxed("dc"): 0.6}
    result = run("dvts", make_ctx(engine, ScriptedVerifier(scores, 0.0), DvtsOptions(width=2), n=4))
    assert sorted(c.answer for c in result.candidates) == ["aa", "dc"]  # one per subtree
    assert result.answer == "dc"


# -------------------------------------------------------------------------------------- mcts


def test_puct_score_formula():
    child = Stat(visits=1, value_sum=0.5, prior=0.5)
    assert puct_score(child, parent_visits=4, c_puct=1.0) == pytest.approx(0.5 + 0.5 * 2 / 2)
    assert puct_score(Stat(prior=0.25), parent_visits=9, c_puct=2.0) == pytest.approx(2.0 * 0.25 * 3)
    assert Stat().q == 0.0


def test_select_child_balances_value_and_prior():
    good = Stat(visits=3, value_sum=2.4, prior=0.5)  # q 0.8, bonus 0.5*3/4 = 0.375 -> 1.175
    fresh = Stat(visits=0, value_sum=0.0, prior=0.5)  # q 0, bonus 0.5*3/1 = 1.5
    assert select_child([good, fresh], parent_visits=9, c_puct=1.0) == 1
    assert select_child([good, fresh], parent_visits=9, c_puct=0.1) == 0  # 0.8375 > 0.15
    assert select_child([Stat(prior=0.5), Stat(prior=0.5)], 1, 1.0) == 0  # first on ties
    with pytest.raises(ValueError):
        select_child([], 1, 1.0)


def test_backpropagate_updates_visits_and_mean_values():
    stats = {0: Stat(), 1: Stat(prior=0.5)}
    backpropagate(stats, [0, 1], 0.9)
    backpropagate(stats, [0, 1, 2], 0.3)
    assert (stats[0].visits, stats[0].value_sum) == (2, pytest.approx(1.2))
    assert stats[1].q == pytest.approx(0.6) and stats[1].prior == 0.5
    assert (stats[2].visits, stats[2].q) == (1, pytest.approx(0.3))


def test_priors_and_most_visited_path():
    assert priors_from_scores([0.2, 0.6]) == pytest.approx([0.25, 0.75])
    assert priors_from_scores([0.0, 0.0]) == [0.5, 0.5]
    assert priors_from_scores([]) == []
    stats = {0: Stat(5, 3.0), 1: Stat(2, 1.0), 2: Stat(3, 1.2), 3: Stat(1, 0.1), 4: Stat(1, 0.9)}
    assert most_visited_path(stats, {0: [1, 2], 2: [3, 4]}) == [0, 2, 4]  # tie on visits: higher Q


MCTS_SCORES = {"a": 0.3, "b": 0.6, boxed("a"): 0.9, boxed("b"): 0.2, "check a": 0.5, "check b": 0.5}


def test_mcts_small_run_updates_visits_and_values_exactly():
    engine = ScriptedEngine(label_script(final_depth=99))
    verifier = ScriptedVerifier(MCTS_SCORES, default=0.5)
    ctx = make_ctx(engine, verifier, MctsOptions(children=2, iterations=2, c_puct=1.0))
    result = run("mcts", ctx)
    tree = ctx.tree
    by_text = {n.text: n for n in tree.nodes[1:] if n.meta.get("kind") != "rollout"}
    a, b = by_text["a"], by_text["b"]
    # iteration 1: root -> a, b; values are the rollouts' last-step scores: a 0.9, b 0.2
    # priors from the step scores: a 0.3/0.9, b 0.6/0.9
    assert a.meta["prior"] == pytest.approx(1 / 3) and b.meta["prior"] == pytest.approx(2 / 3)
    # iteration 2 selects a: 0.9 + (1/3)*sqrt(2)/2 = 1.136 > 0.2 + (2/3)*sqrt(2)/2 = 0.671
    # a's children aa, ab roll out to \boxed{aa}, \boxed{ab}: unknown to the verifier, 0.5 each
    assert a.meta["visits"] == 3 and a.meta["value"] == pytest.approx((0.9 + 0.5 + 0.5) / 3)
    assert b.meta["visits"] == 1 and b.meta["value"] == pytest.approx(0.2)
    assert result.info["root_visits"] == 4
    assert result.info["visits"] == {a.id: 3, b.id: 1}
    assert result.info["iterations"] == 2
    assert engine.calls == [2, 2, 2, 2]  # per iteration: one expansion batch, one rollout batch
    assert verifier.calls == [6, 6]  # per iteration: one call (each child: its step + 2 rollout steps)
    # the most visited path ends at a's best child; the answer is a finished rollout below it
    assert result.info["most_visited_path"][0] == a.id
    chosen = result.candidates[result.chosen]
    assert chosen.finish_reason == "eos" and chosen.answer in ("aa", "ab")
    assert a.id in {n.id for n in tree.path(chosen.node_id)}
    assert engine.usage.generated_tokens == tree.total_tokens


def test_mcts_visit_invariant_over_a_longer_run():
    engine = ScriptedEngine(label_script(final_depth=3))
    ctx = make_ctx(engine, ScriptedVerifier({"b": 0.9, boxed("ba"): 0.8}, default=0.3), MctsOptions(children=2, iterations=6))
    result = run("mcts", ctx)
    tree = ctx.tree
    steps = [n for n in tree.nodes[1:] if n.meta.get("kind") != "rollout"]
    for node in steps:
        kids = [k for k in tree.children(node.id) if k.meta.get("kind") != "rollout"]
        if kids:  # an expanded node: its own evaluation plus every visit through its children
            assert node.meta["visits"] >= 1 + sum(k.meta["visits"] for k in kids)
    assert result.info["root_visits"] == sum(result.info["visits"].values())
    assert result.answer is not None
    assert all(c.finish_reason == "eos" for c in result.candidates)


# ------------------------------------------------------------------------------------ refine


def refine_script(verdicts: list[str]):
    state = {"critiques": 0, "versions": 0}

    def script(text, params, index):
        if "VERDICT: CORRECT if every step" in text:  # the critique prompt
            verdict = verdicts[min(state["critiques"], len(verdicts) - 1)]
            state["critiques"] += 1
            return f"Step 2 is checked.\nVERDICT: {verdict}"
        state["versions"] += 1
        return f"Work {state['versions']}.{STEP_SEPARATOR}So {boxed(str(state['versions']))}"

    return script


def test_refine_with_self_critique_stops_when_no_error_is_found():
    engine = ScriptedEngine(refine_script(["INCORRECT", "CORRECT"]))
    ctx = make_ctx(engine, None, RefineOptions(rounds=3))
    result = run("refine", ctx)
    kinds = [(n.meta.get("kind"), n.depth) for n in ctx.tree.nodes[1:]]
    assert kinds == [("draft", 1), ("critique", 2), ("revision", 3), ("critique", 4)]
    assert result.info["rounds"] == 1 and result.info["stopped"] == "no error found"
    assert result.answer == "2"  # the revision
    assert engine.calls == [1, 1, 1, 1]
    assert engine.usage.generated_tokens == ctx.tree.total_tokens


def test_refine_stops_after_the_round_limit():
    engine = ScriptedEngine(refine_script(["INCORRECT"]))
    ctx = make_ctx(engine, None, RefineOptions(rounds=2))
    result = run("refine", ctx)
    assert result.info["rounds"] == 2 and result.info["stopped"] == "rounds done"
    assert [c.answer for c in result.candidates] == ["1", "2", "3"]
    assert result.answer == "3"


def test_refine_keeps_the_last_complete_version_when_the_budget_cuts_a_revision():
    engine = ScriptedEngine(refine_script(["INCORRECT"]))
    draft, critique = f"Work 1.{STEP_SEPARATOR}So {boxed('1')}", "Step 2 is checked.\nVERDICT: INCORRECT"
    ctx = make_ctx(engine, None, RefineOptions(rounds=3), budget=len(draft) + len(critique) + 10)
    result = run("refine", ctx)
    assert result.info["stopped"] == "budget exhausted"
    assert [c.finish_reason for c in result.candidates] == ["eos", "length"]
    assert result.answer == "1" and result.chosen == 0
    assert engine.usage.generated_tokens == ctx.tree.total_tokens <= ctx.config.budget


def test_refine_with_a_verifier_critic():
    engine = ScriptedEngine(refine_script(["INCORRECT"]))
    # the draft's last step fails (0.2); the revision passes everywhere
    verifier = ScriptedVerifier({f"So {boxed('1')}": 0.2}, default=0.9)
    ctx = make_ctx(engine, verifier, RefineOptions(rounds=3))
    result = run("refine", ctx)
    assert result.info["critic"] == "verifier"
    assert result.info["stopped"] == "no error found"
    assert result.answer == "2"
    critiques = [n for n in ctx.tree.nodes if n.meta.get("kind") == "critique"]
    assert len(critiques) == 2 and all(n.tokens == 0 for n in critiques)
    assert "Step 2" in critiques[0].text
    assert [c.score for c in result.candidates] == [0.2, 0.9]
    assert engine.calls == [1, 1]  # draft and one revision: the verifier did the critiquing


# ---------------------------------------------------------------------- budgets and costs


def generic_script(text: str, params: SamplingParams, index: int) -> str:
    """Works for every strategy: steps with a stop string, whole solutions without."""
    if "VERDICT: CORRECT if every step" in text:
        return "Step 1 has a slip.\nVERDICT: INCORRECT"
    done = generated(text).count(STEP_SEPARATOR)
    if params.stop:
        if done >= 3:
            return f"Therefore {boxed(str(index % 3))}."
        return f"Step {done} of the reasoning, variant {index}.{STEP_SEPARATOR}"
    if index % 5 == 4:
        return ""  # an empty completion: the scripted engine still counts one token
    return f"First idea {index}.{STEP_SEPARATOR}Second idea.{STEP_SEPARATOR}So {boxed(str(index % 2))}."


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("budget", [1, 5, 17, 60, 150, 400, None])
def test_budget_is_a_hard_cap_and_costs_add_up(name, budget):
    engine = ScriptedEngine(generic_script)
    verifier = ScriptedVerifier({}, default=0.6) if name != "refine" or budget in (60, None) else None
    options = get_strategy(name).make_options({"beam_width": 2, "iterations": 5, "rounds": 3, "step_tokens": 40})
    ctx = make_ctx(engine, verifier, options, n=6, max_tokens=200, budget=budget)
    result = run(name, ctx)
    spent = engine.usage.generated_tokens
    assert spent == ctx.tree.total_tokens == sum(n.tokens for n in ctx.tree.nodes)
    if budget is not None:
        assert spent <= budget
    for candidate in result.candidates:  # a candidate's tokens: the length of its solution text
        if name == "refine":  # each version is one generation (its parents are earlier versions)
            assert candidate.tokens == ctx.tree.nodes[candidate.node_id].tokens
        else:
            assert candidate.tokens == sum(n.tokens for n in ctx.tree.path(candidate.node_id))
    if result.chosen is not None:
        assert ctx.tree.nodes[result.candidates[result.chosen].node_id].status == CHOSEN
    # nothing is left "active" without a finished descendant
    for node in ctx.tree.nodes[1:]:
        if node.status == "active":
            assert any(
                n.status in (FINISHED, CHOSEN) and node.id in {p.id for p in ctx.tree.path(n.id)}
                for n in ctx.tree.nodes
            )


@pytest.mark.parametrize("name", ("best-of-n", "weighted", "beam", "dvts"))
def test_parallel_work_goes_through_one_batched_call(name):
    engine = ScriptedEngine(generic_script)
    run(name, make_ctx(engine, ScriptedVerifier({}, 0.6), get_strategy(name).make_options({"beam_width": 2}), n=4))
    assert engine.calls and all(width > 1 for width in engine.calls)
    if name in ("best-of-n", "weighted"):
        assert engine.calls == [4]
    else:
        assert len(engine.calls) == 4  # three steps and the answer: one call per depth


def test_verifier_cost_is_counted_per_scored_step():
    engine = ScriptedEngine(HALF_SOLUTIONS)
    verifier = ScriptedVerifier(HALF_SCORES)
    run("best-of-n", make_ctx(engine, verifier, n=4, aggregate="mean"))
    assert verifier.scored_steps == 8
    assert verifier.usage.prompt_tokens == sum(len(s) for text in HALF_SOLUTIONS for s in split_steps(text))
    assert engine.usage.prompt_tokens > 0 and verifier.usage.generated_tokens == 0


# ------------------------------------------------------------------ declared options, plugins


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: BeamOptions(width=0), "--beam-width must be at least 1 (got 0)"),
        (lambda: DvtsOptions(max_depth=0), "--max-depth must be at least 1 (got 0)"),
        (lambda: MctsOptions(iterations=0), "--iterations must be at least 1 (got 0)"),
        (lambda: MctsOptions(c_puct=-1.0), "--c-puct must be >= 0 (got -1.0)"),
        (lambda: MctsOptions(c_puct=float("nan")), "--c-puct must be >= 0"),
        (lambda: MctsOptions(step_tokens=0), "--step-tokens must be at least 1 (got 0)"),
        (lambda: RefineOptions(rounds=0), "--rounds must be at least 1 (got 0)"),
        (lambda: SearchConfig(n=0), "-n must be at least 1 (got 0)"),
        (lambda: SearchConfig(top_p=1.5), "--top-p must be in (0, 1] (got 1.5)"),
        (lambda: SearchConfig(budget=0), "--budget must be a positive number of tokens (got 0)"),
        (lambda: SearchConfig(aggregate="median"), "--aggregate must be one of last, min, prod, mean (got 'median')"),
    ],
)
def test_options_classes_reject_bad_values_as_a_library_call(make, message):
    with pytest.raises(UsageError) as caught:
        make()
    assert str(caught.value).startswith(message)


def test_a_strategy_refuses_options_of_another_strategy():
    with pytest.raises(TypeError, match="takes BeamOptions, not MctsOptions"):
        run("beam", make_ctx(ScriptedEngine(["x"]), ScriptedVerifier(), MctsOptions()))


def test_options_must_be_declared_to_register():
    from dataclasses import dataclass

    from tts_cli.strategies import register

    @dataclass(frozen=True)
    class Undeclared(Options):
        depth: int = 3

    with pytest.raises(TypeError, match=r"Undeclared\.depth is not declared with option"):
        register("undeclared", summary="-", options=Undeclared)
    with pytest.raises(TypeError, match="must be a dataclass deriving from Options"):
        register("old-style", summary="-", options=("--depth",))  # type: ignore[arg-type]


def test_a_shared_flag_sets_each_strategy_s_own_field():
    values = {"beam_width": 3, "max_depth": 5}
    assert get_strategy("beam").make_options(values) == BeamOptions(width=3, max_depth=5)
    assert get_strategy("mcts").make_options(values) == MctsOptions(children=3, max_depth=5)
    assert get_strategy("refine").make_options(values) == RefineOptions()
    assert BeamOptions(width=8).capped(4) == BeamOptions(width=4)  # beam's width may not exceed N
    assert MctsOptions(children=8).capped(4) == MctsOptions(children=8)  # mcts's children may


def test_the_generated_flags_hold_every_declared_option():
    import typer

    from tts_cli.cli.app import build_app
    from tts_cli.strategies import SearchConfig as Common
    from tts_cli.strategies import available
    from tts_cli.strategies.options import declarations

    commands = typer.main.get_command(build_app()).commands  # type: ignore[attr-defined]
    declared = {f for d in declarations(Common) for f in d.spec.flags}
    declared |= {f for info in available() for d in declarations(info.options) for f in d.spec.flags}
    for name in ("ask", "solve"):
        spellings = {s for param in commands[name].params for s in param.opts}
        assert declared <= spellings, (name, declared - spellings)
    bench = {s for param in commands["bench"].params for s in param.opts}
    assert declared - {"-n", "--samples"} <= bench  # bench takes its values of N in its own option


GUARD = ["--policy", "/nonexistent/must-not-be-loaded.gguf"]


@pytest.fixture
def plugin_cli(monkeypatch: pytest.MonkeyPatch, cli):
    """`tts` in this process with the ``nth-answer`` plugin installed and a scripted policy whose
    sample i answers i. Returns run(args) -> (exit status, stdout, stderr) and what reached it."""
    import plugin_nth
    from fakes import install_plugin

    from tts_cli.cli import app as cli_app
    from tts_cli.cli.runtime import Session
    from tts_cli.prompts import prompt_set

    install_plugin(monkeypatch, plugin_nth.setup)
    monkeypatch.setattr(cli_app, "app", cli_app.build_app())  # its flags come from the registry
    monkeypatch.setenv("TTS_CONFIG_DIR", "/nonexistent/tts-config")
    seen: dict[str, object] = {}

    class NoLoader:
        def close(self) -> None:
            pass

    def open_session(env, settings, config, *, quiet=False, **kwargs):
        seen["options"] = settings.strategy_options()
        engine = ScriptedEngine(lambda text, params, index: f"So {boxed(str(params.seed % 100_003))}.")
        return Session(
            config=config, strategy=settings.strategy, policy=engine, verifier=None, prompts=prompt_set("math"),
            loader=NoLoader(), options=settings.strategy_options(),
        )

    monkeypatch.setattr("tts_cli.cli.runtime.open_session", open_session)

    def invoke(*args: str) -> tuple[int, str, str]:
        result = cli(*args)
        return result.code, result.out, result.err

    return invoke, seen


def test_a_plugin_strategy_lists_its_options_and_the_cli_takes_its_flag(plugin_cli):
    import json

    from plugin_nth import NthOptions

    invoke, seen = plugin_cli
    code, out, _ = invoke("strategies", "--json")
    assert code == 0
    row = next(r for r in json.loads(out) if r["name"] == "nth-answer")
    assert row["options"] == ["-n", "--temperature", "--top-p", "--max-tokens", "--budget", "--nth"]
    code, out, err = invoke("ask", "What is x?", "-s", "nth-answer", "--nth", "2", "-n", "3", "-q", "--json", *GUARD)
    assert code == 0, err
    assert seen["options"] == NthOptions(nth=2)
    record = json.loads(out)
    assert record["answer"] == "1" and record["chosen"] == 1 and record["info"] == {"nth": 2}
    code, out, err = invoke("ask", "What is x?", "--nth", "0", *GUARD)  # checked whichever strategy runs
    assert code == 2 and out == "" and err == "tts: error: --nth must be at least 1 (got 0)\n"


def test_the_greedy_run_and_the_selecting_strategies_come_from_capabilities():
    from tts_cli.strategies.registry import greedy_run, selecting

    assert greedy_run("cot") == "greedy" and greedy_run("program") == "pot-greedy"
    assert {"majority", "pot", "mixed"} <= set(selecting()) and "greedy" not in selecting()
    with pytest.raises(UsageError):
        greedy_run("mixed")
