"""A native crash is never silent: the supervising parent of `tts ask|solve|bench` (cli/supervisor.py)."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tts_cli.cli.supervisor import run_supervised, wants_supervisor
from tts_cli.errors import ExitStatus

CRASH = "from tts_cli.crash import enable_crash_log; enable_crash_log(); import ctypes; ctypes.string_at(0)"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["ask", "What is 2+2?"], True),
        (["solve", "in.jsonl"], True),
        (["bench", "data.jsonl"], True),
        (["ask", "--help"], False),
        (["models", "list"], False),
        (["doctor"], False),
        ([], False),
        (["--version"], False),
    ],
)
def test_only_commands_that_run_llama_cpp_are_supervised(argv: list[str], expected: bool) -> None:
    assert wants_supervisor(argv, {}) is expected


def test_a_supervised_child_and_the_opt_out_are_not_supervised_again() -> None:
    assert wants_supervisor(["ask", "x"], {"TTS_CRASH_LOG": "/tmp/x"}) is False
    assert wants_supervisor(["ask", "x"], {"TTS_NO_SUPERVISOR": "1"}) is False
    assert wants_supervisor(["ask", "x"], {"TTS_NO_SUPERVISOR": "0"}) is True


def test_exit_status_passes_through() -> None:
    err = io.StringIO()
    assert run_supervised([sys.executable, "-c", "import sys; sys.exit(4)"], stderr=err) == 4
    assert err.getvalue() == ""


def test_a_native_crash_becomes_one_line_and_exit_3(tmp_path: Path) -> None:
    err = io.StringIO()
    status = run_supervised([sys.executable, "-c", CRASH], stderr=err)
    assert status == ExitStatus.MODEL
    lines = err.getvalue().splitlines()
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith("tts: error: llama.cpp crashed (SIGSEGV)")
    assert "tts doctor" in line and "--cpu-repack off" in line
    stack = re.search(r"Python stack in (\S+?);", line)
    assert stack is not None
    dump = Path(stack.group(1))
    assert "Segmentation fault" in dump.read_text()
    dump.unlink()


def test_a_child_interrupted_by_sigint_exits_130() -> None:
    code = "import os, signal; signal.signal(signal.SIGINT, signal.SIG_DFL); os.kill(os.getpid(), signal.SIGINT)"
    assert run_supervised([sys.executable, "-c", code], stderr=io.StringIO()) == ExitStatus.INTERRUPTED


def test_sigterm_to_the_parent_reaches_the_child() -> None:
    child = (
        "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(7)); "
        "print('ready', flush=True); time.sleep(60)"
    )
    parent = (
        "import sys; from tts_cli.cli.supervisor import run_supervised; "
        f"sys.exit(run_supervised([sys.executable, '-c', {child!r}]))"
    )
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=20) == 7
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_the_child_shares_the_parents_streams(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    code = "import sys; print('answer'); print('note', file=sys.stderr)"
    with out.open("w") as handle:
        proc = subprocess.run(
            [sys.executable, "-c", f"import sys; from tts_cli.cli.supervisor import run_supervised; "
             f"sys.exit(run_supervised([sys.executable, '-c', {code!r}]))"],
            stdout=handle, stderr=subprocess.PIPE, text=True, timeout=60,
        )
    assert proc.returncode == 0
    assert out.read_text() == "answer\n"
    assert proc.stderr == "note\n"


def test_main_given_an_environment_runs_every_command_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ask` would be supervised; with an Environment of its own it runs here, on those streams."""
    from tts_cli.cli.main import main
    from tts_cli.env import Environment

    monkeypatch.setenv("TTS_CONFIG_DIR", "/nonexistent/tts-config")
    out, err = io.StringIO(), io.StringIO()
    env = Environment(
        stdin=io.BytesIO(b""), stdout=out, stderr=err, stdin_isatty=False, stdout_isatty=False, stderr_isatty=False
    )
    with pytest.raises(SystemExit) as exited:
        main(["ask", "-", "--policy", "/nonexistent/must-not-be-loaded.gguf"], env)
    assert exited.value.code == ExitStatus.USAGE
    assert err.getvalue() == "tts: error: the question from stdin is empty\n" and out.getvalue() == ""
