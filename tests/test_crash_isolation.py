"""The suite survives native crashes: a `real` test that dies of SIGSEGV is one failed test, by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS_DIR = Path(__file__).parent

INNER = '''
import ctypes
import pytest

@pytest.mark.real
def test_native_code_crashes():
    ctypes.string_at(0)

@pytest.mark.real
def test_after_the_crash_still_runs():
    assert True

def test_loads_llama_cpp_without_the_marker():
    import tts_cli.engine.llama as llama
    llama._backend_ready = True  # what loading a model in this process sets
'''


def test_a_crashing_test_is_reported_by_name_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "from crash_isolation import _llama_cpp_stays_out_of_the_pytest_process, pytest_runtest_protocol\n"
    )
    (tmp_path / "test_inner.py").write_text(INNER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "real or not real",
         "-W", "ignore::pytest.PytestUnknownMarkWarning", str(tmp_path)],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    # the crash is a failure, the unmarked loader an error at teardown, and the run goes on past both
    assert "1 failed, 2 passed, 1 error" in out
    assert "test_native_code_crashes" in out and "CRASHED with signal 11" in out
    assert "test_loads_llama_cpp_without_the_marker" in out and "mark it `real`" in out
