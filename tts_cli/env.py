"""The process environment a command runs in: streams, terminal flags and consoles.

``tts_cli.cli.app.run(argv, env)`` takes one and hands it to every command through the command
context (``ctx.obj``); commands never build their own or read ``sys.stdin``/``sys.stdout``. The
console script passes none, and gets this process's streams. Tests build their own (``StringIO``
streams, stdin bytes, chosen isatty flags) instead of patching ``sys`` or running a subprocess.
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass, field
from typing import IO, BinaryIO, Optional

from rich.console import Console


def _process_stdin() -> BinaryIO:
    """This process's stdin as bytes (an empty stream when there is none, e.g. fd 0 closed)."""
    stream = getattr(sys.stdin, "buffer", None)
    return stream if stream is not None else io.BytesIO()


@dataclass
class Environment:
    stdin: BinaryIO = field(default_factory=_process_stdin)  # bytes: commands decode and validate it themselves
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    stdin_isatty: Optional[bool] = None
    stdout_isatty: Optional[bool] = None
    stderr_isatty: Optional[bool] = None
    no_color: Optional[bool] = None

    def __post_init__(self) -> None:
        if self.stdin_isatty is None:
            self.stdin_isatty = _isatty(self.stdin)
        if self.stdout_isatty is None:
            self.stdout_isatty = _isatty(self.stdout)
        if self.stderr_isatty is None:
            self.stderr_isatty = _isatty(self.stderr)
        if self.no_color is None:
            self.no_color = "NO_COLOR" in os.environ
        self._out: Optional[Console] = None
        self._err: Optional[Console] = None

    @property
    def out(self) -> Console:
        """Console for results (stdout). Plain text when stdout is not a terminal."""
        if self._out is None:
            self._out = Console(
                file=self.stdout,
                force_terminal=bool(self.stdout_isatty),
                no_color=bool(self.no_color) or not self.stdout_isatty,
                highlight=False,
                soft_wrap=True,
            )
        return self._out

    @property
    def err(self) -> Console:
        """Console for progress, live display, logs and errors (stderr)."""
        if self._err is None:
            self._err = Console(
                file=self.stderr,
                force_terminal=bool(self.stderr_isatty),
                no_color=bool(self.no_color) or not self.stderr_isatty,
                highlight=False,
                stderr=True,
            )
        return self._err


def _isatty(stream: "IO[str] | BinaryIO | None") -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False
