from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Optional

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


class Captured(io.StringIO):
    """A text stream that keeps what was written to it once it is closed (`tts solve` closes
    its results stream when it is done)."""

    written = ""

    def close(self) -> None:
        if not self.closed:
            self.written = self.getvalue()
        super().close()

    def text(self) -> str:
        return self.written if self.closed else self.getvalue()


@dataclass
class CliResult:
    """What one `tts` invocation left: its exit status, stdout and stderr."""

    code: int
    out: str
    err: str


Cli = Callable[..., CliResult]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``cli(*argv, stdin=b"", stdout_isatty=False, ..., NAME=value)`` runs `tts ARGV` in this
    process through ``tts_cli.cli.app.run(argv, env)`` with a test ``Environment``: the stdin
    bytes given, captured stdout/stderr (or ``stdout=`` a stream of the test's own), the isatty
    flags chosen (default: none is a terminal) and no colour. Keyword arguments in capitals set
    environment variables for the rest of the test (``None`` removes one). Returns a ``CliResult``.

    The command runs in the pytest process: a test whose command loads llama.cpp must be marked
    ``real`` (it then runs in a forked child, see crash_isolation.py). What needs a real process
    (the supervisor, signals, the interpreter's exit) is tested with ``python -m tts_cli``."""
    from tts_cli.cli.app import run
    from tts_cli.env import Environment

    def invoke(
        *argv: str,
        stdin: bytes = b"",
        stdin_isatty: bool = False,
        stdout_isatty: bool = False,
        stderr_isatty: bool = False,
        no_color: bool = True,
        stdout: Optional[IO[str]] = None,
        **environ: Optional[str],
    ) -> CliResult:
        for name, value in environ.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        out, err = Captured(), Captured()
        env = Environment(
            stdin=io.BytesIO(stdin), stdout=stdout if stdout is not None else out, stderr=err,
            stdin_isatty=stdin_isatty, stdout_isatty=stdout_isatty, stderr_isatty=stderr_isatty, no_color=no_color,
        )
        code = run(list(argv), env)
        return CliResult(code, out.text(), err.text())

    return invoke


# A test that runs llama.cpp in this process runs in a forked child (see crash_isolation.py).
from crash_isolation import _llama_cpp_stays_out_of_the_pytest_process, pytest_runtest_protocol  # noqa: E402,F401


@pytest.fixture
def sandboxed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs the test with the platform's sandbox (TTS_SANDBOX unset); skips where there is none
    (CI sets TTS_REQUIRE_SANDBOX=1 and test_sandbox.py::test_required_in_ci fails there instead)."""
    from tts_cli.sandbox import ENV_VAR, availability

    monkeypatch.delenv(ENV_VAR, raising=False)
    ok, reason = availability()
    if not ok:
        pytest.skip(reason)


@pytest.fixture
def scripted_cli(monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Any]) -> Callable[..., Any]:
    """``tts ask``/``solve`` in this process with a ScriptedEngine answering ``reply`` (set by the test)."""
    from fakes import ScriptedEngine

    from tts_cli.cli.runtime import Session
    from tts_cli.prompts import prompt_set

    monkeypatch.setenv("TTS_CONFIG_DIR", "/nonexistent/tts-config")
    monkeypatch.delenv("TTS_MODELS", raising=False)
    state: dict[str, Any] = {"reply": "\\boxed{42}", "seen": []}

    def script(text: str, params: Any, index: int) -> str:
        state["seen"].append(text)
        return str(state["reply"])

    class NoLoader:
        def load_verifier(self, ref: Any, kind: Any) -> None:
            return None

        def close(self) -> None:
            pass

    def open_session(env: Any, settings: Any, config: Any, *, quiet: bool = False, concurrent: bool = False) -> Any:
        return Session(config=config, strategy=settings.strategy, policy=ScriptedEngine(script), verifier=None,
                       prompts=prompt_set("math", settings.system_prompt), loader=NoLoader())  # fmt: skip

    monkeypatch.setattr("tts_cli.cli.runtime.open_session", open_session)

    def invoke(*args: str, reply: str = "\\boxed{42}", **kwargs: Any) -> Any:
        state["reply"] = reply
        result = cli(*args, "--policy", "/nonexistent/must-not-be-loaded.gguf", **kwargs)
        result.seen = list(state["seen"])
        return result

    return invoke
