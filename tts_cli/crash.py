"""Where a native crash's Python stack goes, in a process that a supervisor watches.

The supervising parent (``cli/supervisor.py``, ``tts doctor``) names a file in ``TTS_CRASH_LOG``;
the child points ``faulthandler`` at it, so that after a SIGSEGV inside llama.cpp the parent can
print one line and say where the stack is, instead of a screenful of it."""

from __future__ import annotations

import faulthandler
import os
import signal
from typing import IO

CRASH_LOG_ENV = "TTS_CRASH_LOG"
FATAL_SIGNALS = frozenset(
    getattr(signal, name) for name in ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT") if hasattr(signal, name)
)
CRASH_HINT = (
    "run `tts doctor` to check this machine; `--cpu-repack off` (or TTS_CPU_REPACK=off) "
    "keeps llama.cpp off its AMX/repack kernels"
)
_open_logs: list[IO[str]] = []


def enable_crash_log() -> None:
    """In a supervised child: native crashes dump the Python stack to the parent's crash log."""
    path = os.environ.get(CRASH_LOG_ENV)
    if not path:
        return
    try:
        log = open(path, "w")  # noqa: SIM115 - stays open for the life of the process
    except OSError:
        faulthandler.enable()
        return
    faulthandler.enable(file=log)
    _open_logs.append(log)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
