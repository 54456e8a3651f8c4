"""The console-script entry point, kept free of Typer so that a supervising parent stays light."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Optional, Sequence

if TYPE_CHECKING:
    from tts_cli.env import Environment


def main(argv: Optional[Sequence[str]] = None, env: Optional["Environment"] = None) -> None:
    """Run ``tts`` and exit with its status; commands that load llama.cpp run in a supervised
    child (see ``supervisor``) that inherits this process's streams. Given an ``env`` (streams that
    need not be file descriptors a child could inherit), every command runs in this process."""
    from tts_cli.cli.supervisor import run_supervised, wants_supervisor
    from tts_cli.crash import enable_crash_log

    args = list(sys.argv[1:] if argv is None else argv)
    if env is None and wants_supervisor(args, os.environ):
        sys.exit(run_supervised([sys.executable, "-m", "tts_cli", *args]))
    enable_crash_log()
    from tts_cli.cli.app import run

    sys.exit(run(args, env))
