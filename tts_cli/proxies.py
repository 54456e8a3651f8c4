"""Which HTTP proxy a request goes through, as urllib decides it: ``getproxies()`` (the
``http_proxy``/``https_proxy`` variables, either case; the system settings on macOS and Windows)
and ``proxy_bypass()`` (``no_proxy``). The model store and the inference-server client both ask
here, so they agree. Standard library only: any layer may import it.
"""

from __future__ import annotations

import base64
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Proxy:
    scheme: str
    host: str
    port: int
    authorization: Optional[str] = None  # a Proxy-Authorization value, from user:password@ in its URL

    def describe(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def proxy_for(url: str) -> Optional[Proxy]:
    """The proxy for ``url`` (http or https), or None to connect directly. Raises ValueError for a
    proxy address that cannot be parsed."""
    parts = urllib.parse.urlsplit(url)
    address = urllib.request.getproxies().get(parts.scheme)
    # urllib checks host:port, so that a "host:port" entry of no_proxy matches too
    if not address or urllib.request.proxy_bypass(parts.netloc.rpartition("@")[2]):
        return None
    proxy = urllib.parse.urlsplit(address if "://" in address else f"http://{address}")
    try:
        port = proxy.port or (443 if proxy.scheme == "https" else 80)
    except ValueError:
        raise ValueError(f"invalid proxy address {address!r}") from None
    if not proxy.hostname:
        raise ValueError(f"invalid proxy address {address!r}")
    return Proxy(proxy.scheme, proxy.hostname, port, _basic_authorization(proxy))


def _basic_authorization(proxy: urllib.parse.SplitResult) -> Optional[str]:
    if not (proxy.username and proxy.password):  # as urllib's ProxyHandler: both or nothing
        return None
    pair = f"{urllib.parse.unquote(proxy.username)}:{urllib.parse.unquote(proxy.password)}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
