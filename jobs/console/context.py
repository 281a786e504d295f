"""What every handler shares: Redis, the authenticator, the templates, and the checks before a handler acts.

A handler asks ``who(request)`` (or ``operator(request)`` to change anything) and gets an ``Identity`` or
a ``Refusal``: an answer ready to send (a login redirect for a page, 401/403 JSON for the API). Blocking
Redis work runs in a worker thread (``run``), so a slow bulk replay never holds up other pages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import redis
from jinja2 import Environment, FileSystemLoader
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from .auth import COOKIE, Authenticator, Identity, csrf_matches

HERE = Path(__file__).parent
T = TypeVar("T")


class Refusal(Exception):  # not an error: an answer sent instead of the handler's
    """An answer that replaces the handler's (401, 403, a redirect to the login page)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def error(status: int, text: str) -> JSONResponse:
    """A JSON error: ``{"error": "<one line saying what to do>"}``."""
    return JSONResponse({"error": text}, status_code=status)


def is_api(request: Request) -> bool:
    """Whether the request is for machines (the JSON API, /metrics): answers are JSON, never redirects."""
    root = request.scope.get("root_path", "")
    return request.url.path.startswith(f"{root}/api/") or request.url.path == f"{root}/metrics"


@dataclass
class ConsoleContext:
    """Redis, the authenticator and the templates of one console, and the settings of its actions."""

    connection: redis.Redis
    auth: Authenticator
    bulk_rate: float
    page_size: int = 50

    def __post_init__(self) -> None:
        # Autoescape everywhere: every value shown may come from Redis (error messages, job names, ids).
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["pretty"] = lambda value: json.dumps(value, indent=2, default=str)
        self.templates.filters["compact"] = lambda value: json.dumps(value, default=str)

    # -- who is asking --------------------------------------------------------------------------

    def identify(self, request: Request) -> Identity | None:
        """The identity of the request (bearer header first, then the session cookie), or None."""
        header = request.headers.get("authorization")
        if header is not None:
            return self.auth.bearer(header)
        if self.auth.open:
            return self.auth.anonymous(by_cookie=not is_api(request))
        cookie = request.cookies.get(COOKIE)
        return self.auth.session(cookie) if cookie else None

    def who(self, request: Request) -> Identity:
        """The identity of the request; Refusal (401, or a redirect to log in) without one."""
        identity = self.identify(request)
        if identity is not None:
            return identity
        if is_api(request):
            response: Response = error(401, "no valid token: send Authorization: Bearer <token>")
            response.headers["WWW-Authenticate"] = "Bearer"
            raise Refusal(response)
        raise Refusal(RedirectResponse(self.link(request, "/login"), status_code=303))

    async def operator(self, request: Request, operate: bool = True) -> Identity:
        """The identity of a request that changes something: allowed to operate (unless ``operate`` is
        false: logging out), and, from a browser session, carrying its CSRF token (a form field, or
        ``X-CSRF-Token`` for the API)."""
        identity = self.who(request)
        if operate and not identity.can_operate:
            raise Refusal(
                self.refuse(request, 403, f"token {identity.name} may only read; this needs an operate token")
            )
        if identity.by_cookie:
            presented = request.headers.get("x-csrf-token")
            if presented is None and not is_api(request):
                presented = str((await request.form()).get("csrf", ""))
            if not csrf_matches(identity, presented):
                raise Refusal(
                    self.refuse(
                        request, 403, "refused: the form's CSRF token is missing or stale; reload the page"
                    )
                )
        return identity

    def refuse(self, request: Request, status: int, text: str) -> Response:
        """A refusal as the asker reads it: JSON for the API, a page for a browser."""
        if is_api(request):
            return error(status, text)
        return self.page(request, "message.html", status=status, title="Refused", text=text)

    # -- answers ---------------------------------------------------------------------------------

    def link(self, request: Request, path: str, query: dict[str, Any] | str | None = None) -> str:
        """A link to ``path`` under the console's root path (behind a proxy, its prefix)."""
        root = request.scope.get("root_path", "")
        if isinstance(query, dict):
            query = urlencode({k: v for k, v in query.items() if v not in (None, "")})
        return f"{root}{path}" + (f"?{query}" if query else "")

    def page(
        self,
        request: Request,
        template: str,
        status: int = 200,
        identity: Identity | None = None,
        **values: Any,
    ) -> HTMLResponse:
        """``template`` rendered (autoescaped) with ``values``, the root path, and the asker's name."""
        if identity is None:
            identity = self.identify(request)
        html = self.templates.get_template(template).render(
            root=request.scope.get("root_path", ""),
            me=identity,
            open_mode=self.auth.open,
            link=lambda path, query=None: self.link(request, path, query),
            **values,
        )
        return HTMLResponse(html, status_code=status)

    async def run(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``work(*args, **kwargs)`` in a worker thread (Redis calls block)."""
        return await run_in_threadpool(work, *args, **kwargs)
