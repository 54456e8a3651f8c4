"""`tts serve`: the search behind an OpenAI-compatible endpoint (``tts_cli/server``)."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import math
import os
import signal
import socket
from typing import Annotated, Any, Callable, Iterator, Optional

import typer

from tts_cli.cli.options import SearchSettings, with_search_options
from tts_cli.errors import UsageError

_SERVER = "Server"


def serve(
    invocation: typer.Context,
    settings: SearchSettings,
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback needs --api-key-env (or --no-api-key).", rich_help_panel=_SERVER)] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free one; the address is printed on stderr).", rich_help_panel=_SERVER)] = 8000,
    api_key_env: Annotated[Optional[str], typer.Option("--api-key-env", metavar="VAR", help="Require 'Authorization: Bearer KEY', KEY read from this environment variable.", rich_help_panel=_SERVER)] = None,
    no_api_key: Annotated[bool, typer.Option("--no-api-key", help="Listen on a non-loopback address without any key: anyone who reaches it may use it.", rich_help_panel=_SERVER)] = False,
    parallel: Annotated[Optional[int], typer.Option(help="Searches run at once, their samples in one decode batch (default: as many as --ctx holds at -n samples of --max-tokens, at most 16; 4 for a server model).", show_default=False, rich_help_panel=_SERVER)] = None,
    queue: Annotated[int, typer.Option(help="Searches that may wait beyond those; more get 429 with Retry-After.", rich_help_panel=_SERVER)] = 64,
    max_choices: Annotated[int, typer.Option(help="Largest 'n' (choices) a request may ask for.", rich_help_panel=_SERVER)] = 4,
    max_samples: Annotated[int, typer.Option(help="Largest number of search samples a request may ask for.", rich_help_panel=_SERVER)] = 64,
    max_request_tokens: Annotated[int, typer.Option(help="Largest max_tokens a request may ask for (per sample).", rich_help_panel=_SERVER)] = 4096,
    max_messages: Annotated[int, typer.Option(help="Longest conversation, in messages.", rich_help_panel=_SERVER)] = 64,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body.", rich_help_panel=_SERVER)] = 1 << 20,
    drain_seconds: Annotated[float, typer.Option(help="On SIGINT/SIGTERM: how long requests in flight may finish before they are cancelled.", rich_help_panel=_SERVER)] = 30.0,
) -> None:
    """Serve test-time scaling on an OpenAI-compatible API: POST /v1/chat/completions and
    /v1/completions, GET /v1/models and /health. The search options below are the defaults; a
    request picks its strategy by model name (majority-8@MODEL) or by "tts": {"strategy": ..., "n": ...}."""
    from tts_cli.cli.runtime import check_settings, default_local_workers, open_session, samples_per_problem
    from tts_cli.cli.serving import SessionService
    from tts_cli.env import Environment
    from tts_cli.server.protocol import Limits

    env = invocation.ensure_object(Environment)
    _require_server_packages()
    for name, value in (("--queue", queue), ("--max-choices", max_choices), ("--max-samples", max_samples),
                        ("--max-request-tokens", max_request_tokens), ("--max-messages", max_messages),
                        ("--max-body-bytes", max_body_bytes)):  # fmt: skip
        if value < (0 if name == "--queue" else 1):
            raise UsageError(f"{name} must be at least {0 if name == '--queue' else 1} (got {value})")
    if parallel is not None and parallel < 1:
        raise UsageError(f"--parallel must be at least 1 (got {parallel})")
    if not drain_seconds >= 0:
        raise UsageError(f"--drain-seconds must be at least 0 (got {drain_seconds})")
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535 (got {port})")
    api_key = _api_key(host, api_key_env, no_api_key)
    config = check_settings(settings)
    listener = _listen(host, port)
    session = None
    try:
        session = open_session(env, settings, config, concurrent=True)
        if parallel is None:
            local = hasattr(session.policy, "enable_batching")
            samples = samples_per_problem(settings.strategy, config)
            parallel = default_local_workers(settings.ctx, samples, config.max_tokens) if local else 4
        service = SessionService(session, settings)
        limits = Limits(max_body_bytes=max_body_bytes, max_choices=max_choices, max_samples=max_samples,
                        max_tokens=max(max_request_tokens, config.max_tokens), max_messages=max_messages)  # fmt: skip
        _run(env, service, listener, limits, api_key, parallel, queue, drain_seconds)
    finally:
        listener.close()
        if session is not None:
            session.close()


def _require_server_packages() -> None:
    import importlib.util

    missing = [name for name in ("starlette", "uvicorn", "sse_starlette") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"tts serve needs {', '.join(missing)}: pip install 'tts-cli[serve]'")


def _api_key(host: str, variable: Optional[str], none: bool) -> Optional[str]:
    if variable is not None:
        if none:
            raise UsageError("--api-key-env and --no-api-key contradict each other")
        key = os.environ.get(variable, "")
        if not key.strip():
            raise UsageError(f"--api-key-env {variable}: that environment variable is empty or not set")
        return key.strip()
    if not _is_loopback(host) and not none:
        raise UsageError(
            f"listening on {host} lets other machines in: pass --api-key-env VAR (clients then send the key), "
            "or --no-api-key to serve without one"
        )
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before any model is loaded: a busy port fails in a second."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise UsageError(f"--host {host}: {error.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    sock.set_inheritable(True)
    return sock


def _run(env: Any, service: Any, listener: socket.socket, limits: Any, api_key: Optional[str], parallel: int,
         queue: int, drain_seconds: float) -> None:  # fmt: skip
    import asyncio

    import uvicorn

    from tts_cli.safe_text import one_line
    from tts_cli.server.app import ServerSettings, create_app

    def log(line: str) -> None:  # a line may hold what a client sent (a path, a message): made inert here
        env.stderr.write(f"tts: {one_line(line)}\n")
        env.stderr.flush()

    app = create_app(service, ServerSettings(limits=limits, api_key=api_key, parallel=parallel, queue=queue, log=log))
    server = _draining_server_class()(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                            timeout_graceful_shutdown=math.ceil(drain_seconds)))  # fmt: skip
    server.on_signal = lambda: setattr(app.state.server, "draining", True)
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    log(f"serving {service.policy} ({service.default_strategy}) on http://{shown}:{port}/v1 · {parallel} searches at once"
        f"{' · API key required' if api_key else ''} · Ctrl-C stops")  # fmt: skip
    try:
        asyncio.run(server.serve(sockets=[listener]))
    finally:
        app.state.server.close()
    log(f"stopped; {app.state.server.gate.served} searches served")


@functools.cache
def _draining_server_class() -> Any:
    """uvicorn's server, with SIGINT/SIGTERM starting a drain (a second one forces the exit) instead
    of its own handlers, which re-raise the signal once it has stopped (a SIGTERM would then kill
    the process instead of letting it exit 0)."""
    import uvicorn

    class DrainingServer(uvicorn.Server):
        on_signal: Optional[Callable[[], None]] = None

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            def handle(signum: int, frame: Any) -> None:
                if self.should_exit:
                    self.force_exit = True
                self.should_exit = True
                if self.on_signal is not None:
                    self.on_signal()

            previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return DrainingServer


def register(app: typer.Typer) -> None:
    app.command("serve")(with_search_options(serve))
