"""Questions that are not numbers: multiple choice (options in JSONL or written in the text), yes/no
and short text; their extraction, comparison, display and grading, end to end with a scripted
engine (tests/fakes.py). The real model's path is in test_cli_real.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from fakes import ScriptedEngine

from tts_cli.batch import read_items
from tts_cli.grading import answers_equivalent
from tts_cli.grading.forms import FREE, ChoiceForm, form_of
from tts_cli.prompts import CHOICE, MATH
from tts_cli.questions import Question, inline_choices, make_question
from tts_cli.solver import solve
from tts_cli.strategies import SearchConfig

BAT_AND_BALL = (
    "A bat and a ball cost $1.10 in total. The bat costs $1.00 more than the ball. How much does the "
    "ball cost? Answer with A) 10 cents B) 5 cents C) 1 dollar"
)
FEATHERS = "Which is heavier, a kilogram of feathers or a kilogram of steel?"
CENTS = ChoiceForm(Question("How much does the ball cost?", ("10 cents", "5 cents", "1 dollar")))


# ------------------------------------------------------------------------------- reading options


@pytest.mark.parametrize(
    ("text", "stem", "choices"),
    [
        (BAT_AND_BALL, BAT_AND_BALL.split(" A)")[0], ("10 cents", "5 cents", "1 dollar")),
        ("What is 2+2?\n(a) 3\n(b) 4\n(c) 5", "What is 2+2?", ("3", "4", "5")),
        ("Pick the colour of the sky:\nA. red\nB. blue", "Pick the colour of the sky:", ("red", "blue")),
        ("Which is prime? (A) 4 (B) 6 (C) 7 (D) 9", "Which is prime?", ("4", "6", "7", "9")),
        ("Speed of the car?\nA)10\nB)11.5\nC)12.5", "Speed of the car?", ("10", "11.5", "12.5")),
    ],
)
def test_options_written_in_the_question_are_found(text: str, stem: str, choices: tuple[str, ...]) -> None:
    question = make_question(text)
    assert question == Question(stem, choices)
    assert question.prompt_text().endswith("\n".join(f"{letter}) {c}" for letter, c in zip("ABCD", choices)))


@pytest.mark.parametrize(
    "text",
    [
        "Find (a) the area and (b) the perimeter of a 2 by 3 rectangle.",
        FEATHERS,
        "Natalia sold clips to 48 of her friends in April. How many clips did she sell?",
        "Is it A. or B.?",
        "Point A) is left of point C) on the line; how far apart are they?",  # not A, B in order
    ],
)
def test_a_question_without_options_stays_as_written(text: str) -> None:
    assert make_question(text) == Question(text)


def test_finding_options_stays_linear_on_a_huge_text_full_of_markers() -> None:
    text = "Which? " + "a) b) " * 150_000  # every "a)" starts a run that an O(n^2) scan would follow to the end
    assert inline_choices(text) is None  # the last run's options are empty
    assert inline_choices("Which? " + "x a) y " * 150_000 + "A) yes B) no") == Question(("Which? " + "x a) y " * 150_000).rstrip(), ("yes", "no"))


def test_the_rendered_question_is_read_back_with_the_same_options() -> None:
    question = make_question("Which one?", ["a cat", "(B) a dog", "an eel"])
    assert inline_choices(question.prompt_text()) == question


def test_jsonl_choices_and_options_with_gold_as_index_letter_or_text() -> None:
    lines = [
        {"id": "m", "question": "Which is a mammal?", "choices": ["eel", "dog", "ant", "owl"], "answer": 1},
        {"id": "q", "question": "2 + 3?", "options": ["A)4", "B)5", "C)6"], "correct": "B"},
        {"id": "t", "question": "Colour of the sky?", "choices": ["red", "blue"], "answer": "Blue"},
        {"id": "bad", "question": "Which?", "choices": ["x", "y"], "answer": 7},
        {"id": "g", "question": "What is 6 * 7?", "answer": "#### 42"},
    ]
    items = read_items([json.dumps(line).encode() for line in lines], "test")
    by_id = {item.id: item for item in items}
    assert by_id["m"].choices == ("eel", "dog", "ant", "owl") and by_id["m"].gold == "B"
    assert by_id["q"].choices == ("4", "5", "6") and by_id["q"].gold == "B"
    assert by_id["t"].gold == "B"
    assert by_id["g"].choices == () and by_id["g"].gold == "42"
    bad = next(item for item in items if getattr(item, "error", None))
    assert bad.line == 4 and "names none of the 2 options" in bad.error


# ------------------------------------------------------------------------ extracting the answer


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("## Step 1: ...\n\nTherefore, the final answer is $\\boxed{B}$.", "B"),
        ("The answer is (B).", "B"),
        ("So the ball costs 5 cents.\n\nB)", "B"),
        ("Final answer: **B**", "B"),
        ("Therefore, the final answer is $\\boxed{5 cents}$.", "B"),  # the option's text
        ("\\boxed{\\text{B) 5 cents}}", "B"),
        ("\\boxed{(C)}", "C"),
        ("the correct option is C.", "C"),
        ("\\boxed{D}", None),  # no such option
        ("\\boxed{B) 10 cents}", None),  # contradicts itself
        ("\\boxed{0.05}", None),  # a value that is no option's
        ("the answer is a number", None),
        ("- **Option A**: 10 cents is too much.\n- **Option C**: 1 dollar is the bat", None),  # cut off
        ("The ball and the bat together cost 1 dollar and 10 cents, so 5 cents", None),  # in passing
        ("Option A is wrong. The correct option is B.", "B"),
        ("So the ball costs:\n5 cents", "B"),  # a last line that is an option's text
    ],
)
def test_the_letter_of_a_multiple_choice_answer(text: str, letter: Any) -> None:
    assert CENTS.extract(text) == letter


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("So it is \\boxed{\\text{steel}}.", "steel"),
        ("\\boxed{\\textbf{Yes}}", "yes"),
        ("\\boxed{\\text{No.}}", "no"),
        ("\\boxed{72}", "72"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),  # math keeps its math form
        ("\\boxed{5\\text{ cm}}", "5\\text{ cm}"),
    ],
)
def test_a_free_answer_loses_its_latex_text_wrapper_but_math_keeps_its_form(text: str, answer: str) -> None:
    assert FREE.extract(text) == answer


@pytest.mark.parametrize(
    ("printed", "letter"),
    [("B", "B"), ("(C)", "C"), ("0.26", "B"), ("0.2601", "B"), ("0.26000000000000001", "B"), ("0.3", None), ("hello", None)],
)
def test_a_program_output_names_a_letter_or_the_nearest_option_within_2_percent(printed: str, letter: Any) -> None:
    form = ChoiceForm(Question("p?", ("0.22", "0.26", "0.37")))
    assert form.from_program(printed) == letter


def test_a_program_value_matches_an_option_written_as_a_fraction_or_with_units() -> None:
    assert ChoiceForm(Question("p?", ("1/4", "1/2", "3/4"))).from_program("0.5") == "B"
    assert ChoiceForm(Question("p?", ("Rs. 200", "Rs. 250"))).from_program("250.0") == "B"
    assert ChoiceForm(Question("p?", ("12 km/hr", "15 km/hr"))).from_program("12") == "A"


def test_the_live_tree_shows_the_options_and_a_finished_sample_without_an_answer() -> None:
    from rich.console import Console

    from tts_cli.display.tree_view import render_tree

    replies = ["\\boxed{B}", "\\boxed{E}"]
    question = Question("How much does the ball cost?", ("10 cents", "5 cents", "1 dollar"))
    solution = solve(question, strategy="majority", policy=ScriptedEngine(_choice_script(replies)),
                     config=SearchConfig(n=2), prompts=MATH)  # fmt: skip
    console = Console(width=120, record=True, color_system=None)
    console.print(render_tree(solution.tree, title="majority"))
    shown = console.export_text()
    assert "A) 10 cents  B) 5 cents  C) 1 dollar" in shown
    assert "answer B" in shown and "no answer" in shown


def test_answers_compare_as_letters_and_as_words() -> None:
    assert answers_equivalent("B", "B") and not answers_equivalent("B", "C")
    assert answers_equivalent("The steel.", "\\text{steel}")
    assert answers_equivalent("yes", "Yes!")
    assert not answers_equivalent("steel", "feathers")


def test_the_gold_option_and_what_a_terminal_shows() -> None:
    assert CENTS.gold(1) == "B" and CENTS.gold("(b)") == "B" and CENTS.gold("1 dollar") == "C"
    assert CENTS.gold(9) is None and CENTS.gold(True) is None
    assert CENTS.shown("B") == "B) 5 cents" and CENTS.shown(None) == "(no answer)"
    assert CENTS.describe("C")["choice"] == {"letter": "C", "text": "1 dollar"}
    assert form_of(Question("x")) is FREE


# ---------------------------------------------------------------------- strategies on options


def _choice_script(replies: list[str]) -> Callable[[str, Any, int], str]:
    def script(text: str, params: Any, index: int) -> str:
        seed_index = 0 if params.temperature <= 0 else params.seed % 100_003
        return replies[seed_index % len(replies)]

    return script


def test_the_prompt_shows_the_lettered_options_and_asks_for_the_letter() -> None:
    seen: list[str] = []

    def script(text: str, params: Any, index: int) -> str:
        seen.append(text)
        return "\\boxed{B}"

    solution = solve(make_question(BAT_AND_BALL), strategy="greedy", policy=ScriptedEngine(script),
                     config=SearchConfig(), prompts=MATH)  # fmt: skip
    assert CHOICE.system in seen[0] and "A) 10 cents\nB) 5 cents\nC) 1 dollar" in seen[0]
    assert solution.answer == "B" and solution.shown_answer == "B) 5 cents"
    record = solution.to_dict()
    assert record["choice"] == {"letter": "B", "text": "5 cents"}
    assert [c["letter"] for c in record["choices"]] == ["A", "B", "C"]


def test_a_vote_counts_every_way_of_naming_the_same_option_and_leaves_others_unanswered() -> None:
    replies = ["\\boxed{A}", "The answer is (B).", "So \\boxed{5 cents}", "\\boxed{B}", "I am not sure.", "\\boxed{E}"]
    solution = solve(Question("How much does the ball cost?", ("10 cents", "5 cents", "1 dollar")), strategy="majority",
                     policy=ScriptedEngine(_choice_script(replies)), config=SearchConfig(n=6), prompts=MATH)  # fmt: skip
    answers = [c.answer for c in solution.result.candidates]
    assert answers == ["A", "B", "B", "B", None, None]
    assert solution.answer == "B"


def test_a_program_sample_on_a_choice_question_is_mapped_to_the_nearest_option(sandboxed: None) -> None:
    program = "```python\nstock_a = 0.56\nstock_b = 0.74\nprint(1 - stock_b)\n```"  # 0.26 (float noise)
    solution = solve(Question("Probability neither happens?", ("0.22", "0.26", "0.37")), strategy="pot",
                     policy=ScriptedEngine([program]), config=SearchConfig(n=2), prompts=MATH)  # fmt: skip
    assert [c.answer for c in solution.result.candidates] == ["B", "B"]
    assert solution.shown_answer == "B) 0.26"


def test_a_program_on_a_choice_question_is_asked_to_print_the_letter_of_its_nearest_option(sandboxed: None) -> None:
    from tts_cli.prompts import PROGRAM, PROGRAM_CHOICE

    seen: list[str] = []
    program = (
        "```python\nanswer = 1.10 - 1.05\n"
        'options = {"A": 0.10, "B": 0.05, "C": 1.0}\n'
        "print(min(options, key=lambda letter: abs(options[letter] - answer)))\n```"
    )

    def script(text: str, params: Any, index: int) -> str:
        seen.append(text)
        return program

    solution = solve(make_question(BAT_AND_BALL), strategy="pot-greedy", policy=ScriptedEngine(script),
                     config=SearchConfig(), prompts=MATH)  # fmt: skip
    assert PROGRAM.for_choices is PROGRAM_CHOICE
    assert PROGRAM_CHOICE.system in seen[0] and PROGRAM.system not in seen[0]
    assert "A) 10 cents\nB) 5 cents\nC) 1 dollar" in seen[0]
    assert solution.answer == "B" and solution.shown_answer == "B) 5 cents"
    # a question without options is asked for its value, as before
    seen.clear()
    solve("What is 2 + 2?", strategy="pot-greedy", policy=ScriptedEngine(script), config=SearchConfig(), prompts=MATH)
    assert PROGRAM.system in seen[0] and PROGRAM_CHOICE.system not in seen[0]


def test_a_program_that_names_no_option_is_asked_for_its_letter(sandboxed: None) -> None:

    def script(text: str, params: Any, index: int) -> str:
        if text.endswith("\\boxed{"):  # the answer cue after the failed program
            return "B} and more"
        return "```python\n# the ball costs 5 cents\nprint(answer)\n```"  # NameError: no option named

    engine = ScriptedEngine(script)
    solution = solve(make_question(BAT_AND_BALL), strategy="pot", policy=engine,
                     config=SearchConfig(n=2, max_tokens=60), prompts=MATH)  # fmt: skip
    assert engine.calls == [2, 2]  # the programs in one batch, both failed ones asked in one more
    for candidate in solution.result.candidates:
        assert candidate.answer == "B" and candidate.program is not None and candidate.program.answer is None
        assert candidate.text.endswith("```\n\nTherefore, the final answer is $\\boxed{B}$.")
        assert candidate.tokens <= 60
        assert solution.tree.nodes[candidate.node_id].meta["forced_answer"] is True
    assert solution.tree.total_tokens == engine.usage.generated_tokens
    assert solution.shown_answer == "B) 5 cents"
    # a question without options keeps its failed programs without an answer
    plain = solve("What is 2 + 2?", strategy="pot", policy=ScriptedEngine(script),
                  config=SearchConfig(n=2, max_tokens=60), prompts=MATH)  # fmt: skip
    assert [c.answer for c in plain.result.candidates] == [None, None]


def test_program_runs_on_a_choice_question_are_keyed_by_its_program_prompt_and_chains_are_not(tmp_path: Path) -> None:
    from tts_cli.batch import Problem
    from tts_cli.bench.plan import program_key, question_key

    choice = Problem(line=1, id="q", question="Which?", gold="A", choices=("1", "2"))
    assert set(program_key(choice)) == {"program_prompt"}
    assert program_key(Problem(line=1, id="q", question="What is 1 + 1?", gold="2")) == {}
    assert "program_prompt" not in question_key(choice)  # cached chains keep their keys

    from tts_cli.bench.cache import ResultCache
    from tts_cli.bench.runner import Bench, BenchPlan
    from tts_cli.cli.options import SearchSettings

    class Models:
        def identity(self, ref: Any) -> dict[str, Any]:
            return {"name": "m"}

    plan = BenchPlan([choice], [None], ["greedy", "majority", "pot-greedy", "mixed"], [1, 2], SearchSettings(), {})
    tasks = Bench(plan, Models(), ResultCache.open(tmp_path)).tasks()  # type: ignore[arg-type]
    keyed = {(t.strategy, t.samples) for t in tasks if "program_prompt" in t.what}
    assert keyed == {("pot-greedy", "cot"), ("pool", "program")}


def test_a_chain_cut_off_at_its_limit_is_asked_for_its_letter_within_the_limit() -> None:
    from tts_cli.strategies.sampling import FORCED_ANSWER_TOKENS

    def script(text: str, params: Any, index: int) -> str:
        if text.endswith("\\boxed{"):  # the answer cue after the cut-off chain
            return "B} and more words"
        return "Let me think about every option at great length. " * 10

    engine = ScriptedEngine(script)
    solution = solve(Question("How much does the ball cost?", ("10 cents", "5 cents", "1 dollar")), strategy="majority",
                     policy=engine, config=SearchConfig(n=2, max_tokens=60), prompts=MATH)  # fmt: skip
    assert engine.calls == [2, 2]  # the chains in one batch, both cut-off ones asked in one more
    for candidate in solution.result.candidates:
        assert candidate.answer == "B" and candidate.finish_reason == "length"
        assert candidate.text.endswith("Therefore, the final answer is $\\boxed{B}$.")
        assert candidate.tokens <= 60 and candidate.tokens == 60 - FORCED_ANSWER_TOKENS + 2  # "B}"
    assert solution.tree.total_tokens == engine.usage.generated_tokens
    assert solution.tree.nodes[solution.result.candidates[0].node_id].meta["forced_answer"] is True
    # a math question keeps its cut-off chains without an answer
    plain = solve("What is 2 + 2?", strategy="majority", policy=ScriptedEngine(script),
                  config=SearchConfig(n=2, max_tokens=60), prompts=MATH)  # fmt: skip
    assert [c.answer for c in plain.result.candidates] == [None, None]


@pytest.mark.parametrize("forced", ["C}", "Z}"])  # Z names no option: the replay asks again, and gets nothing new
def test_a_replay_serves_a_forced_answer_from_the_cache(forced: str) -> None:
    from tts_cli.bench.pool import pool_from_solution
    from tts_cli.bench.replay import ReplayEngine
    from tts_cli.bench.runner import run_result

    def script(text: str, params: Any, index: int) -> str:
        return forced if text.endswith("\\boxed{") else "long " * 40

    question = Question("Which?", ("x", "y", "z"))
    config = SearchConfig(n=3, max_tokens=50)
    live = solve(question, strategy="majority", policy=ScriptedEngine(script), config=config, prompts=MATH)
    greedy = run_result(solve(question, strategy="greedy", policy=ScriptedEngine(script), config=config, prompts=MATH))
    pool = pool_from_solution(live, seed=0)
    replayed = solve(question, strategy="majority", policy=ReplayEngine(pool, greedy, seed=0), config=config,
                     prompts=MATH)  # fmt: skip
    assert [c.answer for c in replayed.result.candidates] == [c.answer for c in live.result.candidates]
    assert {c.answer for c in live.result.candidates} == ({"C"} if forced == "C}" else {None})
    assert [c.tokens for c in replayed.result.candidates] == [c.tokens for c in live.result.candidates]


# ------------------------------------------------------------------------------ the commands


def test_ask_prints_a_text_answer_without_its_latex_wrapper(scripted_cli: Any) -> None:
    result = scripted_cli("ask", FEATHERS, "--quiet", reply="Both weigh one kilogram.\n\n\\boxed{\\text{steel}}")
    assert (result.code, result.out) == (0, "steel\n")


def test_ask_prints_the_chosen_option_with_its_letter(scripted_cli: Any) -> None:
    result = scripted_cli("ask", BAT_AND_BALL, "--quiet", reply="The ball costs 5 cents.\n\n\\boxed{B}")
    assert (result.code, result.out) == (0, "B) 5 cents\n")


def test_ask_takes_options_as_flags_and_json_carries_them(scripted_cli: Any) -> None:
    result = scripted_cli("ask", "Is 91 a prime number?", "--choice", "yes", "--choice", "no", "--json",
                          reply="91 = 7 * 13.\n\n\\boxed{no}")  # fmt: skip
    record = json.loads(result.out)
    assert record["answer"] == "B" and record["choice"] == {"letter": "B", "text": "no"}
    assert record["choices"] == [{"letter": "A", "text": "yes"}, {"letter": "B", "text": "no"}]
    assert "A) yes\nB) no" in result.seen[0]


def test_ask_prints_yes_no_in_lower_case(scripted_cli: Any) -> None:
    result = scripted_cli("ask", "Is 17 a prime number?", "--quiet", reply="\\boxed{\\text{Yes}}")
    assert result.out == "yes\n"


def test_ask_refuses_a_single_option(scripted_cli: Any) -> None:
    result = scripted_cli("ask", "Which?", "--choice", "only one")
    assert result.code == 2 and "at least two" in result.err and "Traceback" not in result.err


def test_solve_grades_mmlu_and_aqua_style_lines_by_letter(scripted_cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "mc.jsonl"
    data.write_text(
        json.dumps({"id": "mmlu", "question": "Which is a mammal?", "choices": ["eel", "dog", "ant", "owl"], "answer": 1})
        + "\n"
        + json.dumps({"id": "aqua", "question": "2 + 3?", "options": ["A)4", "B)5", "C)6"], "correct": "C"})
        + "\n"
    )
    out = tmp_path / "out.jsonl"
    result = scripted_cli("solve", str(data), "-o", str(out), "--no-tree", reply="\\boxed{B}")
    assert result.code == 0, result.err
    records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert records["mmlu"]["gold"] == "B" and records["mmlu"]["correct"] is True
    assert records["mmlu"]["choice"] == {"letter": "B", "text": "dog"}
    assert records["aqua"]["gold"] == "C" and records["aqua"]["correct"] is False
    assert [c["text"] for c in records["aqua"]["choices"]] == ["4", "5", "6"]


# --------------------------------------------------------------------------------- the bench


def test_the_bench_grades_letters_with_pass_at_n_selectors_and_the_share_without_an_answer(tmp_path: Path) -> None:
    from tts_cli.batch import Problem
    from tts_cli.bench.cache import ResultCache
    from tts_cli.bench.rows import build_rows
    from tts_cli.bench.runner import Bench, BenchPlan
    from tts_cli.cli.bench_cmd import parse_selectors
    from tts_cli.cli.options import SearchSettings

    replies = {  # sample i of each question, cycling; greedy (temperature 0) is the first
        "mammal": ["\\boxed{A}", "The answer is (B).", "\\boxed{dog}", "no idea"],
        "colour": ["\\boxed{B}", "\\boxed{Z}", "\\boxed{A}", "\\boxed{A}"],
    }

    def script(text: str, params: Any, index: int) -> str:
        key = "mammal" if "mammal" in text else "colour"
        seed_index = 0 if params.temperature <= 0 else params.seed % 100_003
        return replies[key][seed_index % 4]

    class Models:
        engine = ScriptedEngine(script, name="m")

        def identity(self, ref: Any) -> dict[str, Any]:
            return {"name": "m"}

        def name(self, ref: Any) -> str:
            return "m"

        def policy(self, ref: Any) -> Any:
            return self.engine

        def verifier(self) -> Any:
            return None

    problems = [
        Problem(line=1, id="mammal", question="Which is a mammal?", gold="B", choices=("eel", "dog", "ant", "owl")),
        Problem(line=2, id="colour", question="Colour of the sky?", gold="B", choices=("red", "blue")),
    ]
    plan = BenchPlan(problems, [None], ["greedy", "majority"], [1, 4], SearchSettings(max_tokens=64), {},
                     selectors=parse_selectors("conf-borda"))  # fmt: skip
    bench = Bench(plan, Models(), ResultCache.open(tmp_path / "cache"))
    bench.run(bench.pending())
    outcomes = list(bench.outcomes())
    got = {(o.strategy, o.n, o.problem): o for o in outcomes}
    assert got[("greedy", 1, "mammal")].answer == "A" and not got[("greedy", 1, "mammal")].correct
    assert got[("greedy", 1, "colour")].correct
    majority = got[("majority", 4, "mammal")]
    assert majority.answer == "B" and majority.correct and majority.unanswered == 0.25
    assert got[("majority", 4, "colour")].covered and got[("majority", 4, "colour")].unanswered == 0.25
    rows = {(r.strategy, r.n): r for r in build_rows(outcomes)}
    assert rows[("majority", 4)].to_dict()["no_answer"] == 0.25 and rows[("majority", 4)].coverage == 1.0
    assert any(strategy.startswith("majority/") for strategy, _ in rows)  # the selector rows
    # a question with options has a key of its own: the same text without them is another question
    keys = {task.key for task in bench.tasks()}
    plain = BenchPlan([Problem(line=1, id="mammal", question="Which is a mammal?", gold="B")], [None], ["greedy"],
                      [1], SearchSettings(max_tokens=64), {})  # fmt: skip
    assert not keys & {task.key for task in Bench(plain, Models(), ResultCache.open(tmp_path / "c2")).tasks()}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7(√3 – 1)", 7 * (3**0.5 - 1)), ("5(√3 + 1)", 5 * (3**0.5 + 1)), ("1500pi", 1500 * 3.141592653589793),
        ("10π", 31.41592653589793), ("2^10", 1024.0), ("3/8", 0.375), ("√2/2", 2**0.5 / 2), ("2√3", 2 * 3**0.5),
        ("4 sqrt(2)", 4 * 2**0.5), ("Rs. 1,680", 1680.0), ("$78.20", 78.2), ("12 km", 12.0), ("-4", -4.0),
    ],
)  # fmt: skip
def test_the_value_of_an_option_written_as_an_expression(text: str, value: float) -> None:
    from tts_cli.grading.option_value import option_value

    assert option_value(text) == pytest.approx(value)


@pytest.mark.parametrize(
    "text", ["(50,7)", "34, 62", "M/(D-3)", "1 hour and 31 minutes", "None of these", "9**9**9", "2^1000", "sqrt(x)",
             "__import__('os')", "1e400", "", "(" * 200]
)  # fmt: skip
def test_options_that_have_no_value(text: str) -> None:
    from tts_cli.grading.option_value import option_value

    assert option_value(text) is None


def test_a_programs_value_names_an_option_written_as_an_expression() -> None:
    form = ChoiceForm(make_question("Find x.", ["5(√3 + 1)", "6(√3 + 1)", "7(√3 – 1)", "8(√3 – 1)", "None of these"]))
    assert form.from_program("13.6603") == "A" and form.from_program("5.12") == "C"
    assert form.from_program("100") is None


def test_an_options_value_is_read_in_linear_time() -> None:
    """Sixty letters that end in no unit once took an exponential regex backtrack (it never returned)."""
    import subprocess
    import sys

    code = "from tts_cli.grading.option_value import option_value; print(option_value('a' * 59 + '1'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "None"
