"""A small JSON-over-HTTP client for inference servers: keep-alive, timeouts, retries with backoff.

Standard library only. Each thread keeps its own persistent connection (``http.client`` connections
are not thread-safe). Failures that may pass — HTTP 408/429/5xx, refused or reset connections —
are retried with exponential backoff (``Retry-After`` honoured, both capped); a request that gets
no answer within the timeout is not retried (the server is busy with it, sending it again only
adds load). ``abort()`` shuts every open socket, so threads blocked in a request return at once
(Ctrl-C must not wait for a long generation to finish). A proxy is used as urllib would use it
(``http_proxy``/``https_proxy``/``no_proxy``, see ``tts_cli.proxies``): plain HTTP is sent to it with
absolute URLs, HTTPS goes through a CONNECT tunnel.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import random
import socket
import ssl
import threading
import time
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from tts_cli.errors import ContextOverflowError, ServerError
from tts_cli.proxies import Proxy, proxy_for

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_CONTEXT_WORDS = ("context length", "context window", "context size", "maximum context", "too long")


class Aborted(ServerError):
    """The client was closed while a request was in flight."""


class Refused(ServerError):
    """The server answered with an error status that retrying cannot fix."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class HTTPClient:
    def __init__(
        self,
        base_url: str,
        *,
        name: str,
        api_key: Optional[str] = None,
        timeout: float = 600.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        sleep: Optional[Callable[[float], None]] = None,
    ) -> None:
        parts = urlsplit(base_url)
        self.base_url = base_url.rstrip("/")
        self.name = name
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = parts.path.rstrip("/")
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._proxy = _proxy(base_url, name)
        if self._proxy is not None and not self._https:  # absolute URLs; HTTPS tunnels instead
            self._path = f"http://{parts.netloc.rpartition('@')[2]}{self._path}"
            if self._proxy.authorization:
                self._headers["Proxy-Authorization"] = self._proxy.authorization
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._closed = threading.Event()
        self._sleep = sleep or self._closed.wait  # a wait that close() cuts short
        self._local = threading.local()
        self._open: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public
    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", path, json.dumps(body).encode("utf-8"))

    def get(self, path: str) -> dict[str, Any]:
        return self._request("GET", path, None)

    def abort(self) -> None:
        """Fail every request in flight now and every later one; idempotent."""
        with self._lock:
            self._closed.set()
            connections = list(self._open)
            self._open.clear()
        for conn in connections:
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            conn.close()

    # ---------------------------------------------------------------- internals
    def _request(self, method: str, path: str, data: Optional[bytes]) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        last_error = ""
        attempt = 0
        while True:
            if self._closed.is_set():
                raise Aborted(f"{self.name}: request to {url} cancelled")
            conn, reused = self._connection()
            try:
                conn.request(method, self._path + path, body=data, headers=self._headers)
                response = conn.getresponse()
                payload = response.read()
            except (socket.timeout, TimeoutError):
                self._discard(conn)
                raise ServerError(f"{self.name}: no answer from {url} within {self.timeout:g} s (raise `timeout` in models.toml)") from None
            except (OSError, http.client.HTTPException) as exc:
                self._discard(conn)
                if self._closed.is_set():
                    raise Aborted(f"{self.name}: request to {url} cancelled") from None
                if reused and isinstance(exc, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
                    continue  # the server closed an idle keep-alive connection: retry at once
                last_error = _describe_os_error(exc)
                delay = None
            else:
                if response.getheader("Connection", "").lower() == "close":
                    self._discard(conn)
                status = response.status
                if 200 <= status < 300:
                    return self._decode(url, payload)
                message = _error_message(payload)
                if status not in RETRY_STATUSES:
                    raise self._refusal(url, status, message)
                last_error = f"HTTP {status}" + (f": {message}" if message else "")
                delay = _retry_after(response.getheader("Retry-After"))
            if attempt >= self.max_retries:
                break
            if delay is None:
                delay = self.backoff * (2**attempt) * random.uniform(0.75, 1.0)
            self._sleep(min(max(delay, 0.0), self.max_backoff))
            attempt += 1
        tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
        if "refused" in last_error or "resolve" in last_error or "unreachable" in last_error:
            via = f" through the proxy {self._proxy.describe()}" if self._proxy is not None else ""
            raise ServerError(f"{self.name}: cannot reach the server at {self.base_url}{via}: {last_error} ({tries})")
        raise ServerError(f"{self.name}: {method} {url} failed after {tries}: {last_error}")

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        conn = self._new_connection()
        self._local.conn = conn
        with self._lock:
            if self._closed.is_set():  # abort() ran after the caller's check: do not start a request
                self._local.conn = None
                raise Aborted(f"{self.name}: request to {self.base_url} cancelled")
            self._open.add(conn)
        return conn, False

    def _new_connection(self) -> http.client.HTTPConnection:
        proxy = self._proxy
        host, port = (proxy.host, proxy.port) if proxy is not None else (self._host, self._port)
        if not self._https:
            return http.client.HTTPConnection(host, port, timeout=self.timeout)
        conn = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=ssl.create_default_context())
        if proxy is not None:
            tunnel_headers = {"Proxy-Authorization": proxy.authorization} if proxy.authorization else None
            conn.set_tunnel(self._host, self._port, headers=tunnel_headers)
        return conn

    def _discard(self, conn: http.client.HTTPConnection) -> None:
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        with self._lock:
            self._open.discard(conn)
        conn.close()

    def _decode(self, url: str, payload: bytes) -> dict[str, Any]:
        try:
            data = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ServerError(f"{self.name}: {url} did not answer with JSON (is base_url the API root, e.g. …/v1?)") from None
        if not isinstance(data, dict):
            raise ServerError(f"{self.name}: {url} answered with a JSON {type(data).__name__}, not an object")
        return data

    def _refusal(self, url: str, status: int, message: str) -> Exception:
        detail = f"HTTP {status}" + (f": {message}" if message else "")
        if status == 400 and any(word in message.lower() for word in _CONTEXT_WORDS):
            return ContextOverflowError(f"{self.name}: the server rejected the prompt: {message}")
        if status in (401, 403):
            return Refused(f"{self.name}: the server refused the API key ({detail}); check api_key_env in models.toml", status)
        if status == 404:
            return Refused(f"{self.name}: {url} not found ({detail}); check base_url (usually ends in /v1) and model", status)
        return Refused(f"{self.name}: the server rejected the request to {url} ({detail})", status)


def _proxy(base_url: str, name: str) -> Optional[Proxy]:
    try:
        proxy = proxy_for(base_url)
    except ValueError as exc:
        raise ServerError(f"{name}: {exc} (from http_proxy/https_proxy)") from None
    if proxy is not None and proxy.scheme != "http":
        raise ServerError(f"{name}: proxy {proxy.describe()} for {base_url}: only http:// proxies are supported")
    return proxy


def _retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_message(payload: bytes) -> str:
    """The first line of an error body: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or text."""
    text = payload.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            found = error.get("message") or error.get("detail") or data.get("detail")
        else:
            found = error
        if found is not None:
            text = found if isinstance(found, str) else json.dumps(found)
    first = text.splitlines()[0].strip() if text else ""
    return first if len(first) <= 300 else first[:297] + "..."


def _describe_os_error(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "cannot resolve the host name"
    if isinstance(exc, (ConnectionResetError, http.client.RemoteDisconnected)):
        return "connection reset by the server"
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror.lower()
        return "host unreachable" if "unreachable" in text else text
    return str(exc) or type(exc).__name__
