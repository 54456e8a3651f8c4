"""The Starlette application: routes, authentication, size caps, errors as OpenAI reports them,
searches run on worker threads, streaming, and a client that hangs up stopping its searches.

Every request is answered with JSON (or an SSE stream): a bad one with an OpenAI-style error and
the right status, an unexpected failure with a 500 and one line in the server's log, never a
traceback to the client and never a dead server.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Optional, Protocol, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tts_cli.engine.cancel import CancelToken, cancellable
from tts_cli.errors import TTSError
from tts_cli.safe_text import one_line
from tts_cli.server import responses
from tts_cli.server.errors import ApiError, from_tts_error
from tts_cli.server.gate import Gate
from tts_cli.server.names import model_ids
from tts_cli.server.protocol import Job, Limits, parse_chat, parse_completion
from tts_cli.tree import SearchTree

PROGRESS_SECONDS = 1.0  # a streaming client hears from a running search at least this often
DISCONNECT_POLL_SECONDS = 0.25


class Service(Protocol):
    """The loaded models, as the server uses them (``cli/serving.SessionService``)."""

    policy: str
    strategies: Sequence[str]
    default_strategy: str

    def prepare(self, job: Job) -> Any: ...

    def solve(self, plan: Any, choice: int, tree: Optional[SearchTree] = None) -> Any: ...

    def engine_state(self) -> dict[str, Any]: ...


@dataclass
class ServerSettings:
    limits: Limits = field(default_factory=Limits)
    api_key: Optional[str] = None  # None: no key is asked for (loopback, or an explicit choice)
    parallel: int = 4  # searches at once
    queue: int = 64  # searches waiting beyond those
    log: Callable[[str], None] = lambda line: None


@dataclass
class _Search:
    """One choice's search of one request, running on a worker thread."""

    future: "Future[Any]"
    tree: SearchTree


class Server:
    """The state the routes share: the service, the gate, the worker threads, the searches in flight."""

    def __init__(self, service: Service, settings: ServerSettings) -> None:
        self.service = service
        self.settings = settings
        self.gate = Gate(settings.parallel, settings.queue)
        self.pool = ThreadPoolExecutor(max_workers=settings.parallel, thread_name_prefix="tts-serve")
        self.started = int(time.time())
        self.draining = False
        self.tokens: set[CancelToken] = set()

    def close(self) -> None:
        """Stops what still runs (after the drain): every search cancelled, the workers joined."""
        self.draining = True
        for token in list(self.tokens):
            token.cancel("the server is shutting down")
        self.pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------------ running searches
    def start(self, plans: Sequence[tuple[Any, int]], token: CancelToken) -> list[_Search]:
        """Submits one search per (plan, choice); each gives its gate slot back when its thread ends."""
        searches = []
        for plan, choice in plans:
            tree = SearchTree(plan.job.question)
            started = time.perf_counter()
            future = self.pool.submit(self._run, plan, choice, tree, token)
            future.add_done_callback(self._finished(started))
            searches.append(_Search(future, tree))
        return searches

    def _finished(self, started: float) -> Callable[["Future[Any]"], None]:
        def leave(_: "Future[Any]") -> None:
            self.gate.leave(1, time.perf_counter() - started)

        return leave

    def _run(self, plan: Any, choice: int, tree: SearchTree, token: CancelToken) -> Any:
        with cancellable(token):
            token.check()
            return self.service.solve(plan, choice, tree)


def create_app(service: Service, settings: ServerSettings) -> Starlette:
    server = Server(service, settings)

    async def health(request: Request) -> Response:
        return JSONResponse({
            "status": "draining" if server.draining else "ok",
            "model": service.policy,
            "in_flight": server.gate.in_flight,
            "waiting": server.gate.waiting,
            "capacity": server.gate.capacity,
            "served": server.gate.served,
            "engine": service.engine_state(),
        })  # fmt: skip

    async def models(request: Request) -> Response:
        _authorize(request, settings.api_key)
        data = [{"id": name, "object": "model", "created": server.started, "owned_by": "tts"}
                for name in model_ids(service.policy, service.strategies)]  # fmt: skip
        return JSONResponse({"object": "list", "data": data})

    async def model(request: Request) -> Response:
        _authorize(request, settings.api_key)
        name = request.path_params["name"]
        if name not in model_ids(service.policy, service.strategies):
            raise ApiError(404, f"The model '{name}' does not exist", "model", "model_not_found")
        return JSONResponse({"id": name, "object": "model", "created": server.started, "owned_by": "tts"})

    async def chat(request: Request) -> Response:
        _authorize(request, settings.api_key)
        body = await _read_json(request, settings.limits.max_body_bytes)
        job = parse_chat(body, settings.limits, service.policy, service.strategies)
        return await _answer(request, server, [job], "chat", "chatcmpl")

    async def completions(request: Request) -> Response:
        _authorize(request, settings.api_key)
        body = await _read_json(request, settings.limits.max_body_bytes)
        jobs = parse_completion(body, settings.limits, service.policy, service.strategies)
        return await _answer(request, server, jobs, "completion", "cmpl")

    async def api_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        settings.log(f"{request.method} {request.url.path} {error.status} {one_line(error.message)[:200]}")
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers())

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        status = error.status_code
        message = {404: f"no route {request.url.path}", 405: f"{request.method} is not allowed on {request.url.path}"}
        body = ApiError(status, message.get(status, str(error.detail)), None, "not_found" if status == 404 else None)
        return JSONResponse(body.body(), status_code=status, headers=dict(error.headers or {}))

    async def unexpected(request: Request, error: Exception) -> Response:
        settings.log(f"{request.method} {request.url.path} 500 {type(error).__name__}: {one_line(str(error))[:200]}")
        settings.log(one_line(traceback.format_exc()[-1500:]))
        return JSONResponse(ApiError(500, "internal error; see the server's log", None, "internal_error").body(), status_code=500)

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/models/{name:path}", model, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/completions", completions, methods=["POST"]),
        ],
        exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: unexpected},
    )
    app.state.server = server
    return app


def _authorize(request: Request, api_key: Optional[str]) -> None:
    if api_key is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), api_key.encode()):
        raise ApiError(401, "missing or wrong API key (Authorization: Bearer KEY)", None, "invalid_api_key")


async def _read_json(request: Request, limit: int) -> Any:
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ApiError(400, "bad Content-Length header", None, "invalid_request")
        if int(length) > limit:
            raise ApiError(413, f"the request body is larger than {limit} bytes", None, "request_too_large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, f"the request body is larger than {limit} bytes", None, "request_too_large")
    if not body:
        raise ApiError(400, "the request has no body: send a JSON object", None, "invalid_json")
    try:
        return json.loads(bytes(body))
    except (ValueError, RecursionError) as error:
        raise ApiError(400, f"the body is not valid JSON: {one_line(str(error))[:120]}", None, "invalid_json") from None


async def _answer(request: Request, server: Server, jobs: list[Job], endpoint: str, prefix: str) -> Response:
    if server.draining:
        raise ApiError(503, "the server is shutting down", None, "shutting_down", retry_after=5)
    try:
        plans = [await asyncio.to_thread(server.service.prepare, job) for job in jobs]
    except TTSError as error:
        raise from_tts_error(error) from None
    searches = sum(job.choices for job in jobs)
    if not server.gate.enter(searches):
        raise ApiError(429, f"the server is busy ({server.gate.in_flight} searches in flight); retry later", None,
                       "server_busy", retry_after=server.gate.retry_after())  # fmt: skip
    token = CancelToken()
    server.tokens.add(token)
    try:
        running = server.start([(plan, choice) for plan in plans for choice in range(plan.job.choices)], token)
    except BaseException:
        server.tokens.discard(token)
        server.gate.leave(searches)
        raise
    rid = f"{prefix}-{secrets.token_hex(12)}"
    created = int(time.time())
    job = jobs[0]
    started = time.perf_counter()

    def log(status: int, solutions: Sequence[Any] = ()) -> None:
        tokens = sum(u.generated_tokens for s in solutions for u in (s.cost.policy, s.cost.verifier) if u is not None)
        plan = plans[0]
        samples = "" if plan.deterministic else f" n={plan.config.n}"
        server.settings.log(f"POST {request.url.path} {status} {plan.strategy}{samples} x{searches} "
                            f"{time.perf_counter() - started:.1f}s {tokens} tok")  # fmt: skip

    if job.stream:
        from sse_starlette.sse import EventSourceResponse

        events = _stream(server, running, token, endpoint, rid, created, job, log)
        return EventSourceResponse(events, ping=15)
    try:
        solutions = await _gather(request, running, token)
    except ApiError as error:
        log(error.status)
        raise
    finally:
        server.tokens.discard(token)
    log(200, solutions)
    build = responses.chat_completion if endpoint == "chat" else responses.text_completion
    return JSONResponse(build(rid, created, job.model, solutions, job.stop))


async def _gather(request: Request, running: list[_Search], token: CancelToken) -> list[Any]:
    """The searches' solutions, in order; a client that hangs up meanwhile cancels them."""
    waiting = [asyncio.wrap_future(s.future) for s in running]
    try:
        while True:
            _, pending = await asyncio.wait(waiting, timeout=DISCONNECT_POLL_SECONDS)
            if not pending:
                break
            if await request.is_disconnected():
                token.cancel("the client disconnected")
                raise ApiError(499, "the client disconnected", None, "client_closed")
        return [_result(w) for w in waiting]
    finally:
        if not all(s.future.done() for s in running):
            token.cancel("the request ended")


def _result(waiter: "asyncio.Future[Any]") -> Any:
    error = waiter.exception()
    if error is None:
        return waiter.result()
    if isinstance(error, ApiError):
        raise error
    if isinstance(error, TTSError):
        raise from_tts_error(error)
    raise error


async def _stream(
    server: Server, running: list[_Search], token: CancelToken, endpoint: str, rid: str, created: int, job: Job,
    log: Callable[..., None],
) -> AsyncIterator[Any]:
    """SSE events: a comment each second while the searches run (clients ignore comments), then
    every choice's chunks, the usage chunk if asked for, and ``[DONE]``. A failure after the
    stream began is an ``error`` event, as OpenAI sends it. A client that hangs up cancels the
    generator here, and its searches with it."""
    from sse_starlette.sse import ServerSentEvent

    waiting = [asyncio.wrap_future(s.future) for s in running]
    finished = False
    started = time.monotonic()
    try:
        while True:
            _, pending = await asyncio.wait(waiting, timeout=PROGRESS_SECONDS)
            if not pending:
                break
            steps = sum(len(s.tree.nodes) - 1 for s in running)
            tokens = sum(n.tokens for s in running for n in list(s.tree.nodes))
            yield ServerSentEvent(comment=f"tts: searching for {time.monotonic() - started:.0f} s; "
                                          f"{steps} steps ({tokens} tokens) finished")  # fmt: skip
        try:
            solutions = [_result(w) for w in waiting]
        except ApiError as error:
            log(error.status)
            finished = True
            yield ServerSentEvent(data=json.dumps(error.body()))
            return
        except Exception as error:  # noqa: BLE001 - reported to the client and the log, never a dead stream
            server.settings.log(f"stream {rid}: {type(error).__name__}: {one_line(str(error))[:200]}")
            finished = True
            yield ServerSentEvent(data=json.dumps(ApiError(500, "internal error; see the server's log").body()))
            return
        for index, solution in enumerate(solutions):
            for chunk in responses.chunks(endpoint, rid, created, job.model, index, solution, job.stop):
                yield ServerSentEvent(data=json.dumps(chunk, ensure_ascii=False))
        if job.include_usage:
            yield ServerSentEvent(data=json.dumps(responses.usage_chunk(endpoint, rid, created, job.model, solutions)))
        finished = True
        log(200, solutions)
        yield ServerSentEvent(data="[DONE]")
    finally:
        if not finished:
            token.cancel("the client disconnected")
        server.tokens.discard(token)
