"""`tts --help` stays light: neither numpy nor llama.cpp is imported to print it."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("argv", [["--help"], ["ask", "--help"], ["serve", "--help"]])
def test_help_imports_neither_numpy_nor_llama_cpp(argv: list[str]) -> None:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "tts_cli", *argv], capture_output=True, text=True,
                          timeout=120, env={"TTS_NO_SUPERVISOR": "1", "PATH": "/usr/bin:/bin"}, check=True)  # fmt: skip
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert "Usage" in done.stdout
    assert "numpy" not in imported and "llama_cpp" not in imported
