"""Native-crash isolation for the test suite (a pytest plugin module, imported by conftest.py).

A test that runs llama.cpp in the pytest process (marked `real`) runs in a forked child, so a
SIGSEGV in native code shows as that test failing with its name and signal, and the run goes on.
The child sends its reports back as JSON through pytest's own ``pytest_report_to_serializable``
hooks (the ones pytest-xdist uses); only `runtestprotocol` comes from pytest's runner. The main pytest
process never loads llama.cpp: the guard fixture fails any unmarked test that does.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from typing import Any, Iterator, Optional

import pytest
from _pytest.runner import runtestprotocol

_MAIN_PID = os.getpid()
_CHILD_FAILED = 70  # the child could not even report (an exception outside the test protocol)


def _isolated(item: pytest.Item) -> bool:
    return hasattr(os, "fork") and item.get_closest_marker("real") is not None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Optional[pytest.Item]) -> Optional[bool]:
    if not _isolated(item) or os.getpid() != _MAIN_PID:
        return None
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for report in _run_in_child(item):
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    # The child set up and tore down its own fixtures. Here, finish what the previous test of this
    # process left set up for this one (its module, its class) unless the next test needs it, as
    # the normal protocol's teardown would; pytest >= 9.2 refuses to set up the next test otherwise.
    item.session._setupstate.teardown_exact(nextitem)
    return True


def _run_in_child(item: pytest.Item) -> list[Any]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run the whole protocol (setup, call, teardown), send the reports
        os.close(read_fd)
        code = 0
        try:
            reports = runtestprotocol(item, log=False, nextitem=None)
            payload = [item.config.hook.pytest_report_to_serializable(config=item.config, report=r) for r in reports]
            with os.fdopen(write_fd, "w") as out:
                json.dump(payload, out)
        except BaseException:  # noqa: BLE001 - the parent turns the exit status into a failed test
            traceback.print_exc(file=sys.stderr)
            code = _CHILD_FAILED
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as source:
        data = source.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and data:
        return [item.config.hook.pytest_report_from_serializable(config=item.config, data=d) for d in json.loads(data)]
    return [_crash_report(item, status)]


def _crash_report(item: pytest.Item, status: int) -> pytest.TestReport:
    path, lineno, _ = item.location
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = "unknown"
        how = f"CRASHED with signal {signum} ({name})"
    else:
        how = f"EXITED with status {os.WEXITSTATUS(status)}"
    return pytest.TestReport(
        nodeid=item.nodeid, location=item.location, keywords={k: 1 for k in item.keywords},
        outcome="failed", longrepr=f"{path}:{(lineno or 0) + 1}: running the test {how}", when="call",
        sections=[], duration=0.0, user_properties=[],
    )


@pytest.fixture(autouse=True)
def _llama_cpp_stays_out_of_the_pytest_process(request: pytest.FixtureRequest) -> Iterator[None]:
    loaded_before = _llama_loaded()
    yield
    if os.getpid() == _MAIN_PID and _llama_loaded() and not loaded_before:
        pytest.fail(
            f"{request.node.nodeid} loaded llama.cpp into the pytest process: mark it `real` so that it runs in a "
            "forked child (a native crash would otherwise end the whole run)"
        )


def _llama_loaded() -> bool:
    llama = sys.modules.get("tts_cli.engine.llama")
    return bool(getattr(llama, "_backend_ready", False))
