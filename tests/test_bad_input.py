"""Bad input through the CLI, as a user meets it: `tts ...` in this process with a test environment
(the ``cli`` fixture), and a few cases through the real process (`python -m tts_cli ...`) at the end.

Every case checks the documented exit status (0 ok, 1 runtime failure, 2 usage/input/config,
3 model missing/corrupt/unloadable, 4 some batch lines failed, 130 interrupted), that stderr holds
exactly one ``tts: error: ...`` line (or Typer's own short usage message, or one ``tts: line N``
note per bad batch line) and never a traceback.

Most cases must fail before any model is loaded. They add ``GUARD``, a ``--policy`` that names a
file that does not exist: should a check ever move after model loading, the case fails fast with
exit 3 instead of loading (and running) a real model. Cases that need a model to run are marked
``real`` and use the tiny ``smollm2-135m`` with a handful of tokens.

Results that cannot be written (no such directory, not allowed, a full disk: /dev/full, ENOSPC)
are a runtime failure: exit 1.

The real process adds what no in-process run can show: the supervisor between the user and the
command (exit statuses passed through, inherited streams), signals, and the interpreter's exit (no
"Exception ignored" when stdout cannot be flushed). Those contract checks run `python -m tts_cli`.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest
from procs import default_sigint
from test_store import gguf_bytes, sha256_of

GUARD = ["--policy", "/nonexistent/must-not-be-loaded.gguf"]
FAST = ["--policy", "smollm2-135m", "--max-tokens", "8", "--threads", "2"]
ISOLATED = {"TTS_MODELS": None, "TTS_CONFIG_DIR": "/nonexistent/tts-config"}  # not the user's models
Tts = Callable[..., Any]


@pytest.fixture
def tts(cli: Tts) -> Tts:
    """`tts ARGS` in this process (see the ``cli`` fixture), away from the user's configuration."""

    def invoke(*args: str, **kwargs: Any) -> Any:
        return cli(*args, **{**ISOLATED, **kwargs})

    return invoke


@dataclass
class Result:
    code: int
    out: str
    err: str


def tts_process(
    *args: str, stdin: Optional[bytes] = None, timeout: float = 60, stdout: Optional[object] = None, **env: str
) -> Result:
    """`python -m tts_cli ARGS`: the real process, supervisor included."""
    environ = {k: v for k, v in os.environ.items() if k != "TTS_MODELS"}
    environ.update({"NO_COLOR": "1", "TTS_CONFIG_DIR": "/nonexistent/tts-config", **env})
    proc = subprocess.run(
        [sys.executable, "-m", "tts_cli", *args],
        input=stdin,
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=timeout,
        env=environ,
    )
    out, err = (proc.stdout or b"").decode("utf-8", errors="replace"), proc.stderr.decode("utf-8", errors="replace")
    return Result(proc.returncode, out, err)


def no_traceback(result: Any) -> str:
    assert "Traceback" not in result.err and "Exception ignored" not in result.err, result.err
    return result.err


def one_line_error(result: Any, code: int) -> str:
    """The single ``tts: error:`` line; also checks the exit status."""
    err = no_traceback(result)
    assert result.code == code, err
    lines = [line for line in err.splitlines() if line.startswith("tts: error:")]
    assert len(lines) == 1, err
    return lines[0]


def usage_message(result: Any) -> str:
    """Typer's own short usage message for a malformed command line: exit 2, a few lines
    (``Usage: tts ...``, a hint and ``Error: ...``; a missing option value gets the error alone)."""
    err = no_traceback(result)
    assert result.code == 2, err
    assert "Error:" in err and len(err.splitlines()) <= 6, err
    return err


# ---------------------------------------------------------------------------------------------
# Options and questions: usage errors found before any model is loaded

BIG_QUESTION = b"What is 1 + 1? " * 350_000  # 5.25 MB


@pytest.mark.parametrize(
    ("args", "stdin", "code", "words"),
    [
        # questions
        (["ask", ""], None, 2, "is empty"),
        (["ask", "  \t  \n "], None, 2, "is empty"),
        (["ask", "-"], b"", 2, "is empty"),
        (["ask", "-"], b"  \n\t\r\n", 2, "is empty"),
        (["ask", "-"], b"\xef\xbb\xbf  \n", 2, "is empty"),  # a BOM and nothing else
        (["ask"], b"", 2, "is empty"),  # stdin is a pipe, nothing in it
        (["ask", "-"], b"\x00\x01\x02binary\xff", 2, "binary"),
        (["ask", "-"], b"What is 2 + 2?\x00", 2, "binary"),
        (["ask", "-"], b"caf\xe9 is not UTF-8", 2, "not valid UTF-8"),
        (["ask", "-"], b"\xc3", 2, "not valid UTF-8"),  # a cut multi-byte sequence
        pytest.param(["ask", "-"], BIG_QUESTION, 2, "larger than 1000 kB", id="5MB-question"),
        # sampling and search options
        (["ask", "hi", "-n", "0"], None, 2, "-n must be at least 1 (got 0)"),
        (["ask", "hi", "-n", "-3"], None, 2, "-n must be at least 1"),
        (["ask", "hi", "--budget", "-5"], None, 2, "--budget must be a positive"),
        (["ask", "hi", "--budget", "0"], None, 2, "--budget must be a positive"),
        (["ask", "hi", "--temperature", "-0.5"], None, 2, "--temperature must be >= 0"),
        (["ask", "hi", "--temperature", "nan"], None, 2, "--temperature must be >= 0"),
        (["ask", "hi", "--temperature", "inf"], None, 2, "--temperature must be >= 0"),
        (["ask", "hi", "--top-p", "0"], None, 2, "--top-p must be in (0, 1]"),
        (["ask", "hi", "--top-p", "1.5"], None, 2, "--top-p must be in (0, 1]"),
        (["ask", "hi", "--top-p", "nan"], None, 2, "--top-p must be in (0, 1]"),
        (["ask", "hi", "--max-tokens", "0"], None, 2, "--max-tokens must be at least 1"),
        (["ask", "hi", "--ctx", "10"], None, 2, "--ctx must be at least 256"),
        (["ask", "hi", "--ctx", "99999999999"], None, 2, "--ctx must be at most"),
        (["ask", "hi", "--threads", "0"], None, 2, "--threads must be at least 1"),
        (["ask", "hi", "-s", "beem"], None, 2, "did you mean 'beam'"),
        (["ask", "hi", "-s", "nonsense"], None, 2, "unknown strategy 'nonsense'"),
        (["ask", "hi", "-s", "beam"], None, 2, "needs a verifier"),
        (["ask", "hi", "-s", "beam", "-n", "2", "-m", "4", "-v", "smollm2-135m"], None, 2, "--beam-width (4) cannot exceed -n (2)"),
        (["ask", "hi", "-s", "dvts", "-n", "3", "-m", "8", "-v", "smollm2-135m"], None, 2, "cannot exceed -n"),
        (["ask", "hi", "-m", "0"], None, 2, "--beam-width must be at least 1"),
        (["ask", "hi", "-s", "beam", "-v", "x", "--max-depth", "0"], None, 2, "--max-depth must be at least 1"),
        (["ask", "hi", "-s", "mcts", "-v", "x", "--iterations", "0"], None, 2, "--iterations must be at least 1"),
        (["ask", "hi", "-s", "mcts", "-v", "x", "--c-puct", "-1"], None, 2, "--c-puct must be >= 0"),
        (["ask", "hi", "-s", "refine", "--rounds", "0"], None, 2, "--rounds must be at least 1"),
        (["ask", "hi", "--aggregate", "median"], None, 2, "--aggregate must be one of last, min, prod, mean"),
        (["ask", "hi", "--verifier-kind", "oracle", "-v", "x"], None, 2, "unknown verifier kind 'oracle'"),
        (["ask", "hi", "--verifier-kind", "jduge", "-v", "x"], None, 2, "did you mean 'judge'"),
        (["ask", "hi", "--verifier-kind", "judge"], None, 2, "--verifier-kind judge needs --verifier"),
        # solve's own options and input
        (["solve", "/dev/null", "--limit", "0"], None, 2, "--limit must be at least 1 (got 0)"),
        (["solve", "/dev/null", "--limit", "-2"], None, 2, "--limit must be at least 1"),
        (["solve", "/dev/null", "--resume"], None, 2, "--resume needs --output"),
        (["solve", "/nonexistent/problems.jsonl"], None, 2, "input file not found"),
        (["solve", "/tmp"], None, 2, "input file not found"),
        (["solve", "-"], b"What is 1 + 1?\n\x00\x01\x02binary\xff\n", 2, "the input on stdin is binary data"),
        (["solve", "/dev/null", "-n", "0"], None, 2, "-n must be at least 1"),
    ],
)
def test_usage_errors_before_any_model_is_loaded(
    tts: Tts, args: list[str], stdin: Optional[bytes], code: int, words: str
) -> None:
    started = time.monotonic()
    result = tts(*args, *GUARD, stdin=stdin or b"")
    assert words in one_line_error(result, code)
    assert result.out == ""
    assert time.monotonic() - started < 30  # even the 5 MB question is refused at once


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["ask", "hi", "--max-tokens", "many"], "Invalid value for '--max-tokens'"),
        (["ask", "hi", "-n", "1.5"], "Invalid value for '-n'"),
        (["ask", "hi", "--temperature", "hot"], "Invalid value for '--temperature'"),
        (["ask", "hi", "--no-such-option"], "No such option: --no-such-option"),
        (["ask", "hi", "-n"], "Option '-n' requires an argument"),
        (["solve"], "Missing argument 'source'"),
        (["solve", "a.jsonl", "b.jsonl"], "Got unexpected extra argument"),
        (["models", "pull"], "Missing argument 'NAME'"),
        (["no-such-command"], "No such command 'no-such-command'"),
    ],
)
def test_malformed_command_lines_get_typers_usage_message(tts: Tts, args: list[str], words: str) -> None:
    assert words in usage_message(tts(*args))


# ---------------------------------------------------------------------------------------------
# models.toml given with --models

SOURCE = '[[models.x.sources]]\nkind = "url"\nurl = "http://127.0.0.1:1/x.gguf"\n'


@pytest.mark.parametrize(
    ("toml", "args", "code", "words"),
    [
        ('default_policy = \n', GUARD, 2, "m.toml:1: invalid TOML"),
        ('[models.x\nfile = "x.gguf"\n', GUARD, 2, "invalid TOML"),
        ('[models.x]\nfile = "a"\nfile = "b"\n', GUARD, 2, "invalid TOML"),  # duplicate key
        ('[models.x]\nfile = "x.gguf"\nbogus = 1\n' + SOURCE, GUARD, 2, "m.toml:3: models.x.bogus: unknown key"),
        ('colour = "blue"\n', GUARD, 2, "m.toml:1: colour: unknown key"),
        ('[models.x]\nfile = "x.gguf"\n' + SOURCE + 'mirror = "y"\n', GUARD, 2, "models.x.sources[0].mirror: unknown key"),
        ('[models.x]\nfile = 5\n' + SOURCE, GUARD, 2, "models.x.file: expected a string, got integer 5"),
        ('[models.x]\nfile = "x.gguf"\ncontext = "big"\n' + SOURCE, GUARD, 2, "models.x.context: expected an integer"),
        ('[models.x]\nfile = "x.gguf"\ncontext = true\n' + SOURCE, GUARD, 2, "got boolean"),
        ('[models.x]\nfile = "x.gguf"\ncontext = -1\n' + SOURCE, GUARD, 2, "models.x.context: must be positive"),
        ('models = 3\n', GUARD, 2, "models: expected a table"),
        ('default_policy = 7\n', GUARD, 2, "default_policy: expected a string"),
        ('[models.x]\ndescription = "no file"\n' + SOURCE, GUARD, 2, "missing required key 'file'"),
        ('[models.x]\nfile = "x.gguf"\n', GUARD, 2, "models.x: no sources"),
        ('[models.x]\nfile = "../../etc/x.gguf"\n' + SOURCE, GUARD, 2, "must be a plain file name"),
        ('[models.x]\nfile = "x.gguf"\nsha256 = "abc"\n' + SOURCE, GUARD, 2, "expected 64 hexadecimal digits"),
        ('[models.x]\nfile = "x.gguf"\n[[models.x.sources]]\nkind = "ftp"\n', GUARD, 2, "sources[0].kind: expected one of"),
        ('[models.x]\nfile = "x.gguf"\n[[models.x.sources]]\nkind = "hf"\nrepo = "a/b"\n', GUARD, 2, "needs key 'file'"),
        ('[models.x]\nfile = "x.gguf"\n[[models.x.sources]]\nkind = "path"\npath = "~no-such-user-xyz/x.gguf"\n',
         ["--policy", "x"], 3, "file not found"),
        ('[models."a\\nb"]\nfile = 3\n', GUARD, 2, 'models."a\\nb".file'),  # a newline in a name stays one line
        ('default_policy = "nosuch"\n', [], 2, "default_policy: unknown model 'nosuch'"),
        ('[models.x]\nfile = "x.gguf"\n' + SOURCE, ["--policy", "y"], 2, "unknown model 'y'"),
        ('[models.x]\nfile = "x.gguf"\n' + SOURCE, ["--policy", "qwen2.5-coder-1.5"], 2, "did you mean qwen2.5-coder-1.5b"),
        ('[models.x]\nfile = "x.gguf"\n[[models.x.sources]]\nkind = "path"\npath = "missing.gguf"\n',
         ["--policy", "x"], 3, "could not get model x: path: file not found"),
        ('[models.x]\nfile = "x.gguf"\n[[models.x.sources]]\nkind = "path"\npath = "m.toml"\n',
         ["--policy", "x"], 3, "not a GGUF file"),
    ],
)
def test_models_file_errors(
    tts: Tts, tmp_path: Path, toml: str, args: list[str], code: int, words: str
) -> None:
    models = tmp_path / "m.toml"
    models.write_text(toml)
    result = tts("ask", "hi", "--models", str(models), *args, TTS_CACHE_DIR=str(tmp_path / "cache"))
    assert words in one_line_error(result, code)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: d / "absent.toml", "models file not found"),
        (lambda d: d, "models file not found"),  # a directory
        (lambda d: _write(d / "bin.toml", b"\xff\xfe\x00garbage"), "not a UTF-8 text file"),
    ],
)
def test_models_file_that_cannot_be_read(
    tts: Tts, tmp_path: Path, make: Callable[[Path], Path], words: str
) -> None:
    assert words in one_line_error(tts("ask", "hi", "--models", str(make(tmp_path)), *GUARD), 2)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------------------
# GGUF files that are not loadable models: exit 3, before llama.cpp maps them (or when it refuses)


def _tiny_gguf_of_unknown_architecture() -> bytes:
    return gguf_bytes(metadata=(("general.architecture", "str", "nonexistent-arch"),), tensors=(), padding=0)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "model file not found"),
        (b"", "not a GGUF file"),
        (b"this is a text file that someone named model.gguf\n" * 10, "not a GGUF file"),
        (b"GGML" + gguf_bytes()[4:], "not a GGUF file"),
        (gguf_bytes()[:10], "truncated GGUF file"),
        (gguf_bytes()[:60], "truncated GGUF file"),
        (gguf_bytes(version=1), "unsupported GGUF version 1"),
        (b"GGUF" + struct.pack(">IQQ", 3, 1, 1) + bytes(64), "unsupported GGUF version"),  # big-endian
        (b"GGUF" + struct.pack("<IQQ", 3, 10**9, 1) + bytes(64), "corrupt GGUF header (tensor count"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 2**40) + bytes(64), "corrupt GGUF header (metadata count"),
        (gguf_bytes()[:24] + struct.pack("<Q", 2**62) + gguf_bytes()[32:], "corrupt GGUF metadata"),
        (gguf_bytes(padding=0), "truncated GGUF file"),  # tensor infos but no tensor data
        # (one that llama.cpp itself refuses: test_the_real_process_exit_statuses_and_streams)
    ],
)
def test_bad_gguf_is_a_model_error(tts: Tts, tmp_path: Path, content: Optional[bytes], words: str) -> None:
    model = tmp_path / "model.gguf"
    if content is not None:
        model.write_bytes(content)
    assert words in one_line_error(tts("ask", "hi", "--policy", str(model), "--threads", "1"), 3)


def test_a_directory_named_like_a_gguf_is_a_model_error(tts: Tts, tmp_path: Path) -> None:
    (tmp_path / "dir.gguf").mkdir()
    assert "model file not found" in one_line_error(tts("ask", "hi", "--policy", str(tmp_path / "dir.gguf")), 3)


@pytest.mark.real
@pytest.mark.parametrize("keep", [3_000_000, 0.5, -1])
def test_a_truncated_real_model_is_refused_before_llama_cpp(
    tts: Tts, tmp_path: Path, smollm2_path: Path, keep: float
) -> None:
    size = smollm2_path.stat().st_size
    length = int(keep) if keep >= 1 else (size - 1 if keep < 0 else int(size * keep))
    cut = tmp_path / "cut.gguf"
    with smollm2_path.open("rb") as source, cut.open("wb") as target:
        target.write(source.read(length))
    started = time.monotonic()
    result = tts("ask", "hi", "--policy", str(cut), "--threads", "1")
    assert f"truncated GGUF file ({length} bytes; its tensors need {size})" in one_line_error(result, 3)
    assert time.monotonic() - started < 20


# ---------------------------------------------------------------------------------------------
# `tts solve` input lines: every bad line is an error record, the batch goes on, exit 4


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (b"{not json", "malformed JSON"),
        (b'{"question": "What is 1 + 1?"', "malformed JSON"),  # cut short
        (b"[1, 2, 3]", "expected a JSON object, got list"),
        (b'"just a string"', "expected a JSON object, got str"),
        (b"null", "expected a JSON object, got NoneType"),
        (b'{"question": 5}', "'question' must be a string, got int"),
        (b'{"problem": ["a"]}', "'problem' must be a string, got list"),
        (b'{"id": "x", "text": "no question field"}', "no 'question' or 'problem' field"),
        (b'{"id": [1], "question": "q"}', "'id' must be a string or an integer"),
        (b'{"id": true, "question": "q"}', "'id' must be a string or an integer"),
        (b'{"question": "q", "answer": {"value": 1}}', "'answer' must be a string or a number"),
        (b'{"question": "   "}', "is empty"),
        (b'{"question": "a\\u0000b"}', "contains NUL characters"),
        (b'{"question": "caf\xe9"}', "not valid UTF-8"),
        pytest.param(b'{"question": "' + b"x" * 1_100_000 + b'"}', "larger than 1000 kB", id="1MB-question"),
    ],
)
def test_bad_jsonl_lines_become_error_records(tts: Tts, tmp_path: Path, line: bytes, words: str) -> None:
    problems = tmp_path / "p.jsonl"
    # the first line decides the format: JSONL; every line here is bad, so no model is loaded
    problems.write_bytes(b'{"id": "first", "question": 1}\n\n' + line + b"\n")
    result = tts("solve", str(problems), *GUARD)
    err = no_traceback(result)
    assert result.code == 4, err
    assert "tts: error:" not in err
    records = [json.loads(raw) for raw in result.out.splitlines()]
    assert [r["id"] for r in records] == [1, 3]  # a bad line's id is its number; blank line 2 skipped
    assert records[1]["line"] == 3 and words in records[1]["error"] and records[1]["error"].startswith("line 3: ")
    notes = [n for n in err.splitlines() if n.startswith("tts: line 3: ")]
    assert len(notes) == 1 and words in notes[0]
    assert "0 problem(s) solved, 2 failed" in err


def test_a_binary_input_file_is_refused_as_a_whole(tts: Tts, tmp_path: Path) -> None:
    problems = tmp_path / "bin.dat"
    problems.write_bytes(bytes(range(256)) * 16)  # NUL bytes, and 16 "lines"
    out = tmp_path / "out.jsonl"
    result = tts("solve", str(problems), "-o", str(out), *GUARD)
    assert f"input file {problems} is binary data (it contains NUL bytes)" in one_line_error(result, 2)
    assert result.out == "" and not out.exists()


def test_text_input_with_a_line_that_is_not_utf8(tts: Tts, tmp_path: Path) -> None:
    problems = tmp_path / "p.txt"
    problems.write_bytes(b"\xff\xfe\xfd\n   \n")
    result = tts("solve", str(problems), *GUARD)
    err = no_traceback(result)
    assert result.code == 4, err
    records = [json.loads(raw) for raw in result.out.splitlines()]
    assert [r["line"] for r in records] == [1]
    assert "not valid UTF-8" in records[0]["error"]


def test_resume_does_not_repeat_the_error_record_of_a_bad_line(tts: Tts, tmp_path: Path) -> None:
    problems = tmp_path / "p.jsonl"
    problems.write_bytes(b'{"id": "a", "question": 5}\n{not json\n')  # every line bad: no model is loaded
    out = tmp_path / "out.jsonl"
    first = tts("solve", str(problems), "-o", str(out), *GUARD)
    assert first.code == 4, no_traceback(first)
    written = out.read_bytes()
    assert [json.loads(raw)["id"] for raw in written.splitlines()] == [1, 2]
    again = tts("solve", str(problems), "-o", str(out), "--resume", *GUARD)
    err = no_traceback(again)
    assert again.code == 4, err
    assert out.read_bytes() == written
    assert [n for n in err.splitlines() if n.startswith("tts: line ")] == [
        n for n in no_traceback(first).splitlines() if n.startswith("tts: line ")
    ]


def test_empty_input_solves_nothing_and_succeeds(tts: Tts, tmp_path: Path) -> None:
    problems = tmp_path / "p.jsonl"
    problems.write_bytes(b"\n  \n")
    result = tts("solve", str(problems), *GUARD)
    assert result.code == 0 and result.out == ""
    assert "0 problem(s) solved" in no_traceback(result)


# ---------------------------------------------------------------------------------------------
# Where the results go


@pytest.mark.parametrize(
    ("output", "code", "words"),
    [
        ("/proc/nope.jsonl", 1, "cannot write /proc/nope.jsonl"),
        ("/nonexistent/dir/out.jsonl", 1, "cannot write /nonexistent/dir/out.jsonl: No such file"),
        ("{tmp}", 1, "Is a directory"),
        ("/dev/full", 1, "cannot write results: No space left on device"),
    ],
)
def test_unwritable_output(tts: Tts, tmp_path: Path, output: str, code: int, words: str) -> None:
    problems = tmp_path / "p.jsonl"
    problems.write_bytes(b'{"id": 1, "question": 5}\n')  # an error record: written without a model
    result = tts("solve", str(problems), "-o", output.format(tmp=tmp_path), *GUARD)
    assert words in one_line_error(result, code)


@pytest.mark.parametrize(
    "args",
    [["solve", "{problems}"], ["strategies"], ["strategies", "--json"], ["models", "list"], ["models", "list", "--json"]],
)
def test_stdout_on_a_full_disk(tts: Tts, tmp_path: Path, args: list[str]) -> None:
    problems = tmp_path / "p.jsonl"
    problems.write_bytes(b'{"id": 1, "question": 5}\n')
    with open("/dev/full", "w", encoding="utf-8") as full:
        result = tts(*[a.format(problems=problems) for a in args], stdout=full)
    assert "No space left on device" in one_line_error(result, 1)


# ---------------------------------------------------------------------------------------------
# Cases that run the real model


@pytest.mark.real
def test_solve_with_bad_and_duplicate_lines_solves_the_others(tts: Tts, tmp_path: Path, smollm2_path: Path) -> None:
    problems = tmp_path / "p.jsonl"
    lines = [
        json.dumps({"id": "a", "question": "What is 1 + 1?", "answer": "#### 2"}),
        "{broken",
        json.dumps({"id": "b", "question": 42}),
        json.dumps({"id": "c", "prompt": "wrong field"}),
        json.dumps({"id": "a", "question": "What is 3 + 3?"}),  # duplicate id
        json.dumps({"id": 7, "problem": "What is 2 + 2?", "answer": 4}),
    ]
    problems.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    result = tts("solve", str(problems), "-o", str(out), *FAST, "--no-tree")
    err = no_traceback(result)
    assert result.code == 4, err
    assert "tts: error:" not in err
    records = [json.loads(raw) for raw in out.read_text().splitlines()]  # in the order they finish
    failed = sorted((r for r in records if "error" in r), key=lambda r: r["line"])
    assert [(r["id"], r["line"]) for r in failed] == [(2, 2), (3, 3), (4, 4), ("a", 5)]
    assert "duplicate id 'a'" in failed[3]["error"]
    solved = [r for r in records if "error" not in r]
    assert sorted(str(r["id"]) for r in solved) == ["7", "a"]
    for solved_one in solved:
        assert {"answer", "cost", "gold", "correct"} <= set(solved_one)
        assert solved_one["cost"]["policy"]["generated_tokens"] > 0
    assert "2 problem(s) solved, 4 failed" in err
    # --resume skips the ids already solved and reports the bad lines again without rewriting them
    written = out.read_bytes()
    again = tts("solve", str(problems), "-o", str(out), *FAST, "--no-tree", "--resume")
    assert again.code == 4, again.err
    assert out.read_bytes() == written
    assert sum(n.startswith("tts: line ") for n in no_traceback(again).splitlines()) == 4


@pytest.mark.real
def test_a_question_longer_than_the_context_is_a_usage_error(tts: Tts, smollm2_path: Path) -> None:
    question = ("Count the apples. " * 12_000).encode()  # ~216 kB, ~50k tokens, under the 1 MB cap
    started = time.monotonic()
    error = one_line_error(tts("ask", "-", *FAST, "--ctx", "2048", stdin=question), 2)
    assert "2048" in error and "context" in error, error
    assert time.monotonic() - started < 60


@pytest.mark.real
def test_a_full_disk_after_solving_is_a_runtime_error(tts: Tts, tmp_path: Path, smollm2_path: Path) -> None:
    problems = tmp_path / "p.txt"
    problems.write_text("What is 1 + 1?\nWhat is 2 + 2?\n")
    result = tts("solve", str(problems), "-o", "/dev/full", *FAST, "--no-tree")
    assert "cannot write results: No space left on device" in one_line_error(result, 1)


# ---------------------------------------------------------------------------------------------
# The real process (`python -m tts_cli`): exit statuses and streams through the supervisor, the
# interpreter's exit, signals. SIGTERM on `tts solve`, SIGINT/SIGTERM on `tts models pull`.


@pytest.mark.parametrize(
    ("args", "stdin", "code", "words"),
    [
        (["ask", "-", *GUARD], b"caf\xe9", 2, "the question from stdin is not valid UTF-8"),  # in the supervised child
        (["ask", "hi", "--policy", "{unknown}", "--threads", "1"], None, 3, "llama.cpp could not load"),  # refused
        (["ask", "hi", "--no-such-option"], None, 2, "No such option: --no-such-option"),  # Typer's, in the child
        (["models", "pull"], None, 2, "Missing argument 'NAME'"),  # Typer's, not supervised
        (["solve", "{bad}", *GUARD], None, 4, "tts: line 1: 'question' must be a string"),  # records on stdout
    ],
    ids=["input-error", "llama-cpp-refuses", "usage-in-the-child", "usage", "batch-line-failed"],
)
def test_the_real_process_exit_statuses_and_streams(
    tmp_path: Path, args: list[str], stdin: Optional[bytes], code: int, words: str
) -> None:
    unknown = tmp_path / "unknown.gguf"
    unknown.write_bytes(_tiny_gguf_of_unknown_architecture())
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": "a", "question": 5}\n')
    result = tts_process(*[a.format(unknown=unknown, bad=bad) for a in args], stdin=stdin)
    if code == 4:  # a batch with a bad line: its error record on stdout, the note on stderr
        err = no_traceback(result)
        assert result.code == 4 and words in err and "tts: error:" not in err, err
        assert [json.loads(line)["id"] for line in result.out.splitlines()] == [1]  # a bad line's id: its number
    elif words.startswith(("No such option", "Missing argument")):
        assert words in usage_message(result) and result.out == ""
    else:
        assert words in one_line_error(result, code) and result.out == ""


def test_stdout_on_a_full_disk_in_the_real_process() -> None:
    """The interpreter's exit flushes stdout once more: that must not print 'Exception ignored'."""
    with open("/dev/full", "wb") as full:
        result = tts_process("strategies", stdout=full)
    assert "No space left on device" in one_line_error(result, 1)


@pytest.mark.real
def test_solve_terminated_by_sigterm_then_resumed(tts: Tts, tmp_path: Path, smollm2_path: Path) -> None:
    """SIGTERM takes the same path as Ctrl-C: the current record is finished, exit 130."""
    problems = tmp_path / "p.txt"
    problems.write_text("".join(f"What is {i} + {i}?\n" for i in range(1, 31)))
    out = tmp_path / "out.jsonl"
    args = [sys.executable, "-m", "tts_cli", "solve", str(problems), "-o", str(out), *FAST, "--no-tree",
            "--max-tokens", "32"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and (not out.exists() or len(out.read_bytes().splitlines()) < 2):
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err.decode()
    assert "Traceback" not in err.decode() and "--resume" in err.decode()
    first = [json.loads(line) for line in out.read_text().splitlines()]  # valid JSONL, every line whole
    assert 2 <= len(first) < 30
    assert out.read_bytes().endswith(b"\n")
    resumed = tts(*args[3:], "--resume")
    assert resumed.code == 0, resumed.err
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == list(range(1, 31))


class _SlowGGUF(http.server.BaseHTTPRequestHandler):
    """Serves ``payload`` slowly while ``slow`` is set (so a download can be interrupted)."""

    payload = b""
    slow = threading.Event()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        try:
            for start in range(0, len(self.payload), 65536):
                self.wfile.write(self.payload[start : start + 65536])
                if self.slow.is_set():
                    time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def slow_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowGGUF)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/m.gguf"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 128 + signal.SIGTERM)])
def test_models_pull_interrupted_leaves_no_file_and_the_next_pull_completes(
    cli: Tts, tmp_path: Path, slow_server: str, sig: signal.Signals, code: int
) -> None:
    payload = gguf_bytes(padding=3 * 1024 * 1024)
    _SlowGGUF.payload = payload
    _SlowGGUF.slow.set()
    models = tmp_path / "m.toml"
    models.write_text(
        f'[models.m]\nfile = "m.gguf"\nsha256 = "{sha256_of(payload)}"\nsize = {len(payload)}\n'
        f'[[models.m.sources]]\nkind = "url"\nurl = "{slow_server}"\n'
    )
    cache = tmp_path / "cache"
    environ = {**os.environ, "NO_COLOR": "1", "TTS_CACHE_DIR": str(cache), "TTS_CONFIG_DIR": str(tmp_path / "cfg")}
    args = [sys.executable, "-m", "tts_cli", "models", "pull", "m", "--models", str(models)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ, preexec_fn=default_sigint)
    try:
        deadline = time.time() + 30
        parts: list[Path] = []
        while time.time() < deadline:
            parts = list((cache / "models").glob("m.gguf.part-*")) if (cache / "models").is_dir() else []
            if parts and parts[0].stat().st_size > 256 * 1024:
                break
            time.sleep(0.02)
        assert parts, "the download never started"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err.decode()
    assert "Traceback" not in err.decode()
    left = sorted(p.name for p in (cache / "models").iterdir() if not p.name.endswith(".lock"))
    assert left == []  # no partial file, no final file, no marker
    _SlowGGUF.slow.clear()
    variables = {name: environ[name] for name in ("TTS_CACHE_DIR", "TTS_CONFIG_DIR")}
    done = cli(*args[3:], **variables)
    assert done.code == 0, done.err
    final = cache / "models" / "m.gguf"
    assert done.out.strip() == str(final)
    assert final.read_bytes() == payload
    listing = cli("models", "list", "--json", "--models", str(models), **variables)
    assert [m["verified"] for m in json.loads(listing.out) if m["name"] == "m"] == [True]
