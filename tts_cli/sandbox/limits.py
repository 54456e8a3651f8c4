"""What a sandboxed program may use (``Limits``) and what became of it (``Execution``)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Dict, Optional

from tts_cli.errors import UsageError

MiB = 1024 * 1024

# "ok": exit status 0. "error": another exit status (an exception, a syntax error, sys.exit(1)).
# "timeout": the wall-time or the CPU-time limit. "memory": the program died of MemoryError (its
# address-space limit). "output-limit": stdout or stderr passed output_bytes; the sandbox was
# killed there. "killed": a signal (a segfault, an abort). "unavailable": no sound sandbox here,
# the program never ran; `message` says why.
STATUSES = ("ok", "error", "timeout", "memory", "output-limit", "killed", "unavailable")


@dataclass(frozen=True)
class Limits:
    """Per-run limits. CPU, memory, file size and open files are per process (rlimits); the
    process count, the working directory's size and the wall time are for the whole sandbox."""

    cpu_seconds: float = 5.0  # RLIMIT_CPU of each process, rounded up to whole seconds
    wall_seconds: float = 10.0  # from start to kill, for the sandbox as a whole
    memory_bytes: int = 512 * MiB  # RLIMIT_AS (address space) of each process
    output_bytes: int = 64 * 1024  # stdout and stderr each; past it the sandbox is killed
    processes: int = 16  # processes and threads at once, the program itself included
    file_bytes: int = 1 * MiB  # RLIMIT_FSIZE: the largest file a process may write
    open_files: int = 64  # RLIMIT_NOFILE
    disk_bytes: int = 16 * MiB  # size of the fresh working directory (a tmpfs, /tmp in the sandbox)

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise UsageError(f"sandbox limit {field.name} must be a positive number (got {value!r})")
            if field.type in ("int", int) and not isinstance(value, int):
                raise UsageError(f"sandbox limit {field.name} must be a whole number (got {value!r})")
        if not math.isfinite(self.cpu_seconds) or not math.isfinite(self.wall_seconds):
            raise UsageError("sandbox time limits must be finite")


@dataclass(frozen=True)
class Execution:
    """One run of a program. ``stdout``/``stderr`` are decoded as UTF-8 (undecodable bytes
    replaced) and cut at ``Limits.output_bytes``; ``message`` is a one-line explanation of any
    status but "ok" (the limit that was hit, the signal, why the sandbox is unavailable)."""

    status: str  # one of STATUSES
    stdout: str = ""
    stderr: str = ""
    exit_code: Optional[int] = None  # the program's exit status, when it exited by itself
    signal: Optional[int] = None  # the signal that ended it, when one did
    output_truncated: bool = False
    cpu_seconds: float = 0.0  # user + system time of the sandbox's processes
    wall_seconds: float = 0.0
    message: str = ""
    mechanism: str = ""  # "bwrap", or "" when nothing ran

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)
