"""Continuous batching: many callers' requests merged into one decode loop on one engine thread.

Problems solved at once (``tts solve --workers K``) each call ``generate`` or
``next_token_logprobs`` from their own thread. Those calls become ``Request``s in a queue; one
thread owns the llama.cpp context and runs the loop:

1. admit waiting requests, first come first served, while the KV cache and the sequence slots
   have room for them (``Admission``): a request's prefixes are prefilled and its first tokens
   sampled, and its sequences join the running set;
2. decode one token for every running sequence of every admitted request, in one batch;
3. hand each request whose sequences have all finished back to its caller.

So a problem that finishes early frees its room at once for the next. A request that could
never fit is admitted only when it would run alone, and then fails by itself (context
overflow), as it would without batching; the queue never waits on it forever.

This module is pure Python: the engine-specific steps come through ``BatchCore``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

from tts_cli.engine.cancel import Cancelled, CancelToken, current_token
from tts_cli.errors import TTSError


class EngineClosedError(TTSError):
    """The engine was closed (e.g. on Ctrl-C) while this request waited or ran."""


@dataclass
class Request:
    """One ``generate`` wave or one ``next_token_logprobs`` call of one caller."""

    run: Callable[[], Any]  # starts the request on the engine thread; returns the engine's state of it
    cells: int  # KV cells it may need at most: prefix tokens + max_tokens per sequence
    sequences: int  # slots it holds while running
    state: Any = None  # what ``run`` returned: the engine's running sequences
    cancel: Optional[CancelToken] = None  # the submitting thread's (engine/cancel.py); set: drop the request
    result: Any = None
    error: Optional[BaseException] = None
    done: threading.Event = field(default_factory=threading.Event)

    def finish(self, result: Any) -> None:
        self.result = result
        self.done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()


class BatchCore(Protocol):
    """What the loop needs from an engine (``LlamaEngine`` implements it)."""

    def live(self, state: Any) -> bool:
        """Whether any sequence of a started request is still generating."""
        ...

    def step(self, states: list[Any]) -> int:
        """Decode one token for every live sequence of these requests, in one batch; how many."""
        ...

    def complete(self, state: Any) -> Any:
        """Release a finished request's sequences and return its result."""
        ...

    def abort(self, state: Any) -> None:
        """Drop a request's sequences after a failure."""
        ...


@dataclass
class Admission:
    """How much of the KV cache and of the sequence slots admitted requests may hold."""

    cells: int  # the context size
    slots: int  # n_seq_max
    used_cells: int = 0
    used_slots: int = 0

    def fits(self, request: Request, running: int) -> bool:
        if running == 0:
            return True  # alone it either fits or fails by itself: never a wait without end
        return self.used_cells + request.cells <= self.cells and self.used_slots + request.sequences <= self.slots

    def take(self, request: Request) -> None:
        self.used_cells += request.cells
        self.used_slots += request.sequences

    def give_back(self, request: Request) -> None:
        self.used_cells -= request.cells
        self.used_slots -= request.sequences


class Scheduler:
    """The engine thread and its queue. ``submit`` blocks the calling thread until its request is done."""

    def __init__(self, core: BatchCore, admission: Admission, name: str = "tts-engine") -> None:
        self.core = core
        self.admission = admission
        self._waiting: list[Request] = []
        self._running: list[Request] = []
        self._cv = threading.Condition()
        self._closing = False
        self.peak_running = 0  # most requests decoded together (for benchmarks and tests)
        self.steps = 0  # decode steps run, and the sequences they carried: their ratio is the mean batch
        self.decoded = 0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def on_engine_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, request: Request) -> Any:
        if request.cancel is None:
            request.cancel = current_token()
        if request.cancel is not None:
            request.cancel.check()
        with self._cv:
            if self._closing:
                raise EngineClosedError("the engine is closed")
            self._waiting.append(request)
            self._cv.notify()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result

    def snapshot(self) -> dict[str, int]:
        """Requests running and waiting now, and the KV cells admitted requests hold."""
        with self._cv:
            return {"running": len(self._running), "waiting": len(self._waiting),
                    "used_cells": self.admission.used_cells, "cells": self.admission.cells}  # fmt: skip

    def close(self) -> None:
        """Fail every waiting and running request and stop the thread."""
        with self._cv:
            self._closing = True
            self._cv.notify()
        if not self.on_engine_thread:
            self._thread.join()

    # ------------------------------------------------------------------ the loop (engine thread)
    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._closing and not self._waiting and not self._running:
                    self._cv.wait()
                if self._closing:
                    break
                self._drop_cancelled_waiting()
                admitted = self._admit()
            for request in admitted:
                self._start(request)
            self._abort_cancelled_running()
            if self._running:
                self.peak_running = max(self.peak_running, len(self._running))
                self._step()
        self._fail_all(EngineClosedError("the engine was closed while this request ran"))

    def _drop_cancelled_waiting(self) -> None:
        """(Under the lock.) Requests cancelled before they started: failed, never admitted."""
        for request in [r for r in self._waiting if r.cancel is not None and r.cancel.cancelled]:
            self._waiting.remove(request)
            request.fail(_cancelled(request))

    def _abort_cancelled_running(self) -> None:
        """Running requests whose caller is gone: their sequences dropped, their cells freed now."""
        for request in [r for r in self._running if r.cancel is not None and r.cancel.cancelled]:
            self._running.remove(request)
            self._abort(request, _cancelled(request))

    def _admit(self) -> list[Request]:
        admitted: list[Request] = []
        while self._waiting and self.admission.fits(self._waiting[0], len(self._running) + len(admitted)):
            request = self._waiting.pop(0)
            self.admission.take(request)
            admitted.append(request)
        return admitted

    def _start(self, request: Request) -> None:
        try:
            request.state = request.run()
        except BaseException as exc:  # noqa: BLE001 - the caller's thread re-raises it
            self.admission.give_back(request)
            request.fail(exc)
            return
        if self.core.live(request.state):
            self._running.append(request)
        else:
            self._complete(request)

    def _step(self) -> None:
        try:
            self.decoded += self.core.step([r.state for r in self._running])
            self.steps += 1
        except TTSError as exc:
            # e.g. the KV cache is full with nothing idle to evict: the newest request gives way
            self._abort(self._running.pop(), exc)
            return
        except BaseException as exc:  # noqa: BLE001
            for request in self._running:
                self._abort(request, exc)
            self._running.clear()
            return
        for request in [r for r in self._running if not self.core.live(r.state)]:
            self._running.remove(request)
            self._complete(request)

    def _complete(self, request: Request) -> None:
        self.admission.give_back(request)
        try:
            result = self.core.complete(request.state)
        except BaseException as exc:  # noqa: BLE001
            request.fail(exc)
            return
        request.finish(result)

    def _abort(self, request: Request, error: BaseException) -> None:
        self.admission.give_back(request)
        try:
            self.core.abort(request.state)
        finally:
            request.fail(error)

    def _fail_all(self, error: BaseException) -> None:
        with self._cv:
            waiting, self._waiting = self._waiting, []
        for request in waiting:
            request.fail(error)
        for request in self._running:
            self._abort(request, error)
        self._running.clear()


def _cancelled(request: Request) -> BaseException:
    return Cancelled(request.cancel.reason if request.cancel is not None else "cancelled")
