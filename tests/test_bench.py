"""`tts bench` on scripted engines: pools, cache and resume, rows, Pareto, reports (no model)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

import pytest
from fakes import ScriptedEngine, ScriptedVerifier

from tts_cli.batch import Problem
from tts_cli.bench.cache import CACHE_FILE, ResultCache
from tts_cli.bench.pool import prefix_groups, select, subset_result
from tts_cli.bench.report import require_matplotlib, summary
from tts_cli.bench.rows import Row, build_rows, mark_pareto, wilson
from tts_cli.bench.runner import Bench, BenchPlan, Outcome
from tts_cli.cli.options import SearchSettings
from tts_cli.engine.types import SamplingParams
from tts_cli.errors import ContextOverflowError, ExitStatus, UsageError
from tts_cli.grading import group_equivalent, majority_answer
from tts_cli.prompts import MATH
from tts_cli.solver import solve
from tts_cli.strategies import SearchConfig, SearchContext, get_strategy
from tts_cli.tree import SearchTree

PROBLEMS = [
    Problem(line=1, id="p1", question="What is 1+1?", gold="2"),
    Problem(line=2, id="p2", question="What is 2+2?", gold="4"),
]
# per question, the answer of sample i (cycling): a majority of N=4 is right, N=1 and N=2 are wrong
ANSWERS = {"What is 1+1?": ["3", "2", "2", "5"], "What is 2+2?": ["4", "7", "4", "7"]}
GOOD_STEP = "careful step"  # the scripted verifier trusts a final step that starts so
TRUSTED = {f"{GOOD_STEP} \\boxed{{{a}}}": 0.9 for answers in ANSWERS.values() for a in answers}


def question_of(text: str) -> str:
    return next(q for q in ANSWERS if q in text)


def script(text: str, params: SamplingParams, index: int) -> str:
    """Greedy (temperature 0) is right; sample with seed index i answers ANSWERS[q][i % 4]."""
    question = question_of(text)
    if params.temperature == 0:
        return f"greedy step\n\n\\boxed{{{ANSWERS[question][1] if question.startswith('What is 1') else '4'}}}"
    i = params.seed % 100_003
    answer = ANSWERS[question][i % 4]
    last = f"{GOOD_STEP} \\boxed{{{answer}}}" if i % 4 == 3 else f"\\boxed{{{answer}}}"
    return f"step {i}\n\n{last}"


class ColdEngine(ScriptedEngine):
    """A scripted engine whose KV cache (the prefixes it has seen) can be forgotten, like llama's."""

    def __init__(self, *args: Any, fail_on: Optional[set[int]] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fail_on = fail_on or set()  # generate call numbers (1-based) that are interrupted

    def generate(self, prefixes, params, *, usage=None, monitor=None):  # type: ignore[override]
        if len(self.calls) + 1 in self.fail_on:
            self.calls.append(-len(prefixes))
            raise KeyboardInterrupt
        return super().generate(prefixes, params, usage=usage, monitor=monitor)

    def forget(self) -> None:
        self._seen.clear()


class FakeModels:
    def __init__(self, engines: dict[str, ScriptedEngine], verifier: Any = None) -> None:
        self.engines = engines
        self._verifier = verifier
        self.loads: list[Optional[str]] = []

    def identity(self, ref: Optional[str]) -> dict[str, Any]:
        return {"name": self.name(ref)}

    def name(self, ref: Optional[str]) -> str:
        return ref or next(iter(self.engines))

    def policy(self, ref: Optional[str]) -> ScriptedEngine:
        self.loads.append(ref)
        return self.engines[self.name(ref)]

    def verifier(self) -> Any:
        return self._verifier


def make_bench(
    tmp_path: Path,
    strategies: list[str],
    budgets: list[int],
    *,
    engines: Optional[dict[str, ScriptedEngine]] = None,
    verifier: Any = None,
    problems: list[Problem] = PROBLEMS,
    fixed: Optional[dict[str, list[int]]] = None,
    **settings: Any,
) -> tuple[Bench, FakeModels]:
    engines = engines or {"small": ColdEngine(script, name="small")}
    if verifier is not None:
        settings.setdefault("verifier", "prm")
    plan = BenchPlan(
        problems, list(engines), strategies, budgets, SearchSettings(max_tokens=100, **settings), fixed or {}
    )
    models = FakeModels(engines, verifier)
    return Bench(plan, models, ResultCache.open(tmp_path / "cache")), models


def by_row(outcomes: list[Outcome]) -> dict[tuple[str, str, int], list[Outcome]]:
    rows: dict[tuple[str, str, int], list[Outcome]] = {}
    for o in outcomes:
        rows.setdefault((o.model, o.strategy, o.n), []).append(o)
    return rows


# ------------------------------------------------------------------------------------ pools


def test_pool_subsets_come_from_one_batched_generate_call_and_one_verifier_call(tmp_path):
    verifier = ScriptedVerifier(TRUSTED, default=0.2)
    bench, models = make_bench(tmp_path, ["majority", "best-of-n", "weighted"], [1, 2, 4], verifier=verifier,
                               problems=PROBLEMS[:1])  # fmt: skip
    bench.run(bench.pending())
    engine = models.engines["small"]
    assert engine.calls == [4]  # one pool of max(N) = 4, whatever the strategies and N
    assert verifier.calls == [4]  # all four samples scored in one call
    outcomes = list(bench.outcomes())
    rows = by_row(outcomes)
    assert sorted(rows) == sorted(("small", s, n) for s in ("majority", "best-of-n", "weighted") for n in (1, 2, 4))
    answers = {key: value[0].answer for key, value in rows.items()}
    # samples answer 3, 2, 2, 5; only the 4th (answer 5) has the trusted step
    assert [answers[("small", "majority", n)] for n in (1, 2, 4)] == ["3", "3", "2"]
    assert [answers[("small", "best-of-n", n)] for n in (1, 2, 4)] == ["3", "3", "5"]
    assert [answers[("small", "weighted", n)] for n in (1, 2, 4)] == ["3", "3", "5"]
    assert all(o.verifier_tokens == 0 for o in outcomes if o.strategy == "majority")
    assert all(o.verifier_tokens > 0 for o in outcomes if o.strategy != "majority")
    first = rows[("small", "majority", 2)][0]
    assert first.selection == "first 2 of a pool of 4 samples (seed 0)"
    assert not first.correct and rows[("small", "majority", 4)][0].correct


def test_a_subset_costs_its_own_samples_with_the_prompt_evaluated_once(tmp_path):
    verifier = ScriptedVerifier(TRUSTED, default=0.2)
    bench, models = make_bench(tmp_path, ["greedy", "weighted"], [1, 2, 4], verifier=verifier, problems=PROBLEMS[:1])
    bench.run(bench.pending())
    engine = models.engines["small"]
    pool = next(r["result"] for r in bench.cache.entries.values() if r["what"]["kind"] == "pool")
    prompt = len(engine.chat_prompt(MATH.messages(PROBLEMS[0].question)))
    # a cold KV cache for every run: the pool evaluates the prompt although greedy just read it
    assert pool["prompt_tokens"] == prompt and pool["cached_tokens"] == 3 * prompt
    replies = [script(PROBLEMS[0].question, SamplingParams(seed=i), i) for i in range(4)]
    assert pool["tokens"] == [len(r) + 1 for r in replies]  # + the end-of-generation token
    for n in (1, 2, 4):
        result = subset_result(pool, "weighted", n, "last")
        generated = sum(len(r) + 1 for r in replies[:n])
        assert result["policy_tokens"] == generated
        verifier_flops = sum(pool["verifier_flops"][:n])
        assert result["flops"] == pytest.approx(2 * engine.n_params * (prompt + generated) + verifier_flops)
        assert result["wall_seconds"] == pytest.approx(pool["wall_seconds"] * n / 4)
    whole = subset_result(pool, "weighted", 4, "last")
    assert whole["verifier_tokens"] == pytest.approx(verifier.usage.prompt_tokens)  # all of it at N = pool size


@pytest.mark.parametrize("strategy", ["majority", "best-of-n", "weighted"])
@pytest.mark.parametrize("how", ["last", "mean"])
def test_a_pool_subset_chooses_what_the_strategy_itself_chooses(tmp_path, strategy, how):
    def varied(text: str, params: SamplingParams, index: int) -> str:
        i = params.seed % 100_003
        answer = ["1", "2", "2", "1", "3", "3", "3", "1"][i % 8]
        steps = [f"s{i % 3}", f"t{i % 5}"]
        return "\n\n".join(steps) + f"\n\n\\boxed{{{answer}}}"

    scores = {"s0": 0.9, "s1": 0.1, "s2": 0.5, "t0": 0.3, "t1": 0.8, "t2": 0.2, "t3": 0.95, "t4": 0.4}
    problem = Problem(line=1, id=1, question="What is 1+1?", gold="1")
    engines = {"m": ColdEngine(varied, name="m")}
    bench, _ = make_bench(tmp_path, [strategy], [1, 2, 3, 5, 8], engines=engines, problems=[problem],
                          verifier=ScriptedVerifier(scores, default=0.5), aggregate=how)  # fmt: skip
    bench.run(bench.pending())
    pool = next(iter(bench.cache.entries.values()))["result"]
    for n in (1, 2, 3, 5, 8):
        engine = ScriptedEngine(varied, name="m")
        ctx = SearchContext(
            question=problem.question, prompt=engine.chat_prompt(MATH.messages(problem.question)), policy=engine,
            config=SearchConfig(n=n, max_tokens=100, aggregate=how), tree=SearchTree(problem.question),
            verifier=ScriptedVerifier(scores, default=0.5),
        )  # fmt: skip
        expected = get_strategy(strategy).run(ctx)
        got = subset_result(pool, strategy, n, how)
        assert got["answer"] == expected.answer, (strategy, n)
        assert got["policy_tokens"] == engine.usage.generated_tokens
        assert got["flops"] - sum(pool.get("verifier_flops", [])[:n]) == pytest.approx(engine.usage.flops)


def test_majority_on_a_scored_pool_is_not_charged_for_the_verifier():
    pool = {
        "size": 4, "seed": 0, "model": "m", "params": 10, "answers": ["1", "1", "2", "2"], "tokens": [1, 2, 3, 4],
        "prompt_tokens": 5, "cached_tokens": 15, "wall_seconds": 10.0, "step_scores": [[0.5]] * 4,
        "verifier_tokens": [1.0] * 4, "verifier_flops": [10.0] * 4, "verifier_seconds": [1.0] * 4,
    }  # fmt: skip
    majority = subset_result(pool, "majority", 2, "last")
    assert majority == {"answer": "1", "policy_tokens": 3, "verifier_tokens": 0.0, "flops": 2 * 10 * (5 + 3),
                        "wall_seconds": (10.0 - 4.0) * 2 / 4}  # fmt: skip
    weighted = subset_result(pool, "weighted", 2, "last")
    assert weighted["verifier_tokens"] == 2.0 and weighted["flops"] == 2 * 10 * 8 + 20.0
    assert weighted["wall_seconds"] == 3.0 + 2.0


def test_prefix_groups_are_the_groups_of_the_prefix():
    answers = ["1/2", None, "0.5", "x^2+1", "", "\\frac{1}{2}", "1+x^2", "3", "0.5"]
    for k in range(len(answers) + 1):
        assert prefix_groups(answers, k) == group_equivalent(answers[:k]), k
        assert select("majority", answers[:k], None, prefix_groups(answers, k)) == majority_answer(answers[:k])[0]


def test_selection_helpers_handle_missing_answers_and_ties():
    assert select("majority", [None, None], None) is None
    assert select("best-of-n", [None, "3"], [0.9, 0.1]) == 1  # an answer beats a higher score without one
    assert select("best-of-n", [None], [0.9]) is None
    assert select("weighted", ["1", "2", "2"], [1.0, 0.5, 0.5]) == 1  # equal sums: the larger group...
    assert select("weighted", ["1", "2", "2"], [1.25, 0.5, 0.5]) == 0  # ...but a higher sum wins
    assert select("weighted", ["2", "1", "2"], [0.25, 0.5, 0.75]) == 2  # the group's best-scored member
    assert select("weighted", ["1", "2"], [0.5, 0.5]) == 0  # full tie: the earlier group
    with pytest.raises(ValueError):
        select("weighted", ["1"], None)


def test_with_a_token_budget_each_n_runs_on_its_own(tmp_path):
    bench, models = make_bench(tmp_path, ["majority"], [1, 2, 4], problems=PROBLEMS[:1], budget=10_000)
    bench.run(bench.pending())
    assert models.engines["small"].calls == [1, 2, 4]
    assert {o.selection for o in bench.outcomes()} == {"one run per problem"}


def test_auto_rows_count_the_routes_taken(tmp_path):
    bench, _ = make_bench(tmp_path, ["auto"], [4], verifier=ScriptedVerifier(TRUSTED, default=0.2))
    bench.run(bench.pending())
    (row,) = build_rows(bench.outcomes())
    assert sum(row.routes.values()) == 2 and row.to_dict()["routes"] == row.routes


def test_search_strategies_run_once_per_n_and_beam_width_is_capped_by_n(tmp_path):
    bench, _ = make_bench(
        tmp_path, ["greedy", "beam"], [1, 2], verifier=ScriptedVerifier(default=0.5), problems=PROBLEMS[:1]
    )
    tasks = bench.pending()
    assert [(t.strategy, t.n, t.what.get("beam_width")) for t in tasks] == [("greedy", 1, None), ("beam", 1, 1), ("beam", 2, 2)]
    bench.run(tasks)
    assert bench.computed == 3 and not bench.errors
    assert {(o.strategy, o.n) for o in bench.outcomes()} == {("greedy", 1), ("beam", 1), ("beam", 2)}


def test_a_strategy_given_its_own_n_runs_only_there(tmp_path):
    bench, _ = make_bench(
        tmp_path, ["greedy", "majority", "auto"], [1, 2, 4], fixed={"auto": [4]}, problems=PROBLEMS[:1]
    )
    tasks = bench.pending()
    assert [(t.kind, t.strategy, t.n) for t in tasks] == [("run", "greedy", 1), ("pool", "pool", 4), ("run", "auto", 4)]
    bench.run(tasks)
    assert sorted((o.strategy, o.n) for o in bench.outcomes()) == [
        ("auto", 4), ("greedy", 1), ("majority", 1), ("majority", 2), ("majority", 4),
    ]  # fmt: skip


def test_a_plugin_poolable_strategy_is_read_from_the_shared_pool(tmp_path, monkeypatch):
    import plugin_nth
    from fakes import install_plugin

    install_plugin(monkeypatch, plugin_nth.setup)
    bench, models = make_bench(tmp_path, ["majority", "nth-answer"], [1, 2, 4], problems=PROBLEMS[:1],
                               options={"nth": 2})  # fmt: skip
    bench.run(bench.pending())
    assert models.engines["small"].calls == [4]  # one pool serves both strategies
    rows = by_row(list(bench.outcomes()))
    answers = {n: rows[("small", "nth-answer", n)][0].answer for n in (1, 2, 4)}
    assert answers == {1: None, 2: "2", 4: "2"}  # the 2nd sample with an answer (samples answer 3, 2, 2, 5)
    for n in (1, 2, 4):  # the strategy run on its own chooses the same
        engine = ScriptedEngine(script, name="small")
        ctx = SearchContext(
            question=PROBLEMS[0].question, prompt=engine.chat_prompt(MATH.messages(PROBLEMS[0].question)),
            policy=engine, config=SearchConfig(n=n, max_tokens=100), tree=SearchTree(PROBLEMS[0].question),
            options=plugin_nth.NthOptions(nth=2),
        )  # fmt: skip
        assert get_strategy("nth-answer").run(ctx).answer == answers[n]
        assert rows[("small", "nth-answer", n)][0].policy_tokens == engine.usage.generated_tokens


def test_cache_keys_are_those_of_the_flat_settings(tmp_path):
    """Keys as they were computed before options were declared per strategy: every result in an
    existing cache keeps being found."""
    from tts_cli.bench.cache import cache_key, question_hash

    bench, _ = make_bench(tmp_path, ["greedy", "majority", "beam", "mcts", "auto"], [1, 4], verifier=ScriptedVerifier(),
                          problems=PROBLEMS[:1], options={"beam_width": 3, "iterations": 5})  # fmt: skip
    base = {"question": question_hash(PROBLEMS[0].question), "model": {"name": "small"}, "max_tokens": 100,
            "system_prompt": None}  # fmt: skip
    search = {"seed": 0, "temperature": 0.8, "top_p": 0.95, "budget": None, "aggregate": "last", "beam_width": 3,
              "max_depth": 40, "step_tokens": 256, "iterations": 5, "rounds": 3, "c_puct": 1.0,
              "verifier": {"name": "prm"}, "verifier_kind": None}  # fmt: skip
    expected = [cache_key({"kind": "run", **base, "strategy": "greedy", "n": 1, "budget": None})]
    expected.append(cache_key({"kind": "pool", **base, "seed": 0, "temperature": 0.8, "top_p": 0.95, "verifier": None,
                               "verifier_kind": None}))  # fmt: skip
    for strategy in ("beam", "mcts"):
        for n in (1, 4):
            width = min(3, n) if strategy == "beam" else 3  # beam's width may not exceed N
            expected.append(cache_key({"kind": "run", **base, "strategy": strategy, "n": n, **search, "beam_width": width}))
    # auto's own options join its key (results of the earlier, judge-routed auto are not reused)
    from tts_cli.strategies.auto import AutoOptions
    from tts_cli.strategies.options import declarations

    # options added later (--first, --chain-gate) stay out of the key at their defaults: the cached
    # results of before they existed are still found
    own = {d.spec.dest: getattr(AutoOptions(), d.name) for d in declarations(AutoOptions) if not d.spec.added_later}
    assert set(own) == {"warmup", "keep", "settle", "select", "gate", "gate_signal", "check"}
    for n in (1, 4):
        expected.append(cache_key({"kind": "run", **base, "strategy": "auto", "n": n, **search, **own}))
    assert [t.key for t in bench.tasks()] == expected


def test_strategies_option_parses_per_strategy_n():
    from tts_cli.cli.bench_cmd import parse_strategies

    assert parse_strategies("greedy,majority,auto@16") == (["greedy", "majority", "auto"], {"auto": [16]})
    assert parse_strategies("beam@8/4") == (["beam"], {"beam": [4, 8]})
    for bad in ("auto@", "auto@x", "auto@0", "nope@4"):
        with pytest.raises(UsageError):
            parse_strategies(bad)


# -------------------------------------------------------------------------------- the cache


def test_a_second_run_computes_nothing_and_loads_no_model(tmp_path):
    bench, _ = make_bench(tmp_path, ["greedy", "majority"], [1, 2, 4])
    bench.run(bench.pending())
    assert bench.computed == 4  # (greedy + one pool) x 2 problems
    first = [(o.strategy, o.n, o.problem, o.answer, o.flops) for o in bench.outcomes()]
    bench.cache.close()

    again, models2 = make_bench(tmp_path, ["greedy", "majority"], [1, 2, 4])
    assert again.pending() == []
    again.run(again.pending())
    assert again.computed == 0 and models2.loads == [] and models2.engines["small"].calls == []
    assert [(o.strategy, o.n, o.problem, o.answer, o.flops) for o in again.outcomes()] == first
    # fewer budgets are served by the same pools
    fewer, _ = make_bench(tmp_path, ["majority"], [1, 2])
    assert fewer.pending() == []
    # a larger N needs a larger pool; other sampling settings need new pools
    assert len(make_bench(tmp_path, ["majority"], [8])[0].pending()) == 2
    assert len(make_bench(tmp_path, ["majority"], [4], temperature=0.5)[0].pending()) == 2
    assert len(make_bench(tmp_path, ["greedy"], [4], temperature=0.5)[0].pending()) == 0  # greedy ignores it
    assert len(make_bench(tmp_path, ["majority"], [4], aggregate="min")[0].pending()) == 0  # selection only
    assert len(make_bench(tmp_path, ["majority"], [4], seed=1)[0].pending()) == 2


def test_an_interrupted_run_keeps_what_finished_and_continues(tmp_path):
    engine = ColdEngine(script, name="small", fail_on={3})
    bench, _ = make_bench(tmp_path, ["greedy", "majority"], [1, 4], engines={"small": engine})
    with pytest.raises(KeyboardInterrupt):
        bench.run(bench.pending())
    bench.cache.close()
    assert bench.computed == 2  # greedy and the pool of the first problem
    lines = (tmp_path / "cache" / CACHE_FILE).read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["result"] for line in lines)
    with (tmp_path / "cache" / CACHE_FILE).open("a") as handle:
        handle.write('{"key": "cut short by a crash"')  # a torn last line is dropped on open

    fresh = ColdEngine(script, name="small")
    resumed, _ = make_bench(tmp_path, ["greedy", "majority"], [1, 4], engines={"small": fresh})
    todo = resumed.pending()
    assert [(t.kind, t.problem.id) for t in todo] == [("run", "p2"), ("pool", "p2")]
    resumed.run(todo)
    assert fresh.calls == [1, 4]
    assert all(o.error is None for o in resumed.outcomes())
    assert len((tmp_path / "cache" / CACHE_FILE).read_text().splitlines()) == 4


def test_a_failed_problem_counts_as_wrong_and_is_retried_next_time(tmp_path):
    def overflow(text: str, params: SamplingParams, index: int) -> str:
        if "2+2" in text:
            raise ContextOverflowError("too long")
        return script(text, params, index)

    bench, _ = make_bench(tmp_path, ["greedy"], [1], engines={"small": ColdEngine(overflow, name="small")})
    bench.run(bench.pending())
    rows = build_rows(bench.outcomes())
    assert (rows[0].problems, rows[0].correct, rows[0].errors) == (2, 1, 1)
    assert len(bench.pending()) == 1  # not cached


# ------------------------------------------------------------------------- rows and Pareto


def test_wilson_interval():
    assert wilson(0, 0) == (0.0, 0.0)
    low, high = wilson(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    low, high = wilson(10, 10)
    assert high == 1.0 and round(low, 4) == 0.7225
    assert wilson(0, 10)[0] == 0.0


def test_pareto_marks_the_rows_no_other_row_beats():
    def row(name: str, flops: float, correct: int, errors: int = 0) -> Row:
        return Row(model="m", strategy=name, n=1, problems=10, correct=correct, errors=errors, flops=flops)

    rows = [
        row("cheap", 1e9, 3),
        row("dominated", 2e9, 3),  # costs more for the same accuracy
        row("better", 2e9, 6),
        row("tie", 2e9, 6),  # identical to "better": both optimal
        row("worse-and-dearer", 5e9, 5),
        row("best", 8e9, 9),
        row("all-failed", 1e8, 0, errors=10),
    ]
    mark_pareto(rows)
    assert [r.strategy for r in rows if r.pareto] == ["cheap", "better", "tie", "best"]


def test_rows_average_per_problem_and_follow_the_strategy_order():
    outcomes = [
        Outcome("m", "majority", 4, 1, "2", True, 100, 0, 1e9, 2.0),
        Outcome("m", "majority", 4, 2, "3", False, 300, 0, 3e9, 4.0),
        Outcome("m", "greedy", 1, 1, "2", True, 50, 0, 5e8, 1.0),
        Outcome("m", "greedy", 1, 2, None, error="boom"),
    ]
    rows = build_rows(outcomes, ["greedy", "majority"])
    assert [(r.strategy, r.n, r.problems, r.correct, r.errors) for r in rows] == [
        ("greedy", 1, 2, 1, 1),
        ("majority", 4, 2, 1, 0),
    ]
    assert rows[1].policy_tokens == 200 and rows[1].flops == 2e9 and rows[1].wall_seconds == 3.0
    assert rows[0].flops == 5e8  # costs over the problems that ran


# ------------------------------------------------------------------------------- the command


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps({"id": p.id, "question": p.question, "answer": p.gold}) + "\n" for p in PROBLEMS))
    return path


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """`tts bench` with scripted models: every --policy name gets its own scripted engine."""
    made: dict[str, Any] = {}

    def factory(loader: Any, verifier_ref: Optional[str], verifier_kind: Optional[str]) -> FakeModels:
        class Named(FakeModels):
            def name(self, ref: Optional[str]) -> str:
                return ref or "default-model"

            def policy(self, ref: Optional[str]) -> ScriptedEngine:
                self.loads.append(ref)
                engine = ColdEngine(script, name=self.name(ref), fail_on=made.get("fail_on"))
                return self.engines.setdefault(self.name(ref), engine)

        made["models"] = Named({}, ScriptedVerifier(TRUSTED, default=0.2) if verifier_ref or verifier_kind else None)
        return made["models"]

    monkeypatch.setattr("tts_cli.bench.models.LoaderModels", factory)
    return made


@pytest.fixture
def bench_cli(cli: Any) -> Any:
    """`tts bench ARGS` in this process with a test environment: (exit status, stdout, stderr)."""

    def invoke(*args: str, **kwargs: Any) -> tuple[int, str, str]:
        result = cli("bench", *args, **kwargs)
        return result.code, result.out, result.err

    return invoke


def test_cli_compares_models_and_writes_tsv_and_the_json_summary(tmp_path, data, fake_models, bench_cli):
    summary_path = tmp_path / "summary.json"
    args = [str(data), "--policy", "small,large", "--strategies", "greedy,majority", "--samples", "1,2,4",
            "--json", str(summary_path), "--cache-dir", str(tmp_path / "c"), "--seed", "3"]  # fmt: skip
    code, out, err = bench_cli(*args)
    assert code == 0, err
    lines = [line.split("\t") for line in out.splitlines()]
    assert lines[0][:4] == ["model", "strategy", "n", "accuracy"]
    assert [(r[0], r[1], r[2]) for r in lines[1:]] == [
        (m, s, n) for m in ("small", "large") for s, n in [("greedy", "1"), ("majority", "1"), ("majority", "2"), ("majority", "4")]
    ]  # fmt: skip
    assert "0 of 8 run(s) cached" in err
    data_out = json.loads(summary_path.read_text())
    assert data_out["command"] == "bench"
    params = data_out["parameters"]
    assert params["models"] == ["small", "large"] and params["strategies"] == ["greedy", "majority"]
    assert params["budgets"] == [1, 2, 4] and params["seed"] == 3 and params["problems"] == 2
    assert params["cache_dir"] == str(tmp_path / "c") and "n" not in params and "strategy" not in params
    rows = data_out["rows"]
    assert len(rows) == 8
    greedy = rows[0]
    assert greedy["model"] == "small" and greedy["accuracy"] == 1.0 and greedy["problems"] == 2
    assert {"ci_low", "ci_high", "policy_tokens", "verifier_tokens", "flops", "wall_seconds", "pareto", "selection"} <= set(greedy)
    assert rows[3]["selection"] == "first 4 of a pool of 4 samples (seed 3)"
    assert any(r["pareto"] for r in rows)
    pareto = lines[0].index("pareto")
    assert [r[pareto] == "★" for r in lines[1:]] == [r["pareto"] for r in rows]

    code, out2, err = bench_cli(*args)  # everything cached: same table, no model loaded
    assert code == 0 and out2 == out and "8 of 8 run(s) cached" in err
    assert fake_models["models"].loads == []


def test_cli_writes_one_record_per_problem_outcome(tmp_path, data, fake_models, bench_cli):
    path = tmp_path / "outcomes.jsonl"
    args = [str(data), "--strategies", "greedy,majority", "--samples", "1,4", "--per-problem", str(path),
            "--cache-dir", str(tmp_path / "c")]  # fmt: skip
    code, out, err = bench_cli(*args)
    assert code == 0, err
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 2 * 3  # (greedy 1, majority 1, majority 4) x 2 problems
    rows = {(r["strategy"], r["n"]): r for r in records if r["problem"] == records[0]["problem"]}
    assert set(rows) == {("greedy", 1), ("majority", 1), ("majority", 4)}
    assert all(r["gold"] is not None and isinstance(r["correct"], bool) for r in records)
    assert rows[("majority", 4)]["selection"].startswith("first 4 of a pool of 4")
    # accuracy in the table is the mean of these records
    table = {(r.split("\t")[1], r.split("\t")[2]): float(r.split("\t")[3]) for r in out.splitlines()[1:]}
    for (strategy, n), accuracy in table.items():
        mine = [r["correct"] for r in records if (r["strategy"], str(r["n"])) == (strategy, n)]
        assert accuracy == sum(mine) / len(mine)


def test_cli_ctrl_c_exits_130_and_the_next_run_continues(tmp_path, data, fake_models, bench_cli):
    args = [str(data), "--samples", "1,2", "--cache-dir", str(tmp_path / "c")]
    fake_models["fail_on"] = {3}  # Ctrl-C during the third generate call (the second problem's greedy run)
    code, out, err = bench_cli(*args)
    assert code == ExitStatus.INTERRUPTED and out == ""
    assert "interrupted; 2 result(s) cached" in err and "run the same command again" in err
    fake_models["fail_on"] = None
    code, out, err = bench_cli(*args)
    assert code == 0 and "2 of 4 run(s) cached" in err
    assert fake_models["models"].engines["default-model"].calls == [1, 2]


def test_cli_table_in_a_terminal(tmp_path, data, fake_models, bench_cli):
    code, out, err = bench_cli(
        str(data), "--samples", "2", "--cache-dir", str(tmp_path / "c"), "-q", stdout_isatty=True, COLUMNS="200"
    )
    assert code == 0, err
    assert "accuracy (95% CI)" in out and "default-model" in out and "★" in out and "\t" not in out
    assert err == ""


def test_cli_usage_errors_are_one_line_exit_2(tmp_path, data, fake_models, bench_cli):
    no_gold = tmp_path / "nogold.jsonl"
    no_gold.write_text(json.dumps({"question": "What is 1+1?"}) + "\n")
    cases = [
        ([str(no_gold)], "has no gold answer"),
        ([str(data), "--samples", "1,x"], "--samples"),
        ([str(data), "--samples", "0"], "at least 1"),
        ([str(data), "--strategies", "majorty"], "did you mean 'majority'"),
        ([str(data), "--strategies", "weighted"], "needs a verifier"),
        ([str(data), "--limit", "0"], "--limit"),
        ([str(tmp_path / "missing.jsonl")], "not found"),
        ([str(data), "--json", str(tmp_path / "no" / "s.json")], "does not exist"),
    ]
    for args, message in cases:
        code, out, err = bench_cli(*args, "--cache-dir", str(tmp_path / "c"))
        assert code == ExitStatus.USAGE, (args, err)
        assert len(err.strip().splitlines()) == 1 and message in err, (args, err)
        assert out == ""


def test_budgets_is_a_hidden_old_name_of_samples(tmp_path, data, fake_models, bench_cli):
    code, new, _ = bench_cli(str(data), "-n", "1,2", "--cache-dir", str(tmp_path / "c"))
    assert code == 0
    code, old, err = bench_cli(str(data), "--budgets", "1,2", "--cache-dir", str(tmp_path / "c"))
    assert code == 0 and old == new and "4 of 4 run(s) cached" in err  # the same runs
    code, _, err = bench_cli(str(data), "--budgets", "0", "--cache-dir", str(tmp_path / "c"))
    assert code == ExitStatus.USAGE and "--budgets: values of N must be at least 1" in err
    code, out, _ = bench_cli("--help")
    assert code == 0 and "--samples" in out and "--budgets" not in out


def test_an_unwritable_cache_is_a_runtime_error(tmp_path, data, fake_models, bench_cli):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, out, err = bench_cli(str(data), "--cache-dir", str(blocker / "c"))
    assert code == ExitStatus.ERROR and out == ""
    assert err.startswith("tts: error: cannot create the cache directory") and len(err.splitlines()) == 1


def test_missing_matplotlib_is_a_one_line_usage_error(tmp_path, data, fake_models, bench_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(UsageError, match="needs matplotlib"):
        require_matplotlib()
    code, _, err = bench_cli(str(data), "--plot", str(tmp_path / "p.png"), "--cache-dir", str(tmp_path / "c"))
    assert code == ExitStatus.USAGE
    assert err == 'tts: error: --plot needs matplotlib: pip install "tts-cli[plot]" (or pip install matplotlib)\n'
    assert fake_models == {} or fake_models["models"].loads == []  # checked before any work


def test_plot_writes_a_png(tmp_path, data, fake_models, bench_cli):
    pytest.importorskip("matplotlib")
    png = tmp_path / "curve.png"
    code, _, err = bench_cli(str(data), "--samples", "1,2,4", "--plot", str(png), "--cache-dir", str(tmp_path / "c"))
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_holds_every_row_and_the_parameters():
    rows = [Row("m", "greedy", 1, problems=4, correct=3, covered=4, flops=1e9, pareto=True)]
    data = summary(rows, {"seed": 0})
    assert data == {
        "command": "bench",
        "parameters": {"seed": 0},
        "rows": [{
            "model": "m", "strategy": "greedy", "n": 1, "problems": 4, "correct": 3, "errors": 0,
            "accuracy": 0.75, "ci_low": pytest.approx(wilson(3, 4)[0]), "ci_high": pytest.approx(wilson(3, 4)[1]),
            "coverage": 1.0, "no_answer": 0.0, "policy_tokens": 0.0, "verifier_tokens": 0.0, "flops": 1e9, "wall_seconds": 0.0, "pareto": True,
            "selection": "",
        }],
    }  # fmt: skip


# --------------------------------------------------------------------------- the real model


@pytest.mark.real
def test_bench_smoke_on_the_real_model(tmp_path, data, smollm2_path, cli):
    args = ["bench", str(data), "--limit", "2", "--samples", "1,2",
            "--strategies", "greedy,majority", "--policy", "smollm2-135m", "--max-tokens", "16", "--threads", "2",
            "--cache-dir", str(tmp_path / "c"), "--json", str(tmp_path / "s.json")]  # fmt: skip
    first = cli(*args)
    assert first.code == 0, first.err
    rows = json.loads((tmp_path / "s.json").read_text())["rows"]
    assert [(r["model"], r["strategy"], r["n"]) for r in rows] == [
        ("smollm2-135m", "greedy", 1), ("smollm2-135m", "majority", 1), ("smollm2-135m", "majority", 2)
    ]  # fmt: skip
    assert all(r["problems"] == 2 and r["errors"] == 0 and r["flops"] > 0 for r in rows)
    assert rows[2]["policy_tokens"] > rows[1]["policy_tokens"]
    second = cli(*args)
    assert second.code == 0 and "4 of 4 run(s) cached" in second.err
    assert second.out == first.out


def test_workers_compute_the_same_answers_with_each_run_charged_its_own_cost(tmp_path):
    strategies, budgets = ["greedy", "majority", "beam"], [1, 2, 4]
    verifier = ScriptedVerifier(TRUSTED, default=0.2)
    alone, _ = make_bench(tmp_path / "alone", strategies, budgets, verifier=verifier)
    alone.run(alone.pending())
    together, _ = make_bench(tmp_path / "together", strategies, budgets, verifier=verifier)
    together.run(together.pending(), workers=3)
    assert together.computed == alone.computed and not together.errors
    key = lambda o: (o.model, o.strategy, o.n, o.problem)  # noqa: E731
    expected = {key(o): (o.answer, o.correct) for o in alone.outcomes()}
    assert {key(o): (o.answer, o.correct) for o in together.outcomes()} == expected
    for entry in together.cache.entries.values():  # every run's tokens are its own, never another's
        result = entry["result"]
        if entry["what"]["kind"] == "run":
            assert result["policy_tokens"] > 0


# ------------------------------------------------------------------------ selectors, replay, pass@N


def confident_when_careful(reply: str) -> list[float]:
    """Token confidence of a scripted reply: high for the verifier-trusted final step, low otherwise."""
    return [20.0 if GOOD_STEP in reply else 2.0] * (len(reply) + 1)


def signal_engines() -> dict[str, ScriptedEngine]:
    return {"small": ColdEngine(script, name="small", confidence=confident_when_careful)}


def test_selectors_are_evaluated_on_the_same_pool(tmp_path):
    bench, models = make_bench(tmp_path, ["greedy", "majority"], [1, 2, 4], engines=signal_engines(), problems=PROBLEMS[:1])
    bench.plan.selectors = ["best:mean_conf", "vote"]
    bench.run(bench.pending())
    assert models.engines["small"].calls == [1, 4]  # greedy, then one pool: nothing drawn per selector
    rows = by_row(list(bench.outcomes()))
    assert {key[1] for key in rows} == {
        "greedy", "majority", "majority/best:mean_conf", "majority/vote", "greedy+majority/best:mean_conf",
        "greedy+majority/vote",
    }  # fmt: skip
    # p1's samples answer 3, 2, 2, 5; only sample 3 (answer 5) is confident: best-by-confidence picks it at N=4
    assert [o.answer for o in rows[("small", "majority/best:mean_conf", 4)]] == ["5"]
    assert [o.answer for o in rows[("small", "majority/best:mean_conf", 2)]] == ["3"]
    assert [o.answer for o in rows[("small", "majority/vote", 4)]] == [o.answer for o in rows[("small", "majority", 4)]]


def test_pass_at_n_counts_problems_where_some_sample_was_right(tmp_path):
    bench, _ = make_bench(tmp_path, ["greedy", "majority"], [1, 2, 4], problems=PROBLEMS[:1])
    bench.run(bench.pending())
    rows = {(r.strategy, r.n): r for r in build_rows(bench.outcomes())}
    assert rows[("majority", 1)].coverage == 0.0  # sample 0 says 3
    assert rows[("majority", 2)].coverage == 1.0 and rows[("majority", 2)].accuracy == 0.0  # 3, 2: a tie lost
    assert rows[("greedy", 1)].coverage == rows[("greedy", 1)].accuracy


def test_replay_runs_auto_on_the_cached_samples_as_it_would_run_live(tmp_path):
    live, _ = make_bench(tmp_path / "live", ["greedy", "majority", "auto"], [4, 8], engines=signal_engines())
    live.run(live.pending())
    replayed, models = make_bench(tmp_path / "replay", ["greedy", "majority", "auto"], [4, 8], engines=signal_engines())
    replayed.plan.replay = True
    assert {t.strategy for t in replayed.pending()} == {"greedy", "pool"}  # auto is never run on the model
    replayed.run(replayed.pending())
    calls = list(models.engines["small"].calls)
    got = {(o.strategy, o.n, o.problem): o for o in replayed.outcomes()}
    assert models.engines["small"].calls == calls  # computing the outcomes drew nothing
    for o in live.outcomes():
        if o.strategy == "auto":
            twin = got[("auto", o.n, o.problem)]
            assert (twin.answer, twin.policy_tokens, twin.error) == (o.answer, o.policy_tokens, None)
            assert twin.selection == "replayed on the cached greedy run and pool"


def test_signal_quality_ranks_right_samples_by_each_signal(tmp_path):
    bench, _ = make_bench(tmp_path, ["majority"], [4], engines=signal_engines())
    bench.run(bench.pending())
    quality = {q.signal: q for q in bench.signal_quality()}
    assert quality["mean_conf"].samples == 8
    # p1: right samples (2, 2) are unsure, the wrong confident one says 5; p2: the right ones (4, 4)
    # are unsure too and the confident one says 7: confidence ranks right below wrong here
    assert quality["mean_conf"].within is not None and quality["mean_conf"].within < 0.5
    from tts_cli.bench.signal_quality import auroc

    assert auroc([3.0, 2.0, 1.0], [True, False, False]) == 1.0
    assert auroc([1.0, 1.0], [True, False]) == 0.5
    assert auroc([1.0, 2.0], [True, True]) is None


def test_the_greedy_solution_joins_the_selectors_candidates(tmp_path):
    bench, _ = make_bench(tmp_path, ["greedy", "majority"], [2], engines=signal_engines(), problems=PROBLEMS[:1])
    bench.plan.selectors = ["vote"]
    bench.run(bench.pending())
    rows = by_row(list(bench.outcomes()))
    # p1: greedy says 2, samples 0-1 say 3 and 2: with greedy's vote, 2 wins; without, the tie goes to 3
    assert [o.answer for o in rows[("small", "majority/vote", 2)]] == ["3"]
    (joined,) = rows[("small", "greedy+majority/vote", 2)]
    assert joined.answer == "2"
    (alone,) = rows[("small", "majority/vote", 2)]
    (greedy,) = rows[("small", "greedy", 1)]
    assert joined.policy_tokens == alone.policy_tokens + greedy.policy_tokens


def test_cli_selectors_and_replay(tmp_path, data, fake_models, bench_cli):
    summary_path = tmp_path / "summary.json"
    args = [str(data), "--policy", "small", "--strategies", "greedy,majority,auto@4", "--samples", "2,4",
            "--selectors", "conf-borda,vote", "--replay", "--json", str(summary_path),
            "--cache-dir", str(tmp_path / "c")]  # fmt: skip
    code, out, err = bench_cli(*args)
    assert code == 0, err
    strategies = {line.split("\t")[1] for line in out.splitlines()[1:]}
    assert {"majority/conf-borda", "majority/vote", "greedy+majority/vote", "auto"} <= strategies
    parameters = json.loads(summary_path.read_text())["parameters"]
    assert parameters["selectors"] == ["conf-borda", "vote"] and parameters["replay"] is True


@pytest.mark.parametrize(
    "args, message",
    [
        (["--selectors", "best:nonsense"], "--selectors"),
        (["--strategies", "greedy", "--selectors", "vote"], "needs majority, mixed or pot"),
    ],
)
def test_cli_refuses_bad_selectors(tmp_path, data, fake_models, bench_cli, args, message):
    code, out, err = bench_cli(str(data), "--cache-dir", str(tmp_path / "c"), *args)
    assert code == ExitStatus.USAGE and message in err and out == ""
    assert len(err.strip().splitlines()) == 1


def program_script(text: str, params: SamplingParams, index: int) -> str:
    """``script`` for chain-of-thought prompts; a program printing the right answer for program prompts."""
    if "Python program" not in text:
        return script(text, params, index)
    question = question_of(text.rsplit("<user>", 1)[-1])
    return f"```python\nprint({eval(question[8:-1])})\n```"  # "What is 1+1?" -> 2


def test_program_and_mixed_rows_read_a_program_pool_and_the_cot_pool(tmp_path, sandboxed):
    engines = {"small": ColdEngine(program_script, name="small")}
    bench, models = make_bench(tmp_path, ["majority", "pot", "mixed"], [1, 2, 4], engines=engines, problems=PROBLEMS[:1])
    pools = [t for t in bench.tasks() if t.kind == "pool"]
    assert [t.samples for t in pools] == ["cot", "program"]
    assert "samples" not in pools[0].what and pools[1].what["samples"] == "program"  # cot keys as before
    bench.run(bench.pending())
    assert models.engines["small"].calls == [4, 4]  # one pool of each kind
    rows = by_row(list(bench.outcomes()))
    answers = {key: value[0].answer for key, value in rows.items()}
    assert [answers[("small", "pot", n)] for n in (1, 2, 4)] == ["2", "2", "2"]
    # mixed: cot 0 ("3"), program 0 ("2"), cot 1 ("2"), program 1 ("2")
    assert [answers[("small", "mixed", n)] for n in (1, 2, 4)] == ["3", "3", "2"]
    assert rows[("small", "mixed", 4)][0].covered and not rows[("small", "mixed", 1)][0].covered
    first_of_each = rows[("small", "majority", 1)][0].policy_tokens + rows[("small", "pot", 1)][0].policy_tokens
    assert rows[("small", "mixed", 2)][0].policy_tokens == first_of_each > 0


def test_greedy_mixed_rows_are_what_mixed_with_greedy_answers_live(tmp_path, sandboxed):
    """"greedy+mixed/SPEC": the greedy chain of thought and the greedy program join the mixed
    pool's samples, first, at their cached cost, as ``tts ask -s mixed --with-greedy`` draws them."""
    engines = {"small": ColdEngine(program_script, name="small")}
    strategies = ["greedy", "pot-greedy", "mixed"]
    bench, models = make_bench(tmp_path, strategies, [1, 2, 4], engines=engines, problems=PROBLEMS[:1])
    bench.plan.selectors = ["vote", "conf-borda"]
    bench.run(bench.pending())
    drawn = list(models.engines["small"].calls)
    rows = by_row(list(bench.outcomes()))
    assert models.engines["small"].calls == drawn  # the rows drew nothing more
    assert {key[1] for key in rows} >= {"mixed/vote", "greedy+mixed/vote", "greedy+mixed/conf-borda"}
    # p1 ("What is 1+1?"): mixed@1 is cot sample 0, "3"; the greedy chain and program both say 2
    assert rows[("small", "mixed/vote", 1)][0].answer == "3"
    (joined,) = rows[("small", "greedy+mixed/vote", 1)]
    assert joined.answer == "2" and joined.covered
    leads = sum(rows[("small", s, 1)][0].policy_tokens for s in ("greedy", "pot-greedy"))
    assert joined.policy_tokens == rows[("small", "mixed/vote", 1)][0].policy_tokens + leads
    for n in (1, 2, 4):
        live = solve(
            PROBLEMS[0].question, strategy="mixed", policy=ColdEngine(program_script, name="small"),
            config=replace(bench.plan.settings.search_config(), n=n), prompts=MATH,
            options=get_strategy("mixed").make_options({"with_greedy": True}),
        )  # fmt: skip
        (row,) = rows[("small", "greedy+mixed/vote", n)]
        assert (row.answer, row.policy_tokens) == (live.answer, live.cost.policy.generated_tokens)
        assert live.result.info["greedy_candidates"] == 2


def test_the_bench_refuses_with_greedy_and_names_its_rows(tmp_path, data, fake_models, bench_cli):
    code, out, err = bench_cli(str(data), "--cache-dir", str(tmp_path / "c"), "--with-greedy")
    assert code == ExitStatus.USAGE and out == "" and "greedy+S/SELECTOR" in err
    assert len(err.strip().splitlines()) == 1


def test_a_replayed_auto_with_program_checks_reads_the_program_pool_and_greedy_program(tmp_path, sandboxed):
    engines = {"small": ColdEngine(program_script, name="small")}
    settings = SearchSettings(max_tokens=100, options={"check": "program"})
    plan = BenchPlan(PROBLEMS[:1], ["small"], ["greedy", "auto"], [4], settings, replay=True)
    bench = Bench(plan, FakeModels(engines), ResultCache.open(tmp_path / "cache"))
    kinds = sorted((t.kind, t.strategy, t.samples) for t in bench.pending())
    assert kinds == [("pool", "pool", "cot"), ("pool", "pool", "program"), ("run", "greedy", "cot"), ("run", "pot-greedy", "cot")]
    bench.run(bench.pending())
    calls = list(engines["small"].calls)
    rows = by_row(list(bench.outcomes()))
    auto = rows[("small", "auto", 4)][0]
    assert engines["small"].calls == calls  # the replay generated nothing
    # the greedy chain of thought says 2 ("What is 1+1?" -> ANSWERS[q][1]); without a trace it has
    # no confidence, so the greedy program (prints 2) checks it: they agree
    assert auto.answer == "2" and auto.route["decision"] == "agree"
    assert auto.selection == "replayed on the cached greedy run and pool"


# ------------------------------------------------------------------ cached pools, reprints, escalation


def test_a_cached_unscored_pool_is_scored_without_drawing_again(tmp_path):
    drawn, models = make_bench(tmp_path, ["majority"], [4], problems=PROBLEMS[:1])
    drawn.run(drawn.pending())
    calls = list(models.engines["small"].calls)
    verifier = ScriptedVerifier(TRUSTED, default=0.2)
    scored, again = make_bench(tmp_path, ["best-of-n"], [4], problems=PROBLEMS[:1], verifier=verifier, engines=models.engines)
    (task,) = scored.pending()
    assert task.verified and task.unscored is not None
    scored.run([task])
    assert models.engines["small"].calls == calls and again.loads == []  # nothing drawn, no policy loaded
    assert verifier.calls == [4]  # the four cached samples, one verifier call
    (outcome,) = [o for o in scored.outcomes() if o.n == 4]
    assert outcome.answer == "5" and outcome.verifier_tokens > 0  # sample 3 is the trusted one
    assert outcome.policy_tokens == sum(drawn.cache.get(drawn.tasks()[0].key)["tokens"])  # type: ignore[index]


def test_a_model_free_verifier_scores_cached_pools_in_the_bench(tmp_path):
    from tts_cli.verifiers import make_verifier

    drawn, models = make_bench(tmp_path, ["majority"], [4], problems=PROBLEMS[:1])
    drawn.run(drawn.pending())
    arithmetic = make_verifier("arithmetic", None)
    plan = BenchPlan(PROBLEMS[:1], ["small"], ["best-of-n"], [4], SearchSettings(max_tokens=100, verifier_kind="arithmetic"))
    bench = Bench(plan, FakeModels(models.engines, arithmetic), ResultCache.open(tmp_path / "cache"))
    assert plan.verifying and plan.scored_pool
    (task,) = bench.pending()
    assert task.what["verifier_kind"] == "arithmetic" and task.what["verifier"] is None
    calls = list(models.engines["small"].calls)
    bench.run([task])
    assert models.engines["small"].calls == calls
    (outcome,) = list(bench.outcomes())
    assert outcome.error is None and outcome.verifier_tokens == 0  # no model: no tokens
    assert {q.signal for q in bench.signal_quality()} >= {"arithmetic"}


def test_cli_scores_with_a_model_free_verifier(tmp_path, data, fake_models, bench_cli):
    cache = str(tmp_path / "c")
    code, _, err = bench_cli(str(data), "--strategies", "majority", "--samples", "4", "--cache-dir", cache)
    assert code == 0, err
    code, out, err = bench_cli(
        str(data), "--strategies", "best-of-n", "--samples", "4", "--verifier-kind", "arithmetic", "--cache-dir", cache
    )
    assert code == 0, err
    assert "1 of 2 run(s) cached" not in err and [line.split("\t")[1] for line in out.splitlines()[1:]] == ["best-of-n"]
    assert fake_models["models"].loads == []  # scoring the cached pools loaded no policy


def test_markdown_format_and_reprint_from_the_per_problem_file(tmp_path, data, fake_models, bench_cli):
    per_problem, summary_path = tmp_path / "outcomes.jsonl", tmp_path / "s.json"
    args = [str(data), "--strategies", "greedy,majority", "--samples", "1,4", "--selectors", "vote",
            "--cache-dir", str(tmp_path / "c")]  # fmt: skip
    code, tsv, err = bench_cli(*args, "--per-problem", str(per_problem), "--json", str(summary_path))
    assert code == 0, err
    code, markdown, err = bench_cli(*args, "--format", "markdown")
    assert code == 0, err
    lines = markdown.splitlines()
    assert lines[0].startswith("| model | strategy | N | accuracy (95% CI) | pass@N |") and lines[1].startswith("|---|---|---:|")
    assert len([line for line in lines if line.startswith("| default-model |")]) == len(tsv.splitlines()) - 1
    # the table again from the per-problem file alone: no DATA, no cache, no model
    code, again, err = bench_cli("--reprint", str(per_problem), "--strategies", "greedy,majority")
    assert code == 0, err
    assert again == tsv
    code, again_md, _ = bench_cli("--reprint", str(per_problem), "--strategies", "greedy,majority", "--format", "markdown")
    assert again_md == markdown
    reprinted = tmp_path / "again.json"
    bench_cli("--reprint", str(per_problem), "--strategies", "greedy,majority", "--json", str(reprinted))
    assert json.loads(reprinted.read_text())["rows"] == json.loads(summary_path.read_text())["rows"]
    # --skip / --limit take a slice of its problems, as the bench over that slice would have printed
    for skip, limit in ((1, 1), (0, 1)):
        code, part, err = bench_cli(*args, "--skip", str(skip), "--limit", str(limit))
        assert code == 0, err
        code, again_part, err = bench_cli("--reprint", str(per_problem), "--strategies", "greedy,majority",
                                          "--skip", str(skip), "--limit", str(limit))  # fmt: skip
        assert code == 0, err
        assert again_part == part and again_part != tsv


@pytest.mark.parametrize(
    "args, message",
    [
        (["--format", "html"], "--format must be one of auto, tsv, markdown"),
        ([], "give DATA"),
        (["data.jsonl", "--reprint", "outcomes.jsonl"], "without DATA"),
    ],
)
def test_cli_format_and_reprint_errors(tmp_path, fake_models, bench_cli, args, message):
    code, out, err = bench_cli(*args, "--cache-dir", str(tmp_path / "c"))
    assert code == ExitStatus.USAGE and out == "" and message in err and len(err.strip().splitlines()) == 1


def test_reprint_of_a_file_that_is_not_a_per_problem_file_is_one_line(tmp_path, bench_cli):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"model": "m"}\n')
    code, out, err = bench_cli("--reprint", str(bad))
    assert code == ExitStatus.USAGE and out == "" and "line 1" in err and len(err.strip().splitlines()) == 1


def test_auto_program_first_is_replayed_on_the_cached_program_and_chain(tmp_path, sandboxed):
    engines = {"small": ColdEngine(program_script, name="small")}
    settings = SearchSettings(max_tokens=100, options={"first": "program", "gate": float("inf")})
    plan = BenchPlan(PROBLEMS[:1], ["small"], ["greedy", "auto"], [4], settings, replay=True)
    bench = Bench(plan, FakeModels(engines), ResultCache.open(tmp_path / "cache"))
    bench.run(bench.pending())
    (auto,) = by_row(list(bench.outcomes()))[("small", "auto", 4)]
    # the greedy program prints 2; the greedy chain says 2 too ("What is 1+1?" -> ANSWERS[q][1]): they agree
    assert auto.answer == "2" and auto.route["decision"] == "agree" and auto.route["first"] == "program"
    assert auto.error is None


def test_the_cache_query_finds_runs_and_the_largest_pools(tmp_path):
    from tts_cli.bench.cache import CACHE_FILE, CacheQuery, question_hash

    bench, _ = make_bench(tmp_path, ["greedy", "majority"], [2, 4], problems=PROBLEMS)
    bench.run(bench.pending())
    bench.cache.close()
    with (tmp_path / "cache" / CACHE_FILE).open("a") as handle:
        handle.write('{"key": "torn')  # a bench appending right now: the query ignores the torn line
    query = CacheQuery.read(tmp_path / "cache")
    size = (tmp_path / "cache" / CACHE_FILE).stat().st_size
    questions = {question_hash(p.question) for p in PROBLEMS}
    assert query.questions("small") == questions and query.questions("other") == set()
    greedy = query.runs("small", "greedy")
    assert set(greedy) == questions and all(c.result["answer"] for c in greedy.values())
    pools = query.largest_pools("small")
    assert set(pools) == questions and {c.size for c in pools.values()} == {4} and all(c.samples == "cot" for c in pools.values())
    assert query.largest_pools("small", "program") == {} and query.scored_pools("small") == {}
    assert (tmp_path / "cache" / CACHE_FILE).stat().st_size == size  # read-only


def test_a_reprinted_table_shows_names_from_the_file_inert(tmp_path, bench_cli):
    record = {"model": "m\x1b]0;owned\x07 [bold]x[/bold]", "strategy": "greedy", "n": 1, "problem": 1, "correct": True}
    path = tmp_path / "outcomes.jsonl"
    path.write_text(json.dumps(record) + "\n")
    for args in ([], ["--format", "markdown"]):
        code, out, err = bench_cli("--reprint", str(path), *args)
        assert code == 0, err
        assert "\x1b" not in out and "\x07" not in out and "owned" not in out and "m [bold]x[/bold]" in out
    code, out, err = bench_cli("--reprint", str(path), stdout_isatty=True)
    assert code == 0 and "owned" not in out and "\x07" not in out
