"""Cancelling a caller's work on a shared engine (a client of `tts serve` that hangs up).

A ``CancelToken`` is bound to the calling thread with ``cancellable(token)``; every request that
thread submits to a batching engine carries it, and the engine thread drops a request whose
token is set: still waiting, it never starts; running, its sequences stop at the next decode step
and their KV cells are freed. The caller's blocked call then raises ``Cancelled``, and any later
call on that thread raises it at once, so a search in progress unwinds within one decode step.
"""

from __future__ import annotations

import contextlib
import threading
from contextvars import ContextVar
from typing import Iterator, Optional

from tts_cli.errors import TTSError


class Cancelled(TTSError):
    """The caller's work was cancelled (its client went away)."""


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = "cancelled"

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raises ``Cancelled`` once the token is set."""
        if self._event.is_set():
            raise Cancelled(self.reason)


_current: ContextVar[Optional[CancelToken]] = ContextVar("tts_cancel_token", default=None)


def current_token() -> Optional[CancelToken]:
    """The token bound to the calling thread (None: its work cannot be cancelled)."""
    return _current.get()


def check_cancelled() -> None:
    token = _current.get()
    if token is not None:
        token.check()


@contextlib.contextmanager
def cancellable(token: CancelToken) -> Iterator[CancelToken]:
    """Binds ``token`` to the calling thread for the block."""
    reset = _current.set(token)
    try:
        yield token
    finally:
        _current.reset(reset)
