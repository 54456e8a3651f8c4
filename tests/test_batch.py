"""Batch input parsing and resumable output, and `tts solve` run in-process on a scripted engine."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import pytest
from fakes import ScriptedEngine

from tts_cli.batch import (
    BadLine,
    Previous,
    Problem,
    ResultWriter,
    drop_error_records,
    parse_lines,
    plan_resume,
    read_items,
    read_previous,
)
from tts_cli.errors import ContextOverflowError, ExitStatus, InputError, OutputError


def lines(*items: str) -> list[bytes]:
    return [(s + "\n").encode() for s in items]


def test_plain_text_one_question_per_line_skips_blank_lines():
    items = list(parse_lines(lines("What is 1+1?", "", "  What is 2+2?  ")))
    assert [(p.line, p.id, p.question) for p in items] == [(1, 1, "What is 1+1?"), (3, 3, "What is 2+2?")]


def test_jsonl_with_gsm8k_and_math_gold_answers():
    items = list(
        parse_lines(
            lines(
                json.dumps({"question": "Q1", "answer": "so 3*4=12\n#### 1,200"}),
                json.dumps({"problem": "Q2", "answer": "\\frac{1}{2}", "unique_id": "test/x.json"}),
                json.dumps({"id": "a", "question": "Q3"}),
            )
        )
    )
    assert all(isinstance(p, Problem) for p in items)
    assert [(p.id, p.question, p.gold) for p in items] == [
        (1, "Q1", "1200"),
        ("test/x.json", "Q2", "\\frac{1}{2}"),
        ("a", "Q3", None),
    ]


def test_malformed_lines_are_reported_with_their_number_and_the_rest_kept():
    items = list(
        parse_lines(
            lines(
                json.dumps({"question": "ok"}),
                "{broken",
                json.dumps({"question": 5}),
                json.dumps({"text": "no question field"}),
                json.dumps([1, 2]),
                json.dumps({"question": "   "}),
                json.dumps({"id": 1, "question": "duplicate of line 1's id"}),
                json.dumps({"question": "fine too"}),
            )
            + [b"\xff\xfe bad utf8\n"]
        )
    )
    bad = [i for i in items if isinstance(i, BadLine)]
    good = [i for i in items if isinstance(i, Problem)]
    assert [p.question for p in good] == ["ok", "fine too"]
    assert [b.line for b in bad] == [2, 3, 4, 5, 6, 7, 9]
    assert all(b.error.startswith(f"line {b.line}:") for b in bad)
    assert "duplicate id" in bad[5].error


def test_read_previous_tells_answers_from_errors_and_repairs_a_cut_last_line(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text(
        json.dumps({"id": 1, "answer": "3"}) + "\n"
        + json.dumps({"id": 2, "line": 2, "error": "boom"}) + "\n"
        + "not json, left alone\n"
        + json.dumps({"id": [5], "answer": "an id no input has"}) + "\n"
        + json.dumps({"id": "x", "answer": "4"}) + "\n"
        + '{"id": 4, "answ'
    )
    previous = read_previous(out)
    assert previous.answered == {1, "x"}
    assert previous.failed == {(2, 2)}
    text = out.read_text()
    assert text.endswith("\n") and text.splitlines()[-1] == json.dumps({"id": "x", "answer": "4"})


def test_result_writer_writes_complete_lines(tmp_path):
    out = tmp_path / "r.jsonl"
    writer = ResultWriter.open(out, append=False)
    writer.write({"id": 1, "answer": "é"})
    writer.write({"id": 2, "answer": None})
    writer.close()
    assert [json.loads(x)["id"] for x in out.read_text(encoding="utf-8").splitlines()] == [1, 2]


def test_an_output_that_cannot_be_opened_is_a_runtime_error_not_an_input_error(tmp_path):
    with pytest.raises(OutputError, match=r"^cannot write .*: No such file or directory") as info:
        ResultWriter.open(tmp_path / "no" / "r.jsonl", append=False)
    assert info.value.exit_status == ExitStatus.ERROR and not isinstance(info.value, InputError)


def test_binary_data_is_refused_as_a_whole():
    with pytest.raises(InputError, match=r"^input file x\.bin is binary data"):
        read_items(lines("What is 1+1?", "What is 2+2?") + [b"\x00\x01\x02\n"], "input file x.bin")


def test_a_non_utf8_line_among_text_lines_stays_a_bad_line():
    items = read_items(lines("What is 1+1?") + [b"caf\xe9?\n"] + lines("What is 2+2?"), "input file p.txt")
    assert [type(i).__name__ for i in items] == ["Problem", "BadLine", "Problem"]


def test_plan_resume_skips_answers_keeps_recorded_bad_lines_and_drops_errors_of_retried_problems():
    items = list(
        parse_lines(
            lines(
                json.dumps({"id": "a", "question": "answered"}),
                "{broken",
                json.dumps({"id": "b", "question": "failed to solve before"}),
                json.dumps({"id": "a", "question": "duplicate"}),
                "{broken too, never written",
                json.dumps({"id": "c", "question": "new"}),
            )
        )
    )
    previous = Previous(answered={"a"}, failed={(2, 2), ("b", 3), ("a", 4), ("gone", 9)})
    todo, stale = plan_resume(items, previous)
    assert [(i.line, getattr(i, "recorded", None)) for i in todo] == [
        (2, True), (3, None), (4, True), (5, False), (6, None)
    ]
    assert stale == {("b", 3)}


def test_drop_error_records_rewrites_the_file_in_place(tmp_path):
    out = tmp_path / "out.jsonl"
    records = [{"id": 1, "answer": "3"}, {"id": 2, "line": 2, "error": "boom"}, {"id": 3, "line": 3, "error": "bad"}]
    out.write_text("".join(json.dumps(r) + "\n" for r in records))
    os.chmod(out, 0o640)
    link = tmp_path / "link.jsonl"
    link.symlink_to(out)
    drop_error_records(link, {(2, 2)})
    assert [json.loads(x) for x in out.read_text().splitlines()] == [records[0], records[2]]
    assert link.is_symlink() and (out.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.jsonl", "out.jsonl"]


# ---------------------------------------------------------------------------------------------
# `tts solve` in-process: the policy is a ScriptedEngine, so no model is loaded

GUARD = ["--policy", "/nonexistent/must-not-be-loaded.gguf"]


class _NoLoader:
    def load_verifier(self, ref: Any, kind: Any) -> None:
        return None

    def close(self) -> None:
        pass


@pytest.fixture
def solve_cli(monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Any]) -> Callable[..., tuple[int, str]]:
    """Runs `tts solve ARGS` in this process; returns (exit status, stderr). Every question is
    answered 42, except those containing ``overflow`` while ``overflow`` is in ``failing``."""
    from tts_cli.cli.runtime import Session
    from tts_cli.prompts import prompt_set

    monkeypatch.setenv("TTS_CONFIG_DIR", "/nonexistent/tts-config")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("TTS_MODELS", raising=False)
    failing = {"overflow"}

    def script(text: str, params: Any, index: int) -> str:
        if any(word in text for word in failing):
            raise ContextOverflowError("the question does not fit in the context")
        return "So the answer is \\boxed{42}."

    def open_session(env: Any, settings: Any, config: Any, *, quiet: bool = False, concurrent: bool = False) -> Session:
        return Session(
            config=config, strategy=settings.strategy, policy=ScriptedEngine(script), verifier=None,
            prompts=prompt_set("math"), loader=_NoLoader(),
        )

    monkeypatch.setattr("tts_cli.cli.runtime.open_session", open_session)

    def invoke(*args: str, stdin: bytes = b"", fixed: bool = False) -> tuple[int, str]:
        if fixed:
            failing.clear()
        result = cli("solve", *args, *GUARD, "--no-tree", stdin=stdin)
        return result.code, result.err

    return invoke


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_resume_does_not_write_a_bad_lines_error_record_twice(tmp_path, solve_cli):
    problems = tmp_path / "in.jsonl"
    problems.write_text(
        json.dumps({"id": "a", "question": "What is 6 * 7?"}) + "\n{broken\n"
        + json.dumps({"question": "What is 40 + 2?"}) + "\n"
    )
    out = tmp_path / "out.jsonl"
    code, err = solve_cli(str(problems), "-o", str(out))
    assert code == 4, err
    first = out.read_bytes()
    assert sorted(str(r["id"]) for r in _records(out)) == ["2", "3", "a"]  # in the order they finish
    for _ in range(2):
        code, err = solve_cli(str(problems), "-o", str(out), "--resume")
        assert code == 4, err  # the output still holds a failed line
        assert out.read_bytes() == first
        assert [line for line in err.splitlines() if line.startswith("tts: line 2: malformed JSON")] != []
        assert "tts: error:" not in err


def test_resume_retries_a_failed_problem_and_keeps_one_record_per_id(tmp_path, solve_cli):
    problems = tmp_path / "in.txt"
    problems.write_text("What is 6 * 7?\nan overflow question\nWhat is 40 + 2?\n")
    out = tmp_path / "out.jsonl"
    code, err = solve_cli(str(problems), "-o", str(out))
    assert code == 4, err
    assert {r["id"]: "error" in r for r in _records(out)} == {1: False, 2: True, 3: False}
    code, err = solve_cli(str(problems), "-o", str(out), "--resume")
    assert code == 4, err  # it fails again, and its one error record is replaced
    assert sorted(r["id"] for r in _records(out)) == [1, 2, 3]
    code, err = solve_cli(str(problems), "-o", str(out), "--resume", fixed=True)
    assert code == 0, err
    records = _records(out)
    assert sorted(r["id"] for r in records) == [1, 2, 3]
    assert all("error" not in r and r["answer"] == "42" for r in records)


def test_a_binary_input_file_is_refused_before_anything_is_solved(tmp_path, solve_cli):
    binary = tmp_path / "bin.dat"
    binary.write_bytes(bytes(range(256)) * 16)
    out = tmp_path / "out.jsonl"
    code, err = solve_cli(str(binary), "-o", str(out))
    assert code == 2
    assert err.splitlines() == [f"tts: error: input file {binary} is binary data (it contains NUL bytes)"]
    assert not out.exists()


def test_binary_stdin_is_refused_before_anything_is_solved(tmp_path, solve_cli):
    out = tmp_path / "out.jsonl"
    code, err = solve_cli("-", "-o", str(out), stdin=b"What is 1+1?\n\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert code == 2
    assert err.splitlines() == ["tts: error: the input on stdin is binary data (it contains NUL bytes)"]
    assert not out.exists()


def test_one_non_utf8_line_among_text_lines_is_an_error_record(tmp_path, solve_cli):
    out = tmp_path / "out.jsonl"
    code, err = solve_cli("-", "-o", str(out), stdin=b"What is 6 * 7?\nWhat is caf\xe9?\nWhat is 40 + 2?\n")
    assert code == 4, err
    records = {r["id"]: r for r in _records(out)}
    assert sorted(records) == [1, 2, 3]
    assert "not valid UTF-8" in records[2]["error"] and records[1]["answer"] == records[3]["answer"] == "42"
    assert "tts: error:" not in err
