"""The openai backend against a real server: llama-cpp-python's own OpenAI-compatible server on
smollm2-135m, started on 127.0.0.1 (a free port) for this session and stopped afterwards, driven
through the `tts` CLI (in this process, the ``cli`` fixture) with a --models file with backend = "openai"."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

pytestmark = pytest.mark.real

API_KEY = "tts-test-key"
SERVER_EXTRA = ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    request = urllib.request.Request(f"{url}/models", headers={"Authorization": f"Bearer {API_KEY}"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise RuntimeError(f"llama_cpp.server not ready after {timeout:.0f} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def server_url(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    missing = [name for name in SERVER_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"llama-cpp-python[server] is not installed (missing {', '.join(missing)}): pip install -e '.[test]'")
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    command = [
        sys.executable, str(Path(__file__).with_name("amx_safe_server.py")), "--model", str(smollm2_path), "--model_alias", "smollm2",
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", "2",
        "--api_key", API_KEY, "--verbose", "False",
    ]  # fmt: skip
    with log.open("wb") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_ready(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture()
def models(server_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(
        '[models."smol-server"]\n'
        'backend = "openai"\n'
        f'base_url = "{server_url}"\n'
        'model = "smollm2"\n'
        'api_key_env = "TTS_TEST_SERVER_KEY"\n'
        "params = 134515008\n"
        "context = 4096\n"
        "max_retries = 1\n"
    )
    return path


@pytest.fixture
def tts(cli: Callable[..., Any]) -> Callable[..., Any]:
    """`tts ARGS` in this process with a test environment; ``key=`` is the API key it sends."""

    def invoke(*args: str, key: str = API_KEY) -> Any:
        return cli(*args, TTS_TEST_SERVER_KEY=key)

    return invoke


def ask_json(tts: Callable[..., Any], models: Path, *args: str) -> tuple[dict, str]:
    result = tts("ask", "What is 2 + 3?", "-p", "smol-server", "--models", str(models), "--json", *args)
    assert result.code == 0, result.err
    return json.loads(result.out), result.err


def test_majority_through_the_server_counts_what_the_server_reports(tts, models):
    data, err = ask_json(tts, models, "-s", "majority", "-n", "4", "--max-tokens", "32", "--seed", "3")
    assert data["strategy"] == "majority" and len(data["candidates"]) == 4
    policy = data["cost"]["policy"]
    assert policy["source"] == "server" and policy["model"] == "smol-server"
    assert policy["prompt_tokens"] > 0 and 0 < policy["generated_tokens"] <= 4 * 32
    assert policy["generated_tokens"] == sum(c["tokens"] for c in data["candidates"])
    assert policy["flops"] == 2 * 134515008 * (policy["prompt_tokens"] + policy["generated_tokens"])
    assert "smol-server (server)" in err and "tokens as the server reported them" in " ".join(err.split())
    again, _ = ask_json(tts, models, "-s", "majority", "-n", "4", "--max-tokens", "32", "--seed", "3")
    assert [c["text"] for c in again["candidates"]] == [c["text"] for c in data["candidates"]]  # seeds honoured


def test_best_of_n_with_the_server_model_as_judge(tts, models):
    data, _ = ask_json(tts, models, "-s", "best-of-n", "-n", "4", "-v", "smol-server", "--max-tokens", "32")
    assert data["strategy"] == "best-of-n" and len(data["candidates"]) == 4
    scored = [c["score"] for c in data["candidates"] if c["score"] is not None]
    assert scored and all(0.0 <= s <= 1.0 for s in scored)
    assert len({round(s, 6) for s in scored}) > 1 or len(scored) == 1  # real log-probabilities, not a constant
    verifier = data["cost"]["verifier"]
    assert verifier["source"] == "server" and verifier["prompt_tokens"] > 0
    assert verifier["generated_tokens"] >= 1  # one token per judge request, as the server counts it


def test_beam_search_continues_steps_through_the_server(tts, models):
    data, _ = ask_json(
        tts, models, "-s", "beam", "-n", "2", "-m", "1", "-v", "smol-server", "--max-depth", "3",
        "--step-tokens", "16", "--max-tokens", "48",
    )  # fmt: skip
    assert max(node["depth"] for node in data["tree"]) >= 2  # a step continued from a previous one


def test_solve_with_workers_answers_every_id_once(tts, models, tmp_path):
    problems = tmp_path / "problems.jsonl"
    ids = [f"p{i}" for i in range(8)]
    problems.write_text(
        "".join(json.dumps({"id": pid, "question": f"What is {i} + {i}?", "answer": str(2 * i)}) + "\n" for i, pid in enumerate(ids))
    )
    out = tmp_path / "out.jsonl"
    result = tts(
        "solve", str(problems), "-o", str(out), "--workers", "4", "-s", "majority", "-n", "2",
        "--max-tokens", "24", "-p", "smol-server", "--models", str(models), "-q",
    )  # fmt: skip
    assert result.code == 0, result.err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in records) == ids
    assert all(r["cost"]["policy"]["source"] == "server" and r["cost"]["policy"]["generated_tokens"] > 0 for r in records)


def test_a_wrong_api_key_is_one_line_and_exit_code_3(tts, models):
    result = tts("ask", "What is 2 + 3?", "-p", "smol-server", "--models", str(models), key="wrong")
    err = result.err
    assert result.code == 3 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("tts: error:")]
    assert len(lines) == 1 and "refused the API key" in lines[0] and "401" in lines[0]
