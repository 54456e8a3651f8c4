"""Batch input parsing and resumable output (no model)."""

from __future__ import annotations

import json

from tts_cli.batch import BadLine, Problem, ResultWriter, finished_ids, parse_lines


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


def test_finished_ids_ignores_errors_and_repairs_a_cut_last_line(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text(
        json.dumps({"id": 1, "answer": "3"}) + "\n"
        + json.dumps({"id": 2, "line": 2, "error": "boom"}) + "\n"
        + json.dumps({"id": "x", "answer": "4"}) + "\n"
        + '{"id": 4, "answ'
    )
    assert finished_ids(out) == {1, "x"}
    text = out.read_text()
    assert text.endswith("\n") and all(json.loads(line) for line in text.splitlines())


def test_result_writer_writes_complete_lines(tmp_path):
    out = tmp_path / "r.jsonl"
    writer = ResultWriter.open(out, append=False)
    writer.write({"id": 1, "answer": "é"})
    writer.write({"id": 2, "answer": None})
    writer.close()
    assert [json.loads(x)["id"] for x in out.read_text(encoding="utf-8").splitlines()] == [1, 2]
