"""What every request meets first: who the client really is, the Host and Origin checks, the security headers.

``WebGuard`` is the outermost middleware of ``rag serve``. In order, for each request:

1. **Client address.** Only a peer listed in ``--trusted-proxy`` may name the client: then the last
   ``X-Forwarded-For`` entry (the one that proxy added) becomes the client address and ``X-Forwarded-Proto``
   the scheme. From anyone else both headers are ignored, so a client cannot pick the address the sign-in
   throttle and the audit log see.
2. **Host.** ``localhost``, IP addresses, the name ``--host`` binds to and ``--allowed-host`` names are
   answered; any other name gets 400. A page on a domain its owner points at 127.0.0.1 (DNS rebinding)
   sends that domain as its Host, never an IP address, so addresses are safe to answer (and are how a
   server bound to 0.0.0.0 is reached without a name).
3. **Origin.** A request that can change something (any method but GET/HEAD/OPTIONS, and every WebSocket)
   must come from this server's own pages: an ``Origin`` of another site, port or ``null`` gets 403, and so
   does a browser's ``Sec-Fetch-Site: cross-site``/``same-site`` without one. Sign-in and sign-out included
   (login CSRF). Clients that are not browsers send neither header and are judged by their credentials.
4. **Headers on every response:** a Content-Security-Policy that lets the page load only from this server
   (images: itself, ``data:`` and ``blob:``, so nothing in an answer can make the browser fetch a remote
   URL), ``X-Frame-Options: DENY``, ``nosniff``, ``Referrer-Policy``; and no ``server`` header.

A ``StateUnavailable`` raised under it (a corrupt users file, a locked database) becomes a 503 JSON answer.
Cross-origin reads are closed separately: ``create_app`` installs Starlette's CORS middleware with no allowed
origin, which also stops Gradio from adding its own (that one answered any localhost origin, with cookies).
"""

from __future__ import annotations

import ipaddress
import json
import logging
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.db import StateUnavailable
from server.options import ServeOptions

__all__ = ["CONTENT_SECURITY_POLICY", "WebGuard", "host_name"]

logger = logging.getLogger("rag.server")

# Gradio's page needs inline scripts and styles (its config and Svelte's style attributes), and Gradio 6's
# HTML component renders its template through Function() ('unsafe-eval': without it every gr.HTML shows
# "Error rendering HTML"). None of that can load anything: every source is this server's own.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "media-src 'self' data: blob:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def host_name(value: str) -> str:
    """The host of a ``Host`` header or URL authority, lower case, without port or IPv6 brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class WebGuard:
    """ASGI middleware: client address from trusted proxies only, Host and Origin checks, security headers."""

    def __init__(self, app: ASGIApp, options: ServeOptions) -> None:
        self.app = app
        self.proxies = [ipaddress.ip_network(p) for p in options.trusted_proxies]
        self.named_hosts = tuple(options.allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then pass it on with the response's headers added."""
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        self._take_forwarded(scope)
        headers = Headers(scope=scope)
        refusal = self._host_refusal(headers) or self._origin_refusal(scope, headers)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                response_headers = MutableHeaders(scope=message)
                if "server" in response_headers:
                    del response_headers["server"]
                for name, value in SECURITY_HEADERS.items():
                    response_headers.setdefault(name, value)
            await send(message)

        if refusal is not None:
            status, message = refusal
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _send_json(send_with_headers, status, {"error": message})
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except StateUnavailable as exc:
            if started or scope["type"] != "http":
                raise
            logger.error("%s", exc)
            retry = {"retry-after": str(exc.retry_after_s)} if exc.retry_after_s else {}
            await _send_json(send_with_headers, 503, {"error": str(exc)}, retry)

    def _take_forwarded(self, scope: Scope) -> None:
        """From a trusted proxy, the client address and scheme it passes on replace the peer's."""
        client = scope.get("client")
        if not self.proxies or not client:
            return
        try:
            peer = ipaddress.ip_address(client[0])
        except ValueError:
            return
        if not any(peer in network for network in self.proxies):
            return
        headers = Headers(scope=scope)
        # The proxy appends the address it saw; anything to its left came from the client and proves nothing.
        forwarded = [part.strip() for part in ",".join(headers.getlist("x-forwarded-for")).split(",") if part.strip()]
        if forwarded and _is_ip(forwarded[-1].strip("[]")):
            scope["client"] = (forwarded[-1].strip("[]"), 0)
        proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
        if proto in {"http", "https"}:
            secure = proto == "https"
            scope["scheme"] = ("wss" if secure else "ws") if scope["type"] == "websocket" else proto

    def allows_host(self, host: str) -> bool:
        """Whether a request for ``host`` (a name or address, no port) is answered."""
        return not host or _is_ip(host) or host == "localhost" or self._named(host)

    def _host_refusal(self, headers: Headers) -> tuple[int, str] | None:
        value = headers.get("host")
        if value is None:  # HTTP/1.0 (HAProxy's health checks): no name to be fooled by
            return None
        host = host_name(value)
        if self.allows_host(host):
            return None
        logger.warning("refused a request for host %r (not an allowed host)", host)
        return 400, (
            f"this server does not answer to the host name {host!r}; if it is this server's name, start it with "
            f"--allowed-host {host} (or RAG_ALLOWED_HOSTS)"
        )

    def _origin_refusal(self, scope: Scope, headers: Headers) -> tuple[int, str] | None:
        if scope["type"] == "http" and scope["method"] in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is None:
            site = headers.get("sec-fetch-site", "").lower()
            if site in {"cross-site", "same-site"}:
                return 403, f"cross-origin request refused: a {site} request with no origin header"
            return None
        if origin != "null":
            parts = urlsplit(origin)
            own = headers.get("host", "").lower()
            if parts.netloc.lower() == own or (parts.hostname and self._named(parts.hostname.lower())):
                return None
        logger.warning("refused a %s %s from origin %r", scope.get("method", "WebSocket"), scope["path"], origin)
        return 403, f"cross-origin request refused: origin {origin!r} is not this server's"

    def _named(self, host: str) -> bool:
        """An explicitly allowed name (a proxy may rewrite Host, but the page's origin is the public name)."""
        return any(host == a or (a.startswith("*.") and host.endswith(a[1:])) for a in self.named_hosts)


async def _send_json(send: Send, status: int, body: dict[str, str], headers: dict[str, str] | None = None) -> None:
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})
