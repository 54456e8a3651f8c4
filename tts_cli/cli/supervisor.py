"""A native crash is never silent: commands that run llama.cpp do so in a child process.

llama.cpp can die with SIGSEGV inside its own kernels (e.g. the AMX matmul, llama.cpp #20824). In
the process that crashed nothing can be done any more, so ``tts ask|solve|bench`` re-run themselves
as a child with the same streams; this parent only waits. When the child dies of a fatal signal the
parent prints one line (which signal, where the native stack went, what to try) and exits with
``ExitStatus.MODEL``. Everything else passes through unchanged: the child's exit status, its
stdout/stderr (inherited file descriptors, so terminal detection is the same), Ctrl-C.

No Typer import here: the parent of every native command runs this module only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import IO, Optional, Sequence

from tts_cli.crash import CRASH_HINT, CRASH_LOG_ENV, FATAL_SIGNALS, signal_name
from tts_cli.errors import ExitStatus

NATIVE_COMMANDS = frozenset({"ask", "solve", "bench", "serve"})
OPT_OUT_ENV = "TTS_NO_SUPERVISOR"


def wants_supervisor(argv: Sequence[str], environ: "os._Environ[str] | dict[str, str]") -> bool:
    """Whether this invocation runs llama.cpp and should do so in a supervised child."""
    if CRASH_LOG_ENV in environ or environ.get(OPT_OUT_ENV, "").strip() not in ("", "0"):
        return False
    if not hasattr(os, "fork"):  # pragma: no cover - the parent/child split relies on POSIX signals
        return False
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    return command in NATIVE_COMMANDS and not any(arg in ("--help", "-h") for arg in argv)


def run_supervised(child_argv: Sequence[str], stderr: Optional[IO[str]] = None) -> int:
    """Run ``child_argv`` with this process's streams; report a fatal signal in one line."""
    stderr = stderr if stderr is not None else sys.stderr
    fd, crash_log = tempfile.mkstemp(prefix="tts-crash-", suffix=".txt")
    os.close(fd)
    env = dict(os.environ, **{CRASH_LOG_ENV: crash_log})
    try:
        child = subprocess.Popen(list(child_argv), env=env)
    except OSError as exc:
        _remove(crash_log)
        stderr.write(f"tts: error: cannot start {child_argv[0]}: {exc.strerror or exc}\n")
        return int(ExitStatus.ERROR)
    with _forwarding_signals(child):
        returncode = _wait(child)
    if returncode >= 0:
        _remove(crash_log)
        return returncode
    signum = -returncode
    if signum == signal.SIGINT:
        _remove(crash_log)
        return int(ExitStatus.INTERRUPTED)
    if signum not in FATAL_SIGNALS:
        _remove(crash_log)
        return 128 + signum
    stack = f"; Python stack in {crash_log}" if Path(crash_log).stat().st_size > 0 else ""
    if not stack:
        _remove(crash_log)
    stderr.write(f"tts: error: llama.cpp crashed ({signal_name(signum)}){stack}; {CRASH_HINT}\n")
    stderr.flush()
    return int(ExitStatus.MODEL)


def _wait(child: "subprocess.Popen[bytes]") -> int:
    while True:
        try:
            return child.wait()
        except InterruptedError:  # pragma: no cover - PEP 475 retries, kept for old platforms
            continue


class _forwarding_signals:
    """While the child runs: SIGTERM/SIGHUP go on to it; SIGINT too, unless the terminal already sent
    it to the whole foreground process group (then the child has it, and a second one would count
    as a second Ctrl-C)."""

    def __init__(self, child: "subprocess.Popen[bytes]") -> None:
        self.child = child
        self.previous: dict[int, object] = {}

    def __enter__(self) -> None:
        names = ("SIGINT", "SIGTERM", "SIGHUP")
        for sig in (getattr(signal, n) for n in names if hasattr(signal, n)):
            current = signal.getsignal(sig)
            if current == signal.SIG_IGN:  # e.g. SIGINT in a background job: the child inherits that
                continue
            self.previous[sig] = current
            signal.signal(sig, self._forward)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def _forward(self, signum: int, frame: Optional[FrameType]) -> None:
        if signum == signal.SIGINT and _in_terminal_foreground():
            return
        try:
            self.child.send_signal(signum)
        except OSError:
            pass


def _in_terminal_foreground() -> bool:
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                return True
        except OSError:
            continue
    return False


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
