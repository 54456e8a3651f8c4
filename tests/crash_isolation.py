"""Native-crash isolation for the test suite (a pytest plugin module, imported by conftest.py).

A test that runs llama.cpp in the pytest process (marked `real`) runs in a forked child
(pytest-forked), so a SIGSEGV in native code shows as that test failing with its name and signal,
and the run goes on. The main pytest process never loads llama.cpp: the guard fixture fails any
unmarked test that does.
"""

from __future__ import annotations

import os
import sys
from typing import Iterator

import pytest

_MAIN_PID = os.getpid()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(os, "fork"):
        return
    for item in items:
        if item.get_closest_marker("real") is not None and item.get_closest_marker("forked") is None:
            item.add_marker(pytest.mark.forked)


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
