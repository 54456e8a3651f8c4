"""`tts serve` on smollm2-135m, started on 127.0.0.1 (a free port) by these tests, talked to by real
clients: the official ``openai`` package (streaming and not, ``extra_body``, its exception types),
``llm`` (an OpenAI-compatible model in its extra-openai-models.yaml), and raw HTTP for hostile and
malformed requests, concurrency, disconnects and the drain on SIGTERM.

The servers are subprocesses (``python -m tts_cli serve``): llama.cpp never loads in the pytest
process, so these tests need no fork of their own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

openai = pytest.importorskip("openai")
pytest.importorskip("uvicorn")
pytest.importorskip("sse_starlette")

from test_openai_real import API_KEY as LLAMA_SERVER_KEY  # noqa: E402
from test_openai_real import server_url  # noqa: E402,F401  (the llama-cpp-python server fixture)

MODEL = "smollm2-135m"
KEY = "serve-test-key"
QUESTION = [{"role": "user", "content": "What is 2 + 3?"}]


@dataclass
class Reply:
    status_code: int
    headers: Any
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def http(method: str, url: str, body: Any = None, headers: Optional[dict[str, str]] = None, timeout: float = 60) -> Reply:
    """One raw HTTP request (stdlib only): ``body`` bytes as they are, anything else as JSON."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, response.headers, response.read().decode())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.headers, error.read().decode())


@dataclass
class Served:
    url: str  # http://127.0.0.1:PORT
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def api(self) -> str:
        return f"{self.url}/v1"

    def health(self) -> dict[str, Any]:
        return dict(http("GET", f"{self.url}/health", timeout=10).json())


def start(smollm2: Path, log: Path, *args: str, env: Optional[dict[str, str]] = None, model: str = MODEL) -> Served:
    """``tts serve`` on ``model`` (``smollm2``: the fixture that makes sure it is downloaded)."""
    command = [sys.executable, "-m", "tts_cli", "serve", "-p", model, "--port", "0", "--ctx", "4096",
               "--threads", "2", "--max-tokens", "32", *args]  # fmt: skip
    sink = log.open("wb")
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=sink, env={**os.environ, **(env or {})})
    sink.close()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = re.search(r"on (http://127\.0\.0\.1:\d+)/v1", log.read_text(errors="replace"))
        if found:
            return Served(found.group(1), proc, log)
        if proc.poll() is not None:
            raise RuntimeError(f"tts serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"tts serve did not start: {log.read_text()[-2000:]}")


def stop(served: Served) -> int:
    served.proc.send_signal(signal.SIGTERM)
    try:
        return served.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        served.proc.kill()
        served.proc.wait()
        raise


@pytest.fixture(scope="module")
def server(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start(smollm2_path, tmp_path_factory.mktemp("serve") / "serve.log", "--parallel", "8")
    try:
        yield served
    finally:
        assert stop(served) == 0, served.log.read_text()[-2000:]


@pytest.fixture(scope="module")
def guarded(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server that asks for an API key, runs one search at a time with no queue, and has no sandbox."""
    served = start(smollm2_path, tmp_path_factory.mktemp("guarded") / "serve.log", "--api-key-env", "SERVE_TEST_KEY",
                   "--parallel", "1", "--queue", "0", env={"SERVE_TEST_KEY": KEY, "TTS_SANDBOX": "off"})  # fmt: skip
    try:
        yield served
    finally:
        assert stop(served) == 0, served.log.read_text()[-2000:]


@pytest.fixture
def client(server: Served) -> Any:
    return openai.OpenAI(base_url=server.api, api_key="unused", max_retries=0, timeout=120)


def record(choice: Any) -> dict[str, Any]:
    return dict(choice.model_extra["tts"])


def spent(tts: dict[str, Any]) -> int:
    cost = tts["cost"]
    return sum(m["generated_tokens"] for m in (cost["policy"], cost["verifier"]) if m)


# ------------------------------------------------------------------------- the openai client


def test_chat_completion_with_the_openai_client(client: Any) -> None:
    response = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=32, seed=1)
    choice = response.choices[0]
    tts = record(choice)
    assert response.object == "chat.completion" and response.model == MODEL
    assert choice.message.role == "assistant" and choice.message.content
    assert tts["strategy"] == "greedy" and tts["question"] == "What is 2 + 3?"
    assert choice.message.content.startswith(tts["candidates"][tts["chosen"]]["text"][:40])
    usage = response.usage
    assert usage.completion_tokens == spent(tts) > 0
    assert usage.prompt_tokens > 0 and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streaming_gives_the_same_text_and_the_usage(client: Any) -> None:
    plain = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=32, seed=2)
    stream = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=32, seed=2, stream=True,
                                            stream_options={"include_usage": True})  # fmt: skip
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert text == plain.choices[0].message.content  # greedy: the same solution
    assert len(finals) == 1 and record(finals[0].choices[0])["answer"] == record(plain.choices[0])["answer"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == plain.usage.completion_tokens


def test_strategy_by_extra_body_and_by_model_name(client: Any) -> None:
    by_body = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=24,
                                             extra_body={"tts": {"strategy": "majority", "n": 3}})  # fmt: skip
    by_name = client.chat.completions.create(model=f"majority-3@{MODEL}", messages=QUESTION, max_tokens=24)
    for response in (by_body, by_name):
        tts = record(response.choices[0])
        assert tts["strategy"] == "majority" and len(tts["candidates"]) == 3
        assert response.usage.completion_tokens == spent(tts) == sum(c["tokens"] for c in tts["candidates"])
    assert by_name.model == f"majority-3@{MODEL}"


def test_n_choices_are_independent_searches(client: Any) -> None:
    response = client.chat.completions.create(model=f"majority-2@{MODEL}", messages=QUESTION, max_tokens=24, n=2,
                                              temperature=1.0)  # fmt: skip
    assert [c.index for c in response.choices] == [0, 1]
    records = [record(c) for c in response.choices]
    assert response.usage.completion_tokens == sum(spent(r) for r in records)


def test_text_completions_and_models(client: Any) -> None:
    response = client.completions.create(model=MODEL, prompt="What is 3 + 4?", max_tokens=24)
    assert response.object == "text_completion" and response.choices[0].text
    assert record(response.choices[0])["question"] == "What is 3 + 4?"
    ids = [m.id for m in client.models.list()]
    assert ids[0] == MODEL and f"majority@{MODEL}" in ids and f"mixed@{MODEL}" in ids


def test_stop_ends_the_returned_text(client: Any) -> None:
    plain = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=32).choices[0].message.content
    cut = plain.split()[2]
    stopped = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=32, stop=[cut])
    text = stopped.choices[0].message.content
    assert cut not in text and plain.startswith(text) and stopped.choices[0].finish_reason == "stop"


def test_the_whole_conversation_reaches_the_model(client: Any) -> None:
    alone = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=8)
    earlier = [{"role": "system", "content": "You are terse."},
               {"role": "user", "content": "Remember the number seventeen."},
               {"role": "assistant", "content": "I will remember seventeen."}]  # fmt: skip
    longer = client.chat.completions.create(model=MODEL, messages=earlier + QUESTION, max_tokens=8)
    assert longer.usage.prompt_tokens >= alone.usage.prompt_tokens + 15


def test_budget_per_request_is_enforced(client: Any) -> None:
    response = client.chat.completions.create(model=f"majority-4@{MODEL}", messages=QUESTION, max_tokens=32,
                                              extra_body={"tts": {"budget": 20}})  # fmt: skip
    assert record(response.choices[0])["cost"]["policy"]["generated_tokens"] <= 20


def test_errors_are_the_openai_clients_exception_types(client: Any, guarded: Served) -> None:
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=QUESTION)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=5)
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model=MODEL, messages=QUESTION, extra_body={"tts": {"beam_width": 2}})
    wrong = openai.OpenAI(base_url=guarded.api, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    right = openai.OpenAI(base_url=guarded.api, api_key=KEY, max_retries=0)
    assert right.models.list().data[0].id == MODEL
    with pytest.raises(openai.UnprocessableEntityError, match="sandbox"):
        right.chat.completions.create(model=f"mixed-2@{MODEL}", messages=QUESTION)


# ------------------------------------------------------------------------------ llm


def test_llm_talks_to_the_server(server: Served, tmp_path: Path) -> None:
    llm = shutil.which("llm")
    if llm is None:
        pytest.skip("llm is not installed (pip install -e '.[test]')")
    (tmp_path / "extra-openai-models.yaml").write_text(
        f"- model_id: tts-smol\n  model_name: majority-2@{MODEL}\n  api_base: \"{server.api}\"\n"
    )
    done = subprocess.run([llm, "prompt", "-m", "tts-smol", "-o", "max_tokens", "24", "--no-stream", "What is 2 + 3?"],
                          capture_output=True, text=True, timeout=180, env={**os.environ, "LLM_USER_PATH": str(tmp_path)},
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert "majority n=2" in server.log.read_text()


# --------------------------------------------------------------------- hostile and malformed

BIG = {"model": MODEL, "messages": QUESTION}
HOSTILE: list[tuple[str, Any, int]] = [
    ("not json", b"{bad", 400),
    ("a json array", b"[1, 2]", 400),
    ("empty body", b"", 400),
    ("no messages", {"model": MODEL}, 400),
    ("empty messages", {"model": MODEL, "messages": []}, 400),
    ("messages a string", {"model": MODEL, "messages": "hi"}, 400),
    ("a message not an object", {"model": MODEL, "messages": ["hi"]}, 400),
    ("unknown role", {"model": MODEL, "messages": [{"role": "wizard", "content": "hi"}]}, 400),
    ("tool role", {"model": MODEL, "messages": [{"role": "tool", "content": "hi"}]}, 422),
    ("content a number", {"model": MODEL, "messages": [{"role": "user", "content": 5}]}, 400),
    ("image content", {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}, 422),
    ("last message not the user's", {"model": MODEL, "messages": [*QUESTION, {"role": "assistant", "content": "5"}]}, 400),
    ("NUL in content", {"model": MODEL, "messages": [{"role": "user", "content": "a\u0000b"}]}, 400),
    ("blank question", {"model": MODEL, "messages": [{"role": "user", "content": "   "}]}, 400),
    ("no model", {"messages": QUESTION}, 400),
    ("model a number", {**BIG, "model": 7}, 400),
    ("unknown model", {**BIG, "model": "gpt-4o"}, 404),
    ("unknown strategy in the name", {**BIG, "model": f"wizardry@{MODEL}"}, 404),
    ("unknown strategy in tts", {**BIG, "tts": {"strategy": "wizardry"}}, 404),
    ("n zero", {**BIG, "n": 0}, 400),
    ("n a string", {**BIG, "n": "2"}, 400),
    ("n a boolean", {**BIG, "n": True}, 400),
    ("n over the cap", {**BIG, "n": 1000}, 422),
    ("temperature negative", {**BIG, "temperature": -1}, 400),
    ("temperature a string", {**BIG, "temperature": "hot"}, 400),
    ("top_p zero", {**BIG, "top_p": 0}, 400),
    ("max_tokens zero", {**BIG, "max_tokens": 0}, 400),
    ("max_tokens a float", {**BIG, "max_tokens": 1.5}, 400),
    ("max_tokens over the cap", {**BIG, "max_tokens": 10**9}, 422),
    ("seed a string", {**BIG, "seed": "x"}, 400),
    ("five stop sequences", {**BIG, "stop": ["a", "b", "c", "d", "e"]}, 400),
    ("stream a string", {**BIG, "stream": "yes"}, 400),
    ("tts not an object", {**BIG, "tts": [1]}, 400),
    ("samples over the cap", {**BIG, "tts": {"n": 10**6}}, 422),
    ("samples over the cap by name", {**BIG, "model": f"majority-100000@{MODEL}"}, 422),
    ("an option the strategy lacks", {**BIG, "tts": {"bogus": 1}}, 422),
    ("an option of the wrong type", {**BIG, "tts": {"strategy": "mixed", "with_greedy": "yes"}}, 422),
    ("a strategy that needs a verifier", {**BIG, "tts": {"strategy": "weighted"}}, 422),
    ("too many messages", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}] * 65}, 413),
    ("over the context", {"model": MODEL, "messages": [{"role": "user", "content": "seven " * 6000}]}, 400),
    ("a body over the size cap", ("announce", 2 << 20), 413),
    ("nested too deep for a parser", b'{"model": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400),
    ("not UTF-8", b'{"model": "\xff\xfe", "messages": []}', 400),
    ("completions without a prompt", ("/v1/completions", {"model": MODEL}), 400),
    ("completions with token ids", ("/v1/completions", {"model": MODEL, "prompt": [1, 2, 3]}), 400),
]  # fmt: skip


def send(server: Served, body: Any, path: str = "/v1/chat/completions") -> Reply:
    if isinstance(body, tuple) and body[0] == "announce":
        return announce(server, body[1])
    if isinstance(body, tuple):
        path, body = body
    return http("POST", f"{server.url}{path}", body)


def announce(server: Served, length: int) -> Reply:
    """Headers that announce a body of ``length`` bytes, and no body: the server must refuse it
    from the header alone (sending 2 MiB first races with the server closing the connection)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {length}\r\n\r\n".encode())  # fmt: skip
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _content_length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return Reply(int(head.split()[1]), {}, body.decode())


def _content_length(data: bytes) -> int:
    found = re.search(rb"content-length:\s*(\d+)", data.split(b"\r\n\r\n", 1)[0], re.IGNORECASE)
    return int(found.group(1)) if found else 0


@pytest.mark.parametrize(("name", "body", "status"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_bad_request_gets_an_openai_error(server: Served, name: str, body: Any, status: int) -> None:
    response = send(server, body)
    assert response.status_code == status, response.text[:300]
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"] and "Traceback" not in response.text
    assert set(error) == {"message", "type", "param", "code"}


def test_wrong_methods_and_paths_get_json_errors(server: Served) -> None:
    assert http("GET", f"{server.api}/chat/completions").status_code == 405
    missing = http("GET", f"{server.url}/v2/everything")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_the_server_survives_the_hostile_requests(server: Served) -> None:
    for _, body, _ in HOSTILE:
        try:
            send(server, body)
        except OSError:  # the client's side of a refused request (a reset): only the server matters here
            pass
    assert server.health()["status"] == "ok"
    assert send(server, {**BIG, "max_tokens": 8}).status_code == 200
    assert "Traceback" not in server.log.read_text()


# ----------------------------------------------------------------------------- many clients


def test_32_clients_at_once_each_get_their_own_answer_and_cost(server: Served) -> None:
    served_before = server.health()["served"]

    def ask(i: int) -> tuple[int, dict[str, Any]]:
        body = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": f"What is {i} plus {i}?"}]}
        response = http("POST", f"{server.api}/chat/completions", body, timeout=300)
        assert response.status_code == 200, response.text[:300]
        return i, response.json()

    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(ask, range(32)))
    assert sorted(i for i, _ in answers) == list(range(32))
    ids = set()
    for i, data in answers:
        tts = data["choices"][0]["tts"]
        assert tts["question"] == f"What is {i} plus {i}?"  # its own question, so its own answer
        assert data["usage"]["completion_tokens"] == spent(tts) == tts["candidates"][0]["tokens"]
        ids.add(data["id"])
    assert len(ids) == 32
    health = server.health()
    assert health["served"] == served_before + 32 and health["in_flight"] == 0
    assert health["engine"]["running"] == 0 and health["engine"]["used_cells"] == 0


def test_a_full_server_says_429_with_retry_after(guarded: Served) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    long = {"model": f"majority-4@{MODEL}", "max_tokens": 400, "messages": QUESTION}
    first = threading.Thread(target=lambda: http("POST", f"{guarded.api}/chat/completions", long, headers, 300))
    first.start()
    try:
        deadline = time.monotonic() + 30
        while guarded.health()["in_flight"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        busy = http("POST", f"{guarded.api}/chat/completions", BIG, headers)
        assert busy.status_code == 429 and int(busy.headers["Retry-After"]) >= 1
        assert busy.json()["error"]["type"] == "rate_limit_error"
    finally:
        first.join()


def wait_idle(server: Served, seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        health = server.health()
        if health["in_flight"] == 0 and health["engine"].get("running", 0) == 0 and health["engine"].get("used_cells", 0) == 0:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"still busy after {seconds} s: {server.health()}")


def raw_request(server: Served, body: dict[str, Any]) -> socket.socket:
    data = json.dumps(body).encode()
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(data)}\r\n\r\n".encode() + data)  # fmt: skip
    return sock


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streaming"])
def test_a_client_that_hangs_up_frees_its_sequences_at_once(server: Served, stream: bool) -> None:
    body = {"model": f"majority-8@{MODEL}", "max_tokens": 3000, "temperature": 1.0, "stream": stream,
            "messages": [{"role": "user", "content": "Write a very long story about numbers."}]}  # fmt: skip
    sock = raw_request(server, body)
    deadline = time.monotonic() + 30
    while server.health()["engine"].get("running", 0) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.health()["engine"]["running"] >= 1
    sock.close()
    assert wait_idle(server, 10) < 10  # 8 samples of 3000 tokens would take minutes
    assert send(server, {**BIG, "max_tokens": 8}).status_code == 200


def test_a_server_model_behind_it(smollm2_path: Path, server_url: str, tmp_path: Path) -> None:  # noqa: F811
    """tts serve in front of llama-cpp-python's server (backend = "openai"): the search's samples
    are requests to that server, and the cost says so."""
    models = tmp_path / "models.toml"
    models.write_text(f'[models."smol-server"]\nbackend = "openai"\nbase_url = "{server_url}"\nmodel = "smollm2"\n'
                      'api_key_env = "TTS_TEST_SERVER_KEY"\nparams = 134515008\ncontext = 4096\n')  # fmt: skip
    served = start(smollm2_path, tmp_path / "serve.log", "--models", str(models), model="smol-server",
                   env={"TTS_TEST_SERVER_KEY": LLAMA_SERVER_KEY})  # fmt: skip
    try:
        client = openai.OpenAI(base_url=served.api, api_key="unused", max_retries=0, timeout=120)
        response = client.chat.completions.create(model="majority-2@smol-server", messages=QUESTION, max_tokens=24)
        tts = record(response.choices[0])
        assert tts["strategy"] == "majority" and len(tts["candidates"]) == 2
        assert tts["cost"]["policy"]["source"] == "server" and response.usage.completion_tokens == spent(tts) > 0
    finally:
        assert stop(served) == 0, served.log.read_text()[-2000:]


# ------------------------------------------------------------------------- start and stop


def test_sigterm_drains_the_request_in_flight_and_exits_0(smollm2_path: Path, tmp_path: Path) -> None:
    served = start(smollm2_path, tmp_path / "serve.log")
    result: dict[str, Any] = {}

    def ask() -> None:
        body = {"model": f"majority-2@{MODEL}", "max_tokens": 48, "messages": QUESTION}
        result["response"] = http("POST", f"{served.api}/chat/completions", body, timeout=120)

    asking = threading.Thread(target=ask)
    asking.start()
    deadline = time.monotonic() + 30
    while served.health()["in_flight"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    served.proc.send_signal(signal.SIGTERM)
    asking.join()
    assert served.proc.wait(timeout=60) == 0
    assert result["response"].status_code == 200 and result["response"].json()["choices"][0]["message"]["content"]
    with pytest.raises(OSError):
        served.health()


def test_refuses_to_listen_beyond_loopback_without_a_key_and_a_busy_port(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "tts_cli", "serve", "-p", str(tmp_path / "never-loaded.gguf")]
    done = subprocess.run([*run, "--host", "0.0.0.0"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "--api-key-env" in done.stderr and "Traceback" not in done.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run([*run, "--port", str(port)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_what_a_client_sends_reaches_the_servers_log_inert(server: Served) -> None:
    response = send(server, {**BIG, "model": "x\u001b]0;owned\u0007y"})
    assert response.status_code == 404
    log = server.log.read_text(errors="replace")
    assert "\x1b" not in log and "\x07" not in log and "does not exist" in log
