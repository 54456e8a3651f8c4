"""Program-of-thought: extracting programs and answers (pure), and the ``pot``, ``pot-greedy`` and
``mixed`` strategies on a scripted engine whose programs really run in the sandbox."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fakes import ScriptedEngine

from tts_cli.bench.pool import interleave_pools
from tts_cli.display.tree_view import step_label
from tts_cli.engine.types import SamplingParams
from tts_cli.errors import ExitStatus
from tts_cli.programs import answer_of, extract_program
from tts_cli.prompts import MATH, prompt_set
from tts_cli.sandbox import ENV_VAR
from tts_cli.solver import solve
from tts_cli.strategies import SearchConfig, get_strategy
from tts_cli.strategies.mixed import MixedOptions, mixed_draws
from tts_cli.strategies.pot import PotOptions

QUESTION = "Janet has 3 bags of 6 apples. How many apples does she have?"


# ------------------------------------------------------------------------------ extraction


@pytest.mark.parametrize(
    ("text", "program"),
    [
        ("```python\nx = 3\nprint(x * 6)\n```\nSo the answer is 18.", "x = 3\nprint(x * 6)\n"),
        ("first\n```python\nprint(1)\n```\nthen\n```py\nprint(2)\n```", "print(2)\n"),  # the last block
        ("```python\nprint(7)\n", "print(7)\n"),  # cut off before the closing fence
        ("```\nprint(5)\n```", "print(5)\n"),  # an unlabelled fence
        ("print(4)", "print(4)\n"),  # no fence, but Python
        ("The answer is 18.", None),  # prose is no program
        ("", None),
        ("def solution():\n    return 5\n", "def solution():\n    return 5\nprint(solution())\n"),  # PAL
        ("def solution():\n    return 5\nprint(solution())", "def solution():\n    return 5\nprint(solution())\n"),
    ],
)
def test_extract_program(text: str, program: Any) -> None:
    assert extract_program(text) == program


@pytest.mark.parametrize(
    ("stdout", "answer"),
    [
        ("18\n", "18"),
        ("18.0\n", "18"),
        ("18.000000000000004\n", "18"),  # float noise
        ("3.50\n", "3.5"),
        ("1,200\n", "1200"),
        ("$5\n", "5"),
        ("20%\n", "20%"),
        ("-4\n", "-4"),
        ("debug 1\ndebug 2\n42\n", "42"),  # the last line
        ("The answer is 18\n", "18"),
        ("Answer: 18.\n", "18"),
        ("1/3\n", "1/3"),  # not one plain number: kept as printed (equivalence grades it)
        ("x=5, y=3\n", "x=5, y=3"),
        ("", None),
        ("\n  \n", None),
        ("9" * 100 + "\n", None),  # too long to be an answer
    ],
)
def test_answer_of(stdout: str, answer: Any) -> None:
    assert answer_of(stdout) == answer


def test_prompt_sets_carry_few_shot_turns_before_the_question() -> None:
    messages = prompt_set("program").messages(QUESTION)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[-1]["content"] == QUESTION and "```python" in messages[2]["content"]
    assert prompt_set("program", "Be brief.").messages(QUESTION)[0]["content"] == "Be brief."
    assert [m["role"] for m in MATH.messages(QUESTION)] == ["system", "user"]


# ------------------------------------------------------------------------------ strategies

PROGRAMS = {
    0: "```python\napples = 3 * 6\nprint(apples)\n```",
    1: "```python\nprint(3 * 6.0)\n```",
    2: "```python\nprint(3 + 6)\n```",
    3: "```python\nprint(undefined_name)\n```",  # NameError
    4: "I think it is 18.",  # no program at all
    5: "```python\nwhile True:\n    pass\n```",  # runs into the CPU limit
}


def script(text: str, params: SamplingParams, index: int) -> str:
    """Program prompts get PROGRAMS[seed index] (greedy: program 0); chain-of-thought prompts a
    solution answering 9 (a wrong arithmetic slip the programs do not make)."""
    seed_index = -1 if params.temperature <= 0 else params.seed % 100_003
    if "Python program" in text:
        return PROGRAMS[max(seed_index, 0) % len(PROGRAMS)]
    return f"3 bags + 6 apples = 9\n\nSo the answer is \\boxed{{9}} (cot {seed_index})"


def run(strategy: str, options: Any = None, **config: Any) -> Any:
    engine = ScriptedEngine(script)
    solution = solve(
        QUESTION, strategy=strategy, policy=engine, config=SearchConfig(**config), prompts=MATH, options=options
    )
    return engine, solution


def test_pot_votes_on_what_the_programs_print_and_keeps_failed_ones_as_candidates(sandboxed: None) -> None:
    engine, solution = run("pot", n=6)
    assert engine.calls == [6]  # one batch
    assert solution.answer == "18"  # programs 0 and 1 print 18 (and 18.0)
    statuses = [c.program.status for c in solution.result.candidates]
    assert statuses == ["ok", "ok", "ok", "error", "no-program", "timeout"]
    assert [c.answer for c in solution.result.candidates] == ["18", "18", "9", None, None, None]
    info = solution.result.info
    assert info["programs"] == {"ok": 3, "error": 1, "no-program": 1, "timeout": 1}
    assert info["votes"][0] == {"answer": "18", "votes": 2, "programs": 2}
    # the compute cost includes the sandbox's time (the looping program alone takes ~2 s of CPU)
    assert solution.cost.execution_seconds >= 1.0
    assert solution.cost.to_dict()["execution_seconds"] == round(solution.cost.execution_seconds, 4)
    record = json.loads(json.dumps(solution.to_dict()))
    failed = record["candidates"][3]["program"]
    assert failed["status"] == "error" and "NameError" in failed["stderr"] and failed["exit_code"] == 1
    assert record["candidates"][0]["program"]["stdout"] == "18\n"
    assert record["candidates"][0]["program"]["source"] == "apples = 3 * 6\nprint(apples)\n"


def test_the_live_tree_shows_the_program_and_how_it_failed(sandboxed: None) -> None:
    _, solution = run("pot", n=6)
    labels = [step_label(node, width=40).plain for node in solution.tree.nodes[1:]]
    assert labels[0].startswith("★ program: apples = 3 * 6") and "answer 18" in labels[0]
    assert "program error (NameError" in labels[3]
    assert "program no-program" in labels[4]
    assert "program timeout" in labels[5]


def test_pot_greedy_is_one_program_at_temperature_zero(sandboxed: None) -> None:
    engine, solution = run("pot-greedy", n=8)
    assert engine.calls == [1]
    assert solution.answer == "18" and solution.result.info["programs"] == {"ok": 1}
    assert get_strategy("pot-greedy").deterministic


def test_pot_select_takes_a_selector() -> None:
    assert get_strategy("pot").make_options({"select": "conf-borda"}) == PotOptions(select="conf-borda")


def test_mixed_alternates_chains_of_thought_and_programs_in_one_batch_and_one_vote(sandboxed: None) -> None:
    assert [(d.kind, d.index) for d in mixed_draws(5)] == [
        ("cot", 0), ("program", 0), ("cot", 1), ("program", 1), ("cot", 2),
    ]  # fmt: skip
    engine, solution = run("mixed", MixedOptions(), n=4)
    assert engine.calls == [4]
    candidates = solution.result.candidates
    assert [c.program is not None for c in candidates] == [False, True, False, True]
    # chains of thought say 9 twice, programs 18 twice: a tie, which the earliest group wins
    assert [c.answer for c in candidates] == ["9", "18", "9", "18"]
    assert solution.answer == "9"
    votes = solution.result.info["votes"]
    assert votes == [{"answer": "9", "votes": 2, "programs": 0}, {"answer": "18", "votes": 2, "programs": 2}]
    _, solution = run("mixed", n=6)  # a third program (prints 9) joins the chains of thought
    assert solution.answer == "9" and solution.result.info["votes"][0]["votes"] == 4


def test_with_greedy_the_greedy_solution_of_each_kind_comes_first(sandboxed: None) -> None:
    engine, solution = run("mixed", MixedOptions(with_greedy=True), n=2)
    assert engine.calls == [4]  # greedy chain, greedy program, then the 2 samples, in one batch
    candidates = solution.result.candidates
    assert [c.program is not None for c in candidates] == [False, True, False, True]
    assert "(cot -1)" in candidates[0].text and "(cot 0)" in candidates[2].text  # -1: temperature 0
    assert solution.result.info["greedy_candidates"] == 2
    labels = [step_label(node, width=40).plain for node in solution.tree.nodes[1:]]
    assert ["greedy ·" in label for label in labels] == [True, True, False, False]  # marked in the live tree
    # pot: the greedy program is program 0; with it, the 18s outnumber the 9 of program 2
    _, alone = run("pot", PotOptions(), n=3)
    engine, joined = run("pot", PotOptions(with_greedy=True), n=3)
    assert engine.calls == [4] and [c.answer for c in joined.result.candidates] == ["18", "18", "18", "9"]
    assert joined.answer == "18" and joined.result.info["votes"][0]["votes"] == 3
    assert [c.answer for c in alone.result.candidates] == ["18", "18", "9"] and "greedy_candidates" not in alone.result.info


def test_without_a_sandbox_programs_never_run_and_have_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "off")
    _, solution = run("pot", n=3)
    assert solution.answer is None
    assert {c.program.status for c in solution.result.candidates} == {"unavailable"}


def test_the_cli_refuses_program_strategies_without_a_sandbox(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "off")
    for strategy in ("pot", "mixed", "pot-greedy"):
        result = cli("ask", "What is 1+1?", "-s", strategy, "--policy", "/nonexistent/model.gguf")
        assert result.code == ExitStatus.USAGE, result.err
        assert result.err.count("\n") == 1
        assert f"strategy {strategy} runs model-written programs" in result.err and "TTS_SANDBOX=off" in result.err


def test_a_mixed_pool_alternates_the_two_pools() -> None:
    def pool(prefix: str, size: int, wall: float) -> dict[str, Any]:
        return {
            "size": size, "seed": 0, "model": "m", "params": 1, "prompt_tokens": 10, "cached_tokens": 5,
            "wall_seconds": wall, "answers": [f"{prefix}{i}" for i in range(size)], "tokens": list(range(size)),
            "finish": ["eos"] * size, "steps": [1] * size, "texts": [prefix] * size, "traces": [None] * size,
        }  # fmt: skip

    merged = interleave_pools(pool("c", 4, 1.0), pool("p", 3, 2.0))
    assert merged["size"] == 6
    assert merged["answers"] == ["c0", "p0", "c1", "p1", "c2", "p2"]
    assert merged["prompt_tokens"] == 20 and merged["wall_seconds"] == 3.0
    assert merged["step_scores"] is None


# ------------------------------------------------------------------------------ program verifier


def test_the_program_verifier_scores_final_answers_by_agreement_and_steps_by_arithmetic(sandboxed: None) -> None:
    from tts_cli.verifiers import make_verifier

    engine = ScriptedEngine(script)
    verifier = make_verifier("program", engine, programs=3)
    solutions = [
        ["3 * 6 = 18", "So the answer is \\boxed{18}"],  # right arithmetic, agrees with 2 of 3 programs
        ["3 * 6 = 20", "So the answer is \\boxed{20}"],  # a false claim, no program agrees
        ["3 * 6 = 18", "then we add"],  # no final answer yet: arithmetic only
    ]
    scores = verifier.score(QUESTION, solutions)
    assert scores[0] == [1.0, pytest.approx((1.0 + 2 / 3) / 2)]  # programs print 18, 18, 9
    assert scores[1] == [0.0, 0.0]
    assert scores[2] == [1.0, 1.0]
    assert verifier.score(QUESTION, solutions, last_only=True) == [s[-1:] for s in scores]
    assert engine.calls == [3]  # the programs are written once per question, in one batch
    assert verifier.usage.generated_tokens > 0 and engine.usage.generated_tokens == 0  # its own counters
    assert verifier.execution_seconds > 0


def test_best_of_n_with_the_program_verifier_picks_the_sample_the_programs_confirm(sandboxed: None) -> None:
    from tts_cli.verifiers import make_verifier

    def cot(text: str, params: SamplingParams, index: int) -> str:
        if "Python program" in text:
            return "```python\nprint(3 * 6)\n```"
        i = params.seed % 100_003
        return ["3 * 6 = 20\n\n\\boxed{20}", "3 * 6 = 18\n\n\\boxed{18}", "3 * 6 = 20\n\n\\boxed{20}"][i % 3]

    engine = ScriptedEngine(cot)
    verifier = make_verifier("program", engine, programs=2)
    solution = solve(QUESTION, strategy="best-of-n", policy=engine, config=SearchConfig(n=3), prompts=MATH, verifier=verifier)
    assert solution.answer == "18"
    assert solution.cost.verifier is not None and solution.cost.verifier.generated_tokens > 0
    assert solution.cost.execution_seconds > 0  # the verifier's programs count as the run's execution time
    majority = solve(QUESTION, strategy="majority", policy=engine, config=SearchConfig(n=3), prompts=MATH)
    assert majority.answer == "20"


def test_the_cli_takes_a_model_free_verifier_kind_and_refuses_a_model_kind_without_a_model(cli: Any) -> None:
    result = cli("ask", "What is 1+1?", "-s", "best-of-n", "--verifier-kind", "judge", "--policy", "/nonexistent.gguf")
    assert result.code == ExitStatus.USAGE and "--verifier-kind judge needs --verifier MODEL" in result.err
    result = cli("ask", "What is 1+1?", "-s", "best-of-n", "--verifier-kind", "arithmetc", "--policy", "/nonexistent.gguf")
    assert result.code == ExitStatus.USAGE and "did you mean 'arithmetic'" in result.err
    # a model-free kind passes the checks: the run fails only on the missing policy model
    result = cli("ask", "What is 1+1?", "-s", "best-of-n", "--verifier-kind", "arithmetic", "--policy", "/nonexistent.gguf")
    assert result.code == ExitStatus.MODEL, result.err
