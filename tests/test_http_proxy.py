"""The inference-server client honours http_proxy/https_proxy/no_proxy as urllib (and the model
store) do, checked against a proxy stub on 127.0.0.1 that records what it is asked and answers
itself."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
from stub_server import StubServer

from tts_cli.engine.http import HTTPClient
from tts_cli.errors import DownloadError, ServerError
from tts_cli.store.sources import _endpoint

PROXY_VARIABLES = ("http_proxy", "https_proxy", "no_proxy", "all_proxy", "REQUEST_METHOD")


class ProxyStub:
    """Records (method, target, headers) of every request; answers GET/POST with {"via": "proxy"}
    and refuses CONNECT (no tunnel is needed to see that one was asked for)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(200, {"via": "proxy"})

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer(200, {"via": "proxy"})

            def do_CONNECT(self) -> None:
                self._answer(403, {})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                stub.requests.append((self.command, self.path, dict(self.headers)))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProxyStub]:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    stub = ProxyStub()
    try:
        yield stub
    finally:
        stub.close()


def client(url: str) -> HTTPClient:
    return HTTPClient(url, name="srv", max_retries=0, timeout=10)


def test_plain_http_goes_to_the_proxy_with_the_absolute_url(proxy: ProxyStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://me:s%40cret@{proxy.address}")
    assert client("http://models.example:8000/v1").post("/completions", {"prompt": "x"}) == {"via": "proxy"}
    [(method, target, headers)] = proxy.requests
    assert (method, target) == ("POST", "http://models.example:8000/v1/completions")
    assert headers["Host"] == "models.example:8000"
    assert headers["Proxy-Authorization"] == "Basic " + base64.b64encode(b"me:s@cret").decode()


def test_no_proxy_keeps_a_loopback_server_direct(proxy: ProxyStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", f"http://{proxy.address}")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    with StubServer() as server:
        assert client(server.url).get("/models")["data"][0]["id"] == "stub"
        assert len(server.requests) == 1
    assert proxy.requests == []


def test_without_no_proxy_even_loopback_is_proxied_as_urllib_does(proxy: ProxyStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", f"http://{proxy.address}")
    assert client("http://127.0.0.1:9/v1").get("/models") == {"via": "proxy"}
    assert [(m, t) for m, t, _ in proxy.requests] == [("GET", "http://127.0.0.1:9/v1/models")]


def test_https_asks_the_proxy_for_a_tunnel(proxy: ProxyStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://me:pw@{proxy.address}")
    with pytest.raises(ServerError, match=r"srv: GET https://api\.example/v1/models failed .*Tunnel connection failed: 403"):
        client("https://api.example/v1").get("/models")
    [(method, target, headers)] = proxy.requests
    assert (method, target) == ("CONNECT", "api.example:443")
    assert headers["Proxy-Authorization"] == "Basic " + base64.b64encode(b"me:pw").decode()


def test_an_unreachable_proxy_is_named(proxy: ProxyStub, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy.close()
    monkeypatch.setenv("http_proxy", f"http://{proxy.address}")
    with pytest.raises(ServerError, match=f"cannot reach the server at http://models.example/v1 through the proxy http://{proxy.address}: connection refused"):
        client("http://models.example/v1").get("/models")


@pytest.mark.parametrize(
    ("address", "words"),
    [("socks5://127.0.0.1:1080", "only http:// proxies are supported"), ("http://proxy:port", "invalid proxy address")],
)
def test_proxies_it_cannot_use_are_one_line_errors(proxy: ProxyStub, monkeypatch: pytest.MonkeyPatch, address: str, words: str) -> None:
    monkeypatch.setenv("http_proxy", address)
    with pytest.raises(ServerError, match=words):
        client("http://models.example/v1")


def test_the_model_store_asks_the_same_question(proxy: ProxyStub, monkeypatch: pytest.MonkeyPatch) -> None:
    from urllib.parse import urlsplit

    monkeypatch.setenv("https_proxy", f"http://{proxy.address}")
    monkeypatch.setenv("no_proxy", "mirror.local")
    host, port = proxy.address.split(":")
    assert _endpoint(urlsplit("https://huggingface.co/x/resolve/main/m.gguf")) == (host, int(port))
    assert _endpoint(urlsplit("https://mirror.local:8443/m.gguf")) == ("mirror.local", 8443)
    monkeypatch.setenv("https_proxy", "http://proxy:port")
    with pytest.raises(DownloadError, match="invalid proxy address"):
        _endpoint(urlsplit("https://huggingface.co/m.gguf"))
