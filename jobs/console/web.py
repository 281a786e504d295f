"""The console's outer layer, around every request: the path prefix, cross-site refusal, security headers.

- **Prefix**: behind a reverse proxy the console may live under a path (``/stalwart``): given by
  ``--root-path``, or per request by ``X-Forwarded-Prefix``. It becomes the ASGI ``root_path``, and every
  link is built from it. A prefix is only letters, digits and ``. _ ~ -`` between slashes, so a header
  cannot turn a link into another site's address.
- **Cross-site requests**: a POST that a browser says comes from another site (``Sec-Fetch-Site``),
  or whose ``Origin`` is not this console's host (or is ``null`` without a ``Sec-Fetch-Site`` saying
  same-origin), is refused (403) before any handler runs. Scripts send neither header. Forms also
  carry a per-session CSRF token (checked by the handlers).
- **Host**: without tokens the console answers only requests addressed to a loopback name, so a web
  page cannot reach it by pointing its own domain name at 127.0.0.1 (DNS rebinding).
- **Headers**: a strict Content-Security-Policy (no script at all, styles from the console's own file),
  ``nosniff``, no referrer, no framing, and no caching of pages that show entries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from ..metrics.server import is_loopback

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
)
_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)*")
SAME_SITE = ("same-origin", "none")


def clean_prefix(text: str) -> str:
    """A path prefix without its trailing slash; ValueError unless it is plain path segments."""
    prefix = text.strip().rstrip("/")
    if not _PREFIX.fullmatch(prefix) or "/../" in f"{prefix}/" or "/./" in f"{prefix}/":
        raise ValueError(
            f"root path {text!r} must be path segments of letters, digits and . _ ~ - (e.g. /stalwart)"
        )
    return prefix


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class Guard:
    """ASGI middleware: prefix, host and cross-site checks, and the security headers on every answer."""

    def __init__(self, app: ASGIApp, root_path: str = "", loopback_only: bool = False) -> None:
        self.app = app
        self.root_path = clean_prefix(root_path)
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            await _answer(send_with_headers, *refusal)
            return
        prefix = self.root_path
        forwarded = _header(scope, b"x-forwarded-prefix")
        if forwarded is not None and not prefix:
            try:
                prefix = clean_prefix(forwarded)
            except ValueError as err:
                await _answer(send_with_headers, 400, str(err))
                return
        path = scope["path"]
        if prefix and not (path == prefix or path.startswith(prefix + "/")):
            path = prefix + path  # the proxy stripped the prefix; ASGI's path includes root_path
        scope = {**scope, "root_path": prefix, "path": path}
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        host = _header(scope, b"host") or ""
        if self.loopback_only and not is_loopback(_hostname(host)):
            return 421, (
                f"this console answers only requests to a loopback address, not {host!r}; "
                "configure STALWART_CONSOLE_TOKENS to serve it under another name"
            )
        if scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            site = _header(scope, b"sec-fetch-site")
            if site is not None and site not in SAME_SITE:
                return (
                    403,
                    f"refused a cross-site request ({site}): state changes come from the console's pages",
                )
            origin = _header(scope, b"origin")
            allowed = {host, _header(scope, b"x-forwarded-host") or host}
            # With Referrer-Policy: no-referrer a browser sends "Origin: null" even for its own forms;
            # then its Sec-Fetch-Site (checked above) must say same-origin.
            if origin == "null" and site is None:
                return (
                    403,
                    "refused a request from an opaque origin: state changes come from the console's pages",
                )
            if origin not in (None, "null") and urlsplit(origin).netloc not in allowed:
                return (
                    403,
                    "refused a request from another origin: state changes come from the console's pages",
                )
        return None


def _hostname(host: str) -> str:
    """The name in a Host header, without its port (``[::1]:8080`` -> ``::1``)."""
    if host.startswith("["):
        return host[1 : host.find("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _answer(send: Send, status: int, text: str) -> None:
    body = json.dumps({"error": text}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
