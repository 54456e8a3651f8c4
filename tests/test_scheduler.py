"""Continuous batching (engine/scheduler.py) on a scripted core: merging, admission, failures, cancellation."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest

from tts_cli.engine.scheduler import Admission, EngineClosedError, Request, Scheduler
from tts_cli.errors import ContextOverflowError


@dataclass
class Job:
    """A scripted request: ``steps`` decode steps, then its name as the result."""

    name: str
    steps: int
    done_steps: int = 0
    aborted: bool = False


@dataclass
class ScriptedCore:
    batches: list[list[str]] = field(default_factory=list)  # names decoded together, per step
    fail_step_of: Optional[str] = None  # a step containing this job raises (like a full KV cache)
    gate: Optional[threading.Event] = None  # each step waits for it (tests hold the loop)

    def live(self, state: Any) -> bool:
        return isinstance(state, Job) and state.done_steps < state.steps and not state.aborted

    def step(self, states: list[Any]) -> int:
        if self.gate is not None:
            self.gate.wait(10)
        names = [s.name for s in states]
        if self.fail_step_of in names:
            raise ContextOverflowError("KV cache full")
        self.batches.append(names)
        for s in states:
            s.done_steps += 1
        return len(states)

    def complete(self, state: Any) -> Any:
        return state.name if isinstance(state, Job) else state

    def abort(self, state: Any) -> None:
        if isinstance(state, Job):
            state.aborted = True


def request(job: Job, cells: int = 10, sequences: int = 1) -> Request:
    return Request(run=lambda: job, cells=cells, sequences=sequences)


def run_threads(scheduler: Scheduler, requests: list[Request]) -> list[Any]:
    results: list[Any] = [None] * len(requests)

    def call(i: int) -> None:
        try:
            results[i] = scheduler.submit(requests[i])
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    return results


def held_scheduler(core: ScriptedCore, admission: Admission) -> tuple[Scheduler, threading.Event]:
    """A scheduler whose first step waits until the test has queued everything."""
    core.gate = threading.Event()
    return Scheduler(core, admission), core.gate


def queue_then_release(scheduler: Scheduler, gate: threading.Event, requests: list[Request]) -> list[Any]:
    results: list[Any] = [None] * len(requests)
    threads = []
    for i, r in enumerate(requests):
        def call(i: int = i, r: Request = r) -> None:
            try:
                results[i] = scheduler.submit(r)
            except Exception as exc:  # noqa: BLE001
                results[i] = exc

        threads.append(threading.Thread(target=call))
        threads[-1].start()
        time.sleep(0.05)  # keep the submission order
    gate.set()
    for t in threads:
        t.join(20)
    return results


def test_requests_from_several_threads_share_decode_steps_and_get_their_own_results() -> None:
    core = ScriptedCore()
    scheduler, gate = held_scheduler(core, Admission(cells=1000, slots=64))
    jobs = [Job(f"p{i}", steps=3 + i) for i in range(4)]
    results = queue_then_release(scheduler, gate, [request(j) for j in jobs])
    scheduler.close()
    assert results == ["p0", "p1", "p2", "p3"]
    assert max(len(b) for b in core.batches) >= 2  # merged
    for job in jobs:  # each decoded exactly its own number of steps
        assert sum(job.name in b for b in core.batches) == job.steps


def test_a_finished_request_leaves_and_a_waiting_one_joins_between_steps() -> None:
    core = ScriptedCore()
    # room for two requests at a time
    scheduler, gate = held_scheduler(core, Admission(cells=20, slots=64))
    short, long_, third = Job("short", 1), Job("long", 6), Job("third", 2)
    results = queue_then_release(scheduler, gate, [request(short), request(long_), request(third)])
    scheduler.close()
    assert results == ["short", "long", "third"]
    first_with_third = next(i for i, b in enumerate(core.batches) if "third" in b)
    assert "long" in core.batches[first_with_third]  # joined while "long" was still decoding
    assert all(len(b) <= 2 for b in core.batches)  # never more than the KV cache admits


def test_admission_respects_slots_too() -> None:
    core = ScriptedCore()
    scheduler, gate = held_scheduler(core, Admission(cells=10_000, slots=4))
    jobs = [Job(f"p{i}", 3) for i in range(4)]
    results = queue_then_release(scheduler, gate, [request(j, sequences=3) for j in jobs])
    scheduler.close()
    assert results == ["p0", "p1", "p2", "p3"]
    assert all(len(b) == 1 for b in core.batches)  # 3 + 3 sequences > 4 slots: one at a time


def test_a_request_that_can_never_fit_runs_alone_instead_of_waiting_forever() -> None:
    core = ScriptedCore()
    scheduler, gate = held_scheduler(core, Admission(cells=100, slots=64))
    small, huge = Job("small", 2), Job("huge", 2)
    results = queue_then_release(scheduler, gate, [request(small, cells=60), request(huge, cells=500)])
    scheduler.close()
    assert results == ["small", "huge"]
    assert ["huge"] in core.batches and not any(len(b) > 1 for b in core.batches)


def test_a_request_that_fails_to_start_does_not_disturb_the_others() -> None:
    core = ScriptedCore()
    scheduler, gate = held_scheduler(core, Admission(cells=1000, slots=64))

    def broken() -> Any:
        raise ContextOverflowError("prompt of 9000 tokens does not fit")

    results = queue_then_release(
        scheduler, gate, [request(Job("a", 3)), Request(run=broken, cells=1, sequences=1), request(Job("b", 3))]
    )
    scheduler.close()
    assert results[0] == "a" and results[2] == "b"
    assert isinstance(results[1], ContextOverflowError)
    assert scheduler.admission.used_cells == 0 and scheduler.admission.used_slots == 0


def test_a_failing_step_aborts_the_newest_request_only() -> None:
    core = ScriptedCore(fail_step_of="bad")
    scheduler, gate = held_scheduler(core, Admission(cells=1000, slots=64))
    good, bad = Job("good", 4), Job("bad", 4)
    results = queue_then_release(scheduler, gate, [request(good), request(bad)])
    scheduler.close()
    assert results[0] == "good"
    assert isinstance(results[1], ContextOverflowError) and bad.aborted and not good.aborted


def test_close_fails_waiting_and_running_requests_at_once() -> None:
    core = ScriptedCore()
    core.gate = threading.Event()  # never set: the first step blocks until close
    scheduler = Scheduler(core, Admission(cells=10, slots=64))
    requests = [request(Job("running", 100), cells=10), request(Job("waiting", 1), cells=10)]
    results: list[Any] = [None, None]

    def call(i: int) -> None:
        try:
            results[i] = scheduler.submit(requests[i])
        except Exception as exc:  # noqa: BLE001
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    closer = threading.Thread(target=scheduler.close)
    closer.start()
    core.gate.set()  # let the step in progress end; the loop then sees the close
    closer.join(10)
    for t in threads:
        t.join(10)
    assert all(isinstance(r, EngineClosedError) for r in results), results
    with pytest.raises(EngineClosedError):
        scheduler.submit(request(Job("late", 1)))


def test_the_engine_thread_may_call_the_engine_directly() -> None:
    # a request's own start-up runs on the engine thread: it must not queue behind itself
    core = ScriptedCore()
    scheduler = Scheduler(core, Admission(cells=100, slots=8))
    seen: list[bool] = []
    job = Job("x", 1)

    def start() -> Any:
        seen.append(scheduler.on_engine_thread)
        return job

    assert scheduler.submit(Request(run=start, cells=1, sequences=1)) == "x"
    scheduler.close()
    assert seen == [True]
