"""The server application on a scripted engine, served by uvicorn in a thread of this process:
what a real model cannot be made to do on cue (fail inside a search, stall until cancelled), the
drain's 503, and the API key."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Iterator, Optional

import pytest
from fakes import ScriptedEngine

from tts_cli.engine.cancel import Cancelled, check_cancelled
from tts_cli.errors import ServerError

uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("sse_starlette")

QUESTION = {"model": "scripted", "messages": [{"role": "user", "content": "What is 2 + 3?"}], "max_tokens": 32}


class Running:
    def __init__(self, url: str, app: Any, state: dict[str, Any], log: list[str]) -> None:
        self.url, self.app, self.state, self.log = url, app, state, log

    def post(self, body: Any, headers: Optional[dict[str, str]] = None, path: str = "/v1/chat/completions") -> tuple[int, Any, str]:
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", **(headers or {})})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode()

    def get(self, path: str, headers: Optional[dict[str, str]] = None) -> tuple[int, str]:
        request = urllib.request.Request(f"{self.url}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


def serve(api_key: Optional[str] = None) -> Iterator[Running]:
    from tts_cli.cli.options import SearchSettings
    from tts_cli.cli.runtime import Session
    from tts_cli.cli.serving import SessionService
    from tts_cli.prompts import prompt_set
    from tts_cli.server.app import ServerSettings, create_app
    from tts_cli.strategies import SearchConfig

    state: dict[str, Any] = {"reply": lambda: "5 in all.\n\n\\boxed{5}", "events": []}

    def script(text: str, params: Any, index: int) -> str:
        return str(state["reply"]())

    class NoLoader:
        def load_verifier(self, ref: Any, kind: Any) -> None:
            return None

        def close(self) -> None:
            pass

    session = Session(config=SearchConfig(), strategy="greedy", policy=ScriptedEngine(script), verifier=None,
                      prompts=prompt_set("math"), loader=NoLoader())  # type: ignore[arg-type]  # fmt: skip
    log: list[str] = []
    app = create_app(SessionService(session, SearchSettings(max_tokens=64)),
                     ServerSettings(api_key=api_key, parallel=2, queue=2, log=log.append))  # fmt: skip
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield Running(f"http://127.0.0.1:{sock.getsockname()[1]}", app, state, log)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.server.close()
        sock.close()


@pytest.fixture
def running() -> Iterator[Running]:
    yield from serve()


def test_an_answer_from_the_scripted_engine(running: Running) -> None:
    status, _, text = running.post(QUESTION)
    data = json.loads(text)
    assert status == 200 and data["choices"][0]["tts"]["answer"] == "5"
    assert data["choices"][0]["message"]["content"] == "5 in all.\n\n\\boxed{5}"


def test_a_failure_inside_a_search_is_a_500_and_the_server_goes_on(running: Running) -> None:
    def boom() -> str:
        raise RuntimeError("boom inside the search")

    running.state["reply"] = boom
    status, _, text = running.post(QUESTION)
    assert status == 500 and json.loads(text)["error"]["code"] == "internal_error" and "boom" not in text
    assert any("RuntimeError" in line for line in running.log)
    running.state["reply"] = lambda: "\\boxed{7}"
    status, _, text = running.post(QUESTION)
    assert status == 200 and json.loads(text)["choices"][0]["tts"]["answer"] == "7"


def test_a_failure_after_the_stream_began_is_an_error_event(running: Running) -> None:
    def upstream() -> str:
        time.sleep(1.5)  # long enough for a progress comment first
        raise ServerError("the upstream server went away")

    running.state["reply"] = upstream
    status, _, text = running.post({**QUESTION, "stream": True})
    assert status == 200  # the headers went out before the search failed
    assert text.startswith(": tts: searching")
    events = [line[len("data: "):] for line in text.splitlines() if line.startswith("data: ")]
    assert len(events) == 1 and json.loads(events[0])["error"]["message"] == "the upstream server went away"
    assert "[DONE]" not in text


def test_draining_answers_503_with_retry_after(running: Running) -> None:
    running.app.state.server.draining = True
    status, headers, text = running.post(QUESTION)
    assert status == 503 and int(headers["Retry-After"]) > 0 and json.loads(text)["error"]["code"] == "shutting_down"
    assert json.loads(running.get("/health")[1])["status"] == "draining"


def stalling(state: dict[str, Any]) -> Callable[[], str]:
    """A search that runs until it is cancelled (checked as the engine's scheduler would)."""

    def reply() -> str:
        state["events"].append("started")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                check_cancelled()
            except Cancelled:
                state["events"].append("cancelled")
                raise
            time.sleep(0.02)
        state["events"].append("ran out")
        return "\\boxed{1}"

    return reply


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streaming"])
def test_a_client_that_hangs_up_cancels_its_search(running: Running, stream: bool) -> None:
    running.state["reply"] = stalling(running.state)
    data = json.dumps({**QUESTION, "stream": stream}).encode()
    sock = socket.create_connection(("127.0.0.1", int(running.url.rsplit(":", 1)[1])))
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(data)}\r\n\r\n".encode() + data)  # fmt: skip
    deadline = time.monotonic() + 10
    while "started" not in running.state["events"] and time.monotonic() < deadline:
        time.sleep(0.01)
    sock.close()
    deadline = time.monotonic() + 5
    while "cancelled" not in running.state["events"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert running.state["events"][-1] == "cancelled"
    health = json.loads(running.get("/health")[1])
    deadline = time.monotonic() + 5
    while health["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
        health = json.loads(running.get("/health")[1])
    assert health["in_flight"] == 0


def test_the_api_key() -> None:
    for running in serve(api_key="sesame"):
        assert running.get("/v1/models")[0] == 401
        assert running.get("/v1/models", {"Authorization": "Bearer wrong"})[0] == 401
        assert running.get("/v1/models", {"Authorization": "Basic sesame"})[0] == 401
        assert running.get("/v1/models", {"Authorization": "Bearer sesame"})[0] == 200
        assert running.post(QUESTION)[0] == 401
        assert running.post(QUESTION, {"Authorization": "Bearer sesame"})[0] == 200
        assert running.get("/health")[0] == 200  # for load balancers: no key, no secrets in it
