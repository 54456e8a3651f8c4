"""An in-process HTTP server on 127.0.0.1 that plays an OpenAI-compatible inference server badly on
purpose (rate limits, outages, no log-probabilities, ignored ``n``, slow answers): the behaviour a
real server cannot be made to show on demand."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Behaviour = Callable[[str, dict[str, Any], int], Reply]  # (path, request body, request number) -> Reply


def completion(texts: list[str], *, prompt_tokens: int = 10, completion_tokens: Optional[int] = None, **choice: Any) -> dict[str, Any]:
    """A /v1/completions answer with one choice per text (each ``len(text)`` tokens unless given)."""
    return {
        "object": "text_completion",
        "choices": [{"text": t, "index": i, "finish_reason": "stop", "logprobs": None, **choice} for i, t in enumerate(texts)],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens if completion_tokens is not None else sum(len(t) for t in texts),
        },
    }


def default_behaviour(path: str, body: dict[str, Any], number: int) -> Reply:
    """A well-behaved server that honours ``n`` and returns log-probabilities."""
    if path.endswith("/models"):
        return Reply(body={"object": "list", "data": [{"id": "stub", "max_model_len": 2048}]})
    n = int(body.get("n", 1))
    if body.get("logprobs"):
        data = completion([" Yes"])
        data["choices"][0]["logprobs"] = {"tokens": [" Yes"], "top_logprobs": [{" Yes": -0.2, " No": -1.8}]}
        return Reply(body=data)
    return Reply(body=completion(["Step one.\n\nThe answer is $\\boxed{4}$."] * n))


class StubServer:
    def __init__(self, behaviour: Behaviour = default_behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []  # (path, body, headers)
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer({})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._answer(json.loads(self.rfile.read(length) or b"{}"))

            def _answer(self, body: dict[str, Any]) -> None:
                with stub._lock:
                    number = len(stub.requests)
                    stub.requests.append((self.path, body, dict(self.headers)))
                reply = stub.behaviour(self.path, body, number)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = json.dumps(reply.body if reply.body is not None else {}).encode()
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (an aborted request)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "StubServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def posts(self, suffix: str = "/completions") -> list[dict[str, Any]]:
        with self._lock:
            return [body for path, body, _ in self.requests if path.endswith(suffix)]
