"""The openai backend without a real server: its configuration and bookkeeping, and the failures a
real server cannot be made to show on demand (rate limits, outages, an unreachable port, missing
log-probabilities, an ignored ``n``, slow answers), played by a stub on 127.0.0.1."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from procs import default_sigint
from stub_server import Reply, StubServer, completion, default_behaviour

from tts_cli.config import ServerSettings, load_registry
from tts_cli.engine.http import Aborted, HTTPClient, Refused
from tts_cli.engine.openai import OpenAIEngine, _ending, load_server_engine, split_tokens
from tts_cli.engine.types import SamplingParams
from tts_cli.errors import ConfigError, ContextOverflowError, ModelError, ServerError
from tts_cli.verifiers.judge import JudgeVerifier

ANSWER = "Step one.\n\nThe answer is $\\boxed{4}$."


def make_engine(url: str, *, max_retries: int = 2, backoff: float = 0.05, max_backoff: float = 5.0, timeout: float = 10.0) -> OpenAIEngine:
    settings = ServerSettings(base_url=url, model="stub", max_retries=max_retries, timeout=timeout)
    client = HTTPClient(url, name="stub", timeout=timeout, max_retries=max_retries, backoff=backoff, max_backoff=max_backoff)
    return OpenAIEngine(settings, name="stub", n_params=1000, client=client)


def models_file(tmp_path: Path, url: str, **extra: Any) -> Path:
    entry: dict[str, Any] = {"backend": "openai", "base_url": url, "model": "stub", "params": 1000, **extra}
    path = tmp_path / "models.toml"
    path.write_text("[models.srv]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in entry.items()))
    return path


@pytest.fixture
def tts(cli: Any) -> Any:
    """`tts ARGS` in this process with a test environment (the ``cli`` fixture)."""
    return cli


def one_line_error(result: Any) -> str:
    err = result.err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("tts: error:")]
    assert len(lines) == 1, err
    return lines[0]


# --------------------------------------------------------------------------- models.toml


@pytest.mark.parametrize(
    "extra, words",
    [
        ({"backend": "vllm"}, "backend: expected one of llama.cpp, openai"),
        ({"file": "x.gguf"}, 'file: only for backend = "llama.cpp"'),
        ({"gpu_layers": 3}, 'gpu_layers: only for backend = "llama.cpp"'),
        ({"base_url": "localhost:8000/v1"}, "base_url: expected http(s)://host"),
        ({"base_url": "http://h:port/v1"}, "base_url: not a valid URL"),
        ({"api_key_env": "sk-abc123"}, "api_key_env: expected the NAME of an environment variable"),
        ({"timeout": 0}, "timeout: must be positive"),
        ({"max_retries": -1}, "max_retries: must be >= 0"),
        ({"concurrency": 0}, "concurrency: must be at least 1"),
        ({"timeout": "10"}, "timeout: expected a number"),
    ],
)
def test_server_model_errors_name_file_line_and_key(tmp_path, extra, words):
    path = models_file(tmp_path, "http://127.0.0.1:8000/v1", **extra)
    with pytest.raises(ConfigError) as info:
        load_registry(path)
    message = str(info.value)
    assert f"{path}:" in message and "models.srv." in message and words in message, message


def test_missing_server_keys_and_server_keys_on_a_local_model(tmp_path):
    path = tmp_path / "models.toml"
    path.write_text('[models.srv]\nbackend = "openai"\nmodel = "m"\n')
    with pytest.raises(ConfigError, match="missing required key 'base_url'"):
        load_registry(path)
    path.write_text('[models.loc]\nfile = "a.gguf"\nbase_url = "http://h/v1"\n[[models.loc.sources]]\nkind = "url"\nurl = "http://h/a.gguf"\n')
    with pytest.raises(ConfigError, match=r':3: models\.loc\.base_url: only for backend = "openai"'):
        load_registry(path)


def test_server_model_settings_are_read(tmp_path):
    path = models_file(tmp_path, "https://gpu-box:8443/v1/", api_key_env="MY_KEY", timeout=2.5, concurrency=3)
    spec = load_registry(path).get("srv")
    assert spec.backend == "openai" and spec.file == "" and spec.sources == () and spec.params == 1000
    assert spec.server == ServerSettings(
        base_url="https://gpu-box:8443/v1", model="stub", api_key_env="MY_KEY", timeout=2.5, concurrency=3
    )


def test_models_list_shows_the_server_and_pull_refuses(tts, tmp_path):
    path = models_file(tmp_path, "http://127.0.0.1:8000/v1")
    result = tts("models", "list", "--json", "--models", str(path))
    assert result.code == 0, result.err
    row = next(r for r in json.loads(result.out) if r["name"] == "srv")
    assert row["backend"] == "openai" and row["base_url"] == "http://127.0.0.1:8000/v1" and row["downloaded"] is None
    result = tts("models", "pull", "srv", "--models", str(path))
    assert result.code == 2 and "no file to pull" in one_line_error(result)


# --------------------------------------------------------------------------- pure bookkeeping


def test_tokens_are_interned_text_chunks():
    engine = make_engine("http://127.0.0.1:9/v1")
    a, b = engine.tokenize("Yes"), engine.tokenize(" Yes")
    assert len(a) == len(b) == 1 and a != b and engine.tokenize("Yes") == a and engine.tokenize("") == []
    assert engine.detokenize(a + b) == "Yes Yes"
    prompt = engine.chat_prompt([{"role": "user", "content": "hi"}])
    assert engine.detokenize(prompt) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    with pytest.raises(ValueError):
        engine.detokenize([10_000])
    engine.close()


@pytest.mark.parametrize(
    "choice, stop, expected",
    [
        ({"text": "Step 1", "finish_reason": "stop"}, ("\n\n",), ("Step 1", "stop", "\n\n")),
        ({"text": "Done.", "finish_reason": "stop"}, (), ("Done.", "eos", None)),
        ({"text": "", "finish_reason": "stop"}, ("\n\n",), ("", "eos", None)),
        ({"text": "Step 1", "finish_reason": "length"}, ("\n\n",), ("Step 1", "length", None)),
        ({"text": "A\n\nB", "finish_reason": "length"}, ("\n\n",), ("A", "stop", "\n\n")),  # stop ignored by the server
        ({"text": "Done.", "finish_reason": "stop", "stop_reason": None}, ("\n\n",), ("Done.", "eos", None)),  # vLLM
        ({"text": "S", "finish_reason": "stop", "stop_reason": "\n\n"}, ("\n\n",), ("S", "stop", "\n\n")),
        ({"text": "S", "finish_reason": "stop", "matched_stop": 2}, ("\n\n",), ("S", "eos", None)),  # SGLang: EOS id
        ({"text": "S", "finish_reason": "stop"}, ("##", "\n\n"), ("S", "stop", "##")),  # no hint: the first stop
    ],
)
def test_end_of_sequence_versus_stop_string(choice, stop, expected):
    assert _ending("m", choice, SamplingParams(stop=stop)) == expected


@pytest.mark.parametrize(
    "total, weights, caps, expected",
    [(10, [1, 1], [9, 9], [5, 5]), (10, [3, 1], [99, 99], [8, 2]), (10, [9, 1], [5, 9], [5, 5]), (7, [0, 0, 0], [9, 9, 9], [3, 2, 2])],
)
def test_split_of_server_tokens_over_choices(total, weights, caps, expected):
    parts = split_tokens(total, weights, caps)
    assert parts == expected and sum(parts) == total


# --------------------------------------------------------------------------- sampling


def test_identical_requests_use_n_when_the_server_honours_it():
    with StubServer() as stub:
        engine = make_engine(stub.url)
        prompt = engine.tokenize("Q: 2+2?")
        params = [SamplingParams(seed=s, max_tokens=64, stop=()) for s in (11, 12, 13)]
        out = engine.generate([prompt] * 3, params)
        posts = stub.posts()
        assert len(posts) == 1 and posts[0]["n"] == 3 and posts[0]["seed"] == 11 and posts[0]["prompt"] == "Q: 2+2?"
        assert posts[0]["min_p"] == 0.0 and posts[0]["top_k"] == 40 and posts[0]["max_tokens"] == 64
        assert [c.text for c in out] == [ANSWER] * 3 and all(c.finish_reason == "eos" for c in out)
        assert sum(c.generated_tokens for c in out) == engine.usage.generated_tokens == 3 * len(ANSWER)
        assert engine.usage.prompt_tokens == 10 and engine.usage.source == "server" and engine.parallel_n is True
        engine.close()


def test_an_ignored_n_falls_back_to_one_request_per_sample():
    def ignores_n(path: str, body: dict[str, Any], number: int) -> Reply:
        if path.endswith("/models"):
            return default_behaviour(path, body, number)
        return Reply(body=completion([f"sample seed={body['seed']}"]))

    with StubServer(ignores_n) as stub:
        engine = make_engine(stub.url)
        prompt = engine.tokenize("Q")
        out = engine.generate([prompt] * 4, [SamplingParams(seed=s) for s in range(4)])
        assert [c.text for c in out] == [f"sample seed={s}" for s in range(4)]
        first, *rest = stub.posts()
        assert first["n"] == 4 and all("n" not in body for body in rest) and len(rest) == 3
        assert engine.parallel_n is False
        engine.generate([prompt] * 2, [SamplingParams(seed=s) for s in (7, 8)])
        assert [body.get("n") for body in stub.posts()[4:]] == [None, None]
        assert engine.usage.generated_tokens == sum(len(f"sample seed={s}") for s in (0, 1, 2, 3, 7, 8))
        engine.close()


def test_completion_tokens_continue_after_the_stop_string_and_cached_tokens_are_read():
    def steps(path: str, body: dict[str, Any], number: int) -> Reply:
        data = completion(["First step"], prompt_tokens=30)
        data["usage"]["prompt_tokens_details"] = {"cached_tokens": 24}
        return Reply(body=data)

    with StubServer(steps) as stub:
        engine = make_engine(stub.url)
        prompt = engine.tokenize("Q:")
        (step,) = engine.generate([prompt], [SamplingParams(stop=("\n\n",))])
        assert step.finish_reason == "stop" and step.stop == "\n\n" and step.text == "First step"
        engine.generate([prompt + step.tokens], [SamplingParams(stop=("\n\n",))])
        assert stub.posts()[1]["prompt"] == "Q:First step\n\n"
        assert engine.usage.prompt_tokens == 12 and engine.usage.cached_tokens == 48
        engine.close()


def test_llama_server_cache_timings_count_as_cached_tokens():
    def llama_server(path: str, body: dict[str, Any], number: int) -> Reply:
        return Reply(body={**completion(["x"], prompt_tokens=50), "timings": {"cache_n": 45, "prompt_n": 5}})

    with StubServer(llama_server) as stub:
        engine = make_engine(stub.url)
        engine.generate([engine.tokenize("Q")], [SamplingParams()])
        assert (engine.usage.prompt_tokens, engine.usage.cached_tokens) == (5, 45)
        engine.close()


# --------------------------------------------------------------------------- verifier log-probabilities


@pytest.mark.parametrize("chat_format", [False, True])
def test_judge_reads_yes_and_no_from_top_logprobs(chat_format):
    def logprobs(path: str, body: dict[str, Any], number: int) -> Reply:
        data = completion([" Yes"], completion_tokens=1)
        top = {" Yes": -0.2, " No": -1.8, "Maybe": -3.0}
        if chat_format:  # llama-server's shape
            data["choices"][0]["logprobs"] = {"content": [{"token": " Yes", "logprob": -0.2, "top_logprobs": [{"token": k, "logprob": v} for k, v in top.items()]}]}
        else:
            data["choices"][0]["logprobs"] = {"tokens": [" Yes"], "top_logprobs": [top]}
        return Reply(body=data)

    with StubServer(logprobs) as stub:
        engine = make_engine(stub.url)
        judge = JudgeVerifier(engine)
        scores = judge.score("What is 2+2?", [["2+2=4", "So 4."], ["2+2=5"]])
        assert [len(s) for s in scores] == [2, 1]
        expected = 1 / (1 + math.exp(-1.6))
        assert all(abs(x - expected) < 1e-9 for row in scores for x in row)
        posts = stub.posts()
        assert len(posts) == 3 and all(b["max_tokens"] == 1 and b["temperature"] == 0.0 and b["logprobs"] == 20 for b in posts)
        assert judge.usage.prompt_tokens == 30 and judge.usage.generated_tokens == 3 and engine.usage.prompt_tokens == 0
        assert judge.usage.source == "server"
        engine.close()


def test_a_server_without_logprobs_is_a_clear_model_error(tts, tmp_path):
    def no_logprobs(path: str, body: dict[str, Any], number: int) -> Reply:
        if path.endswith("/models"):
            return Reply(status=404, body={"detail": "Not Found"})
        return Reply(body=completion([ANSWER]))  # logprobs: null even when asked

    with StubServer(no_logprobs) as stub:
        engine = make_engine(stub.url)
        with pytest.raises(ModelError, match="returned no log-probabilities"):
            engine.next_token_logprobs([engine.tokenize("Q")], engine.tokenize("Yes"))
        engine.close()
        path = str(models_file(tmp_path, stub.url))
        result = tts("ask", "What is 2+2?", "-s", "best-of-n", "-n", "2", "-p", "srv", "-v", "srv", "--models", path)
        assert result.code == 3 and "returned no log-probabilities" in one_line_error(result)


# --------------------------------------------------------------------------- failures and retries


def flaky(failures: list[Reply]) -> Any:
    def behaviour(path: str, body: dict[str, Any], number: int) -> Reply:
        return failures[number] if number < len(failures) else default_behaviour(path, body, number)

    return behaviour


def test_429_waits_for_retry_after_then_succeeds():
    with StubServer(flaky([Reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"})])) as stub:
        engine = make_engine(stub.url)
        started = time.monotonic()
        out = engine.generate([engine.tokenize("Q")], [SamplingParams()])
        assert time.monotonic() - started >= 0.95 and out[0].text == ANSWER and len(stub.posts()) == 2
        engine.close()


def test_backoff_is_capped_even_when_retry_after_asks_for_an_hour():
    busy = Reply(503, {"error": {"message": "loading"}}, {"Retry-After": "3600"})
    with StubServer(flaky([busy, busy])) as stub:
        engine = make_engine(stub.url, max_backoff=0.2)
        started = time.monotonic()
        engine.generate([engine.tokenize("Q")], [SamplingParams()])
        assert 0.35 <= time.monotonic() - started < 3 and len(stub.posts()) == 3
        engine.close()


def test_a_server_that_keeps_failing_gives_up_after_max_retries():
    down = Reply(503, {"error": {"message": "overloaded"}})
    with StubServer(flaky([down] * 10)) as stub:
        engine = make_engine(stub.url, max_retries=2)
        with pytest.raises(ServerError, match=r"failed after 3 attempts: HTTP 503: overloaded"):
            engine.generate([engine.tokenize("Q")], [SamplingParams()])
        assert len(stub.posts()) == 3
        engine.close()


@pytest.mark.parametrize(
    "reply, error, words",
    [
        (Reply(401, {"detail": "Invalid API key"}), Refused, "refused the API key"),
        (Reply(404, {"error": {"message": "model x does not exist"}}), Refused, "check base_url"),
        (Reply(400, {"error": {"message": "This model's maximum context length is 2048 tokens"}}), ContextOverflowError, "maximum context length"),
        (Reply(200, {"choices": [{"text": "x", "finish_reason": "stop"}]}), ServerError, "no usage.completion_tokens"),
    ],
)
def test_errors_that_retrying_cannot_fix_are_not_retried(reply, error, words):
    with StubServer(lambda path, body, number: reply) as stub:
        engine = make_engine(stub.url)
        with pytest.raises(error, match=words):
            engine.generate([engine.tokenize("Q")], [SamplingParams()])
        assert len(stub.posts()) == 1
        engine.close()


def test_no_answer_within_the_timeout_is_an_error_without_retry():
    with StubServer(lambda path, body, number: Reply(body=completion(["x"]), delay=3)) as stub:
        engine = make_engine(stub.url, timeout=0.5)
        with pytest.raises(ServerError, match=r"no answer .* within 0\.5 s"):
            engine.generate([engine.tokenize("Q")], [SamplingParams()])
        assert len(stub.posts()) == 1
        engine.close()


def test_close_aborts_a_request_in_flight():
    with StubServer(lambda path, body, number: Reply(body=completion(["x"]), delay=20)) as stub:
        engine = make_engine(stub.url, timeout=60)
        failure: list[BaseException] = []

        def call() -> None:
            try:
                engine.generate([engine.tokenize("Q")], [SamplingParams()])
            except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
                failure.append(exc)

        thread = threading.Thread(target=call)
        thread.start()
        while not stub.posts():
            time.sleep(0.01)
        started = time.monotonic()
        engine.close()
        thread.join(5)
        assert not thread.is_alive() and time.monotonic() - started < 3 and isinstance(failure[0], Aborted)


def test_unreachable_server_is_one_line_and_exit_code_3(tts, tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = models_file(tmp_path, f"http://127.0.0.1:{port}/v1", max_retries=1)
    result = tts("ask", "What is 2+2?", "-p", "srv", "--models", str(path))
    line = one_line_error(result)
    assert result.code == 3 and f"cannot reach the server at http://127.0.0.1:{port}/v1: connection refused" in line


def test_api_key_comes_from_the_named_environment_variable(tmp_path, monkeypatch):
    with StubServer() as stub:
        spec = load_registry(models_file(tmp_path, stub.url, api_key_env="TTS_TEST_KEY")).get("srv")
        monkeypatch.delenv("TTS_TEST_KEY", raising=False)
        with pytest.raises(ConfigError, match=r"TTS_TEST_KEY .* is not set"):
            load_server_engine(spec)
        monkeypatch.setenv("TTS_TEST_KEY", "s3cret")
        engine = load_server_engine(spec)
        assert engine.context_length == 2048  # read from /models (max_model_len)
        engine.generate([engine.tokenize("Q")], [SamplingParams()])
        assert {headers.get("Authorization") for _, _, headers in stub.requests} == {"Bearer s3cret"}
        engine.close()


# --------------------------------------------------------------------------- tts solve --workers


def write_problems(path: Path, count: int, bad_line: bool = False) -> list[int]:
    lines = [json.dumps({"id": i, "question": f"What is {i} + 2?", "answer": "4"}) for i in range(count)]
    if bad_line:
        lines.insert(3, "{not json")
    path.write_text("\n".join(lines) + "\n")
    return list(range(count))


class Concurrency:
    """A stub behaviour answering every prompt after ``delay`` and recording the most requests in flight."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.active = 0
        self.peak = 0
        self.lock = threading.Lock()

    def __call__(self, path: str, body: dict[str, Any], number: int) -> Reply:
        if path.endswith("/models"):
            return default_behaviour(path, body, number)
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(self.delay)
        with self.lock:
            self.active -= 1
        return Reply(body=completion([reply_text(body["prompt"])] * int(body.get("n", 1))))


def reply_text(prompt: str) -> str:
    """A reply whose length depends on the problem, so that each problem's cost can be told apart."""
    number = int(re.search(r"What is (\d+) \+ 2\?", prompt).group(1))
    return "ok " * (number + 1) + "so \\boxed{4}"


def test_solve_workers_answers_every_id_once_with_its_own_cost(tts, tmp_path):
    behaviour = Concurrency(0.3)
    with StubServer(behaviour) as stub:
        problems = tmp_path / "p.jsonl"
        ids = write_problems(problems, 9, bad_line=True)
        out = tmp_path / "out.jsonl"
        result = tts("solve", str(problems), "-o", str(out), "--workers", "4", "-s", "majority", "-n", "3",
                     "-p", "srv", "--models", str(models_file(tmp_path, stub.url)), "-q")
        assert result.code == 4, result.err  # the malformed line
        records = [json.loads(line) for line in out.read_text().splitlines()]
        answered = [r["id"] for r in records if "error" not in r]
        assert sorted(answered) == ids and len([r for r in records if "error" in r]) == 1
        assert behaviour.peak >= 2
        posts = stub.posts()
        for record in (r for r in records if "error" not in r):
            assert record["correct"] is True and record["cost"]["policy"]["source"] == "server"
            mine = [body for body in posts if f"What is {record['id']} + 2?" in body["prompt"]]
            assert len(mine) == 1 and mine[0]["n"] == 3  # one request per problem
            assert record["cost"]["policy"]["generated_tokens"] == 3 * len(reply_text(mine[0]["prompt"]))


def test_solve_workers_interrupted_then_resumed(tts, tmp_path):
    """Ctrl-C needs the real process (`python -m tts_cli`): it returns at once, exit 130."""
    behaviour = Concurrency(0.4)
    with StubServer(behaviour) as stub:
        problems = tmp_path / "p.jsonl"
        ids = write_problems(problems, 12)
        out = tmp_path / "out.jsonl"
        args = ["solve", str(problems), "-o", str(out), "--workers", "3", "-p", "srv",
                "--models", str(models_file(tmp_path, stub.url)), "-q"]
        proc = subprocess.Popen([sys.executable, "-m", "tts_cli", *args], stderr=subprocess.PIPE,
                                env={**os.environ, "NO_COLOR": "1"}, preexec_fn=default_sigint)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 2):
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err.decode()
        assert time.monotonic() - started < 5 and "interrupted" in err.decode() and "Traceback" not in err.decode()
        first = [json.loads(line)["id"] for line in out.read_text().splitlines()]
        assert 2 <= len(first) < 12 and len(set(first)) == len(first)
        behaviour.delay = 0.0
        resumed = tts(*args, "--resume")
        assert resumed.code == 0, resumed.err
        final = [json.loads(line)["id"] for line in out.read_text().splitlines()]
        assert sorted(final) == ids


def test_workers_must_be_positive(tts, tmp_path):
    # (--workers K on a local model batches problems together: tests/test_batching_real.py)
    problems = tmp_path / "p.txt"
    problems.write_text("What is 1 + 1?\n")
    result = tts("solve", str(problems), "--workers", "0")
    assert result.code == 2 and "--workers must be at least 1" in one_line_error(result)
