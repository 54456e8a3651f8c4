from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The real SmolLM2-135M GGUF, fetched through the same pull code path users get (cached)."""
    from tts_cli.config import load_registry
    from tts_cli.store import ModelStore

    spec = load_registry().get("smollm2-135m")
    store = ModelStore()
    return store.ensure(spec)


@pytest.fixture(scope="session")
def smollm2(smollm2_path: Path):
    from tts_cli.engine import EngineOptions, load_engine

    engine = load_engine(smollm2_path, name="smollm2-135m", options=EngineOptions(n_ctx=8192, n_threads=2))
    yield engine
    engine.close()


# A test that runs llama.cpp in this process runs in a forked child (see crash_isolation.py).
from crash_isolation import _llama_cpp_stays_out_of_the_pytest_process, pytest_runtest_protocol  # noqa: E402,F401
