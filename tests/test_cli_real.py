"""`tts ask` / `tts solve` on the real smollm2-135m model: in this process with a test environment
(the ``cli`` fixture; every test here is `real`, so it runs in a forked child), and as the real
process (`python -m tts_cli`) where the process itself is what is checked: the streams of the
binary, and Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from procs import default_sigint

pytestmark = pytest.mark.real

FAST = ["--policy", "smollm2-135m", "--max-tokens", "24", "--threads", "2"]


def tts_process(*args: str, stdin: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tts_cli", *args], input=stdin, capture_output=True, timeout=timeout, env=env
    )


def one_line_error(result) -> str:
    err = result.err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("tts: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(autouse=True)
def _model(smollm2_path: Path) -> None:
    """Make sure the model is in the cache before any subprocess needs it."""


def test_ask_prints_only_the_answer_on_stdout_and_cost_on_stderr():
    """The real binary (supervised): the answer alone on stdout, the cost table on stderr."""
    proc = tts_process("ask", "What is 2 + 3?", *FAST)
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(proc.stdout.decode().splitlines()) == 1
    err = proc.stderr.decode()
    assert "smollm2-135m" in err and "generated" in err and "FLOPs" in err
    assert "\x1b[" not in proc.stdout.decode() + err  # not a terminal: no escape codes


def test_ask_json_has_answer_candidates_and_measured_cost(cli):
    result = cli("ask", "What is 2 + 3?", *FAST, "--json", "-s", "majority", "-n", "3", "--seed", "5")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["strategy"] == "majority"
    assert len(data["candidates"]) == 3 and all({"answer", "text"} <= set(c) for c in data["candidates"])
    policy = data["cost"]["policy"]
    assert policy["model"] == "smollm2-135m"
    assert policy["prompt_tokens"] > 0 and policy["generated_tokens"] > 0
    # three samples of one prompt: the prompt is evaluated once and copied twice
    assert policy["cached_tokens"] >= 2 * policy["prompt_tokens"]
    assert data["cost"]["verifier"] is None
    assert data["cost"]["flops"] == pytest.approx(2 * 134515008 * (policy["prompt_tokens"] + policy["generated_tokens"]))
    again = json.loads(cli("ask", "What is 2 + 3?", *FAST, "--json", "-s", "majority", "-n", "3", "--seed", "5").out)
    assert [c["text"] for c in again["candidates"]] == [c["text"] for c in data["candidates"]]


def test_with_greedy_decodes_the_greedy_solution_in_the_same_batch(cli):
    result = cli("ask", "What is 2 + 3?", *FAST, "--json", "-s", "majority", "-n", "2", "--with-greedy")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert len(data["candidates"]) == 3 and data["info"]["greedy_candidates"] == 1
    assert sum(v["votes"] for v in data["info"]["votes"]) == sum(c["answer"] is not None for c in data["candidates"])
    # one batch of three sequences of one prompt: the prompt is evaluated once and copied twice
    policy = data["cost"]["policy"]
    assert policy["cached_tokens"] >= 2 * policy["prompt_tokens"] > 0


def test_ask_reads_the_question_from_stdin(cli):
    result = cli("ask", "-", *FAST, "--quiet", stdin=b"What is 2 + 3?\n")
    assert result.code == 0 and result.out.strip()
    assert result.err.strip() == ""


@pytest.mark.parametrize(
    "args, stdin, code, words",
    [
        (["ask", "   "], None, 2, "empty"),
        (["ask", "-"], b"\x00\x01binary", 2, "binary"),
        (["ask", "-"], b"caf\xe9 invalid utf-8", 2, "UTF-8"),
        (["ask", "hi", "-s", "beem"], None, 2, "did you mean 'beam'"),
        (["ask", "hi", "-n", "0"], None, 2, "-n must be at least 1"),
        (["ask", "hi", "--temperature", "-1"], None, 2, "--temperature"),
        (["ask", "hi", "--budget", "-5"], None, 2, "--budget"),
        (["ask", "hi", "-s", "beam", "-n", "2", "--beam-width", "4", "--verifier", "smollm2-135m"], None, 2, "beam-width"),
        (["ask", "hi", "-s", "beam"], None, 2, "needs a verifier"),
        (["ask", "hi", "--policy", "no-such-model"], None, 2, "unknown model"),
        (["ask", "hi", "--policy", "/nonexistent/model.gguf"], None, 3, "not found"),
    ],
)
def test_bad_input_gives_one_line_error_and_documented_exit_code(cli, args, stdin, code, words):
    result = cli(*args, stdin=stdin or b"")
    assert result.code == code, result.err
    assert words.lower() in one_line_error(result).lower()


def test_a_file_that_is_not_a_gguf_is_a_model_error(cli, tmp_path):
    fake = tmp_path / "fake.gguf"
    fake.write_text("this is not a model")
    result = cli("ask", "hi", "--policy", str(fake))
    assert result.code == 3
    assert "gguf" in one_line_error(result).lower()


def test_solve_keeps_going_past_a_malformed_line(cli, tmp_path):
    problems = tmp_path / "p.jsonl"
    problems.write_text(
        json.dumps({"id": "a", "question": "What is 1 + 1?", "answer": "#### 2"}) + "\n"
        + "{not json\n"
        + json.dumps({"id": "c", "question": "What is 2 + 2?", "answer": "#### 4"}) + "\n"
    )
    result = cli("solve", str(problems), *FAST, "--no-tree")
    assert result.code == 4
    records = {r["id"]: r for r in map(json.loads, result.out.splitlines())}  # in the order they finish
    assert sorted(map(str, records)) == ["2", "a", "c"]
    assert "error" in records[2] and "line 2" in records[2]["error"]
    assert {"answer", "correct", "gold", "cost"} <= set(records["a"])
    assert "line 2" in result.err


def test_solve_interrupted_by_sigint_then_resumed(cli, tmp_path):
    problems = tmp_path / "p.txt"
    problems.write_text("".join(f"What is {i} + {i}?\n" for i in range(1, 41)))
    out = tmp_path / "out.jsonl"
    args = [sys.executable, "-m", "tts_cli", "solve", str(problems), "-o", str(out), *FAST, "--no-tree", "--max-tokens", "48"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=default_sigint)
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 3):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert "Traceback" not in err.decode() and "--resume" in err.decode()
    first = [json.loads(line) for line in out.read_text().splitlines()]  # valid JSONL
    assert 3 <= len(first) < 40
    resumed = cli(*args[3:], "--resume")
    assert resumed.code == 0, resumed.err
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == list(range(1, 41))


def test_mixed_runs_the_real_models_programs_in_the_sandbox(cli, sandboxed):
    """Chain-of-thought and program samples of the real model in one batch: every program sample
    carries its program's status, source and output, and the cost its sandbox time."""
    from tts_cli.sandbox import STATUSES

    result = cli("ask", "What is 6 times 7?", "-s", "mixed", "-n", "4", "--json", *FAST[:2], "--max-tokens", "64",
                 "--threads", "2")  # fmt: skip
    assert result.code == 0, result.err
    record = json.loads(result.out)
    programs = [c["program"] for c in record["candidates"] if "program" in c]
    assert len(programs) == 2 and len(record["candidates"]) == 4
    for program in programs:
        assert program["status"] in (*STATUSES, "no-program", "no-answer")
        assert program["status"] == "no-program" or program["source"]
    assert record["cost"]["policy"]["generated_tokens"] > 0
    ran = [p for p in programs if p["status"] not in ("no-program", "unavailable")]
    assert (record["cost"]["execution_seconds"] > 0) == bool(ran)


def test_ask_a_multiple_choice_question_on_the_real_model(cli):
    """The path of a question with options through the real engine: the prompt holds the lettered
    options, the answer is one of their letters (or none), and stdout shows it as `B) 5 cents`."""
    question = ("A bat and a ball cost $1.10. The bat costs $1.00 more than the ball. How much does the ball "
                "cost? Answer with A) 10 cents B) 5 cents C) 1 dollar")  # fmt: skip
    record = json.loads(cli("ask", question, *FAST[:2], "--max-tokens", "48", "--json", "-s", "majority", "-n", "3").out)
    assert [c["letter"] for c in record["choices"]] == ["A", "B", "C"]
    assert record["question"].endswith("A) 10 cents\nB) 5 cents\nC) 1 dollar")
    assert all(c["answer"] in ("A", "B", "C", None) for c in record["candidates"])
    assert record["answer"] in ("A", "B", "C", None)
    shown = cli("ask", question, *FAST, "--quiet").out
    assert re.fullmatch(r"(?:[ABC]\) (?:10 cents|5 cents|1 dollar)|\(no answer\))\n", shown), shown


def test_ask_a_text_question_on_the_real_model_prints_no_latex_wrapper(cli):
    result = cli("ask", "Which is heavier, a kilogram of feathers or a kilogram of steel?", *FAST[:2], "--max-tokens", "64", "--quiet")
    assert result.code == 0 and "\\text" not in result.out and len(result.out.splitlines()) == 1


def test_solve_an_mmlu_style_line_on_the_real_model(cli, tmp_path):
    data = tmp_path / "mc.jsonl"
    data.write_text(json.dumps({"id": "m1", "question": "Which of these is a mammal?",
                                "choices": ["eel", "dog", "ant", "owl"], "answer": 1}) + "\n")  # fmt: skip
    out = tmp_path / "out.jsonl"
    result = cli("solve", str(data), *FAST, "-o", str(out), "--no-tree")
    assert result.code == 0, result.err
    record = json.loads(out.read_text())
    assert record["gold"] == "B" and [c["text"] for c in record["choices"]] == ["eel", "dog", "ant", "owl"]
    assert record["answer"] in ("A", "B", "C", "D", None)
    assert record["correct"] == (record["answer"] == "B")
    # cut off at 24 tokens, the chain was asked for its letter: an answer, or a visible lack of one
    assert record["candidates"][0]["tokens"] <= 24
