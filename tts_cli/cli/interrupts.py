"""SIGINT and SIGTERM as one deferrable interrupt, shared by `tts solve` and `tts bench`.

Inside ``signals_as_interrupt()`` both signals raise KeyboardInterrupt in the main thread, except
while a ``deferred_interrupt()`` block is running (a result line being written): the interrupt is
then raised when that block ends, so an output file never holds half a line.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from types import FrameType
from typing import Iterator, Optional

_interrupt_pending = False
_in_write = False


def _raise_interrupt(signum: int, frame: Optional[FrameType]) -> None:
    global _interrupt_pending
    if _in_write:
        _interrupt_pending = True  # finish the line being written first
        return
    raise KeyboardInterrupt


@contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM stop the batch the same way: after the current record is complete."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, _raise_interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def deferred_interrupt() -> Iterator[None]:
    """An interrupt arriving inside this block is raised when the block ends."""
    global _in_write, _interrupt_pending
    _in_write = True
    try:
        yield
    finally:
        _in_write = False
        if _interrupt_pending:
            _interrupt_pending = False
            raise KeyboardInterrupt
