"""Model-written text never reaches the user's terminal with its escape sequences: an answer (from
a chain of thought or a program's output), the live tree's steps, and the options of a question.
JSON output carries the text as written, escaped as JSON escapes control characters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tts_cli.programs import answer_of
from tts_cli.safe_text import one_line, printable

# OSC 52 writes the clipboard, OSC 0 the window title; CSI 2J clears the screen
HOSTILE = "\x1b]52;c;cm0gLXJmIH4=\x1b\\\x1b]0;owned\x07\x1b[2J"


def test_escape_sequences_and_control_characters_are_removed() -> None:
    assert printable(HOSTILE + "42") == "42"
    assert printable("a\x1b[31mred\x1b[0m\tb\r\nc\x08\x9b\x00") == "ared\tb\nc"
    assert one_line("first\nsecond\tthird\x1b]0;t\x07") == "first second third"
    assert printable("unterminated \x1b]0;owned") == "unterminated "
    assert printable("plain — ünïcode ✓ 5 cents") == "plain — ünïcode ✓ 5 cents"


def test_a_program_that_prints_escape_sequences_answers_only_its_value() -> None:
    assert answer_of(f"{HOSTILE}42\n") == "42"
    assert answer_of("working\n\x1b]0;owned\x07steel\n") == "steel"


def test_ask_prints_a_chain_answer_without_its_escape_sequences(scripted_cli: Any) -> None:
    result = scripted_cli("ask", "What is 6 times 7?", "--quiet", reply=f"6 * 7 = 42.\n\n\\boxed{{{HOSTILE}42}}")
    assert result.code == 0 and result.out == "42\n"


def test_json_keeps_what_the_model_wrote_escaped(scripted_cli: Any) -> None:
    result = scripted_cli("ask", "What is 6 times 7?", "--json", reply=f"\\boxed{{{HOSTILE}42}}")
    assert "\x1b" not in result.out and "\x07" not in result.out and "\\u001b" in result.out
    assert "\x1b]0;owned" in json.loads(result.out)["candidates"][0]["text"]


def test_the_live_tree_shows_no_escape_sequence(scripted_cli: Any) -> None:
    question = f"Pick one {HOSTILE}\nA) red{HOSTILE}\nB) blue"
    result = scripted_cli("ask", question, "-s", "majority", "-n", "2", stderr_isatty=True,
                          reply=f"Step one{HOSTILE} is done.\n\n\\boxed{{A}}")  # fmt: skip
    assert result.code == 0 and result.out == "A) red\n"
    assert "\x1b]" not in result.err and "\x07" not in result.err and "owned" not in result.err
    assert "Step one is done" in result.err


@pytest.mark.usefixtures("sandboxed")
def test_ask_prints_a_programs_answer_without_its_escape_sequences(scripted_cli: Any) -> None:
    program = f"```python\nprint({HOSTILE + '42'!r})\n```"
    result = scripted_cli("ask", "What is 6 times 7?", "-s", "pot", "-n", "1", "--quiet", reply=program)
    assert result.code == 0 and result.out == "42\n"
