"""Helpers for tests that start `tts` as a real process."""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """``preexec_fn`` for a child that must see Ctrl-C: a job started in the background (``cmd &``
    without job control) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt;
    tests about what tts does on Ctrl-C give the child the default disposition back."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
