"""``create_app``: the console as an ASGI application (Starlette), its routes in one visible list."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from .api import Api
from .auth import Authenticator
from .context import HERE, ConsoleContext, Refusal, error
from .fleet import Fleet
from .pages import Pages
from .web import Guard, clean_prefix


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    return exc.response


async def _no_icon(request: Request) -> Response:
    return Response(status_code=204)  # browsers ask for one; an answer keeps their consoles clean


async def _stylesheet(request: Request) -> Response:
    return FileResponse(HERE / "static" / "console.css", media_type="text/css")


def routes(ctx: ConsoleContext) -> list[Route]:
    """Every route of the console: pages, their forms (POST), the JSON API, and /metrics."""
    pages, api, fleet = Pages(ctx), Api(ctx), Fleet(ctx)
    return [
        Route("/", pages.home),
        Route("/login", pages.login_form, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/dlq", pages.listing, methods=["GET"]),
        Route("/dlq/groups", pages.groups, methods=["GET"]),
        Route("/dlq/bulk", pages.bulk, methods=["POST"]),
        Route("/dlq/entry/{entry_id}", pages.entry, methods=["GET"]),
        Route("/dlq/entry/{entry_id}/replay", pages.replay, methods=["POST"]),
        Route("/dlq/entry/{entry_id}/discard", pages.discard, methods=["POST"]),
        Route("/queues", fleet.queues, methods=["GET"]),
        Route("/rhythm", fleet.rhythm, methods=["GET"]),
        Route("/metrics", fleet.metrics, methods=["GET"]),
        Route("/static/console.css", _stylesheet, methods=["GET"]),
        Route("/favicon.ico", _no_icon, methods=["GET"]),
        Route("/api/dlq", api.listing, methods=["GET"]),
        Route("/api/dlq/{entry_id}", api.entry, methods=["GET"]),
        Route("/api/dlq/{entry_id}/replay", api.replay, methods=["POST"]),
        Route("/api/dlq/{entry_id}/discard", api.discard, methods=["POST"]),
        Route("/api/queues", api.queues, methods=["GET"]),
    ]


async def _not_found(request: Request, exc: Exception) -> Response:
    return error(404, f"not found: {request.url.path}")


def create_app(ctx: ConsoleContext, root_path: str = "") -> Guard:
    """The console for ``ctx``, under ``root_path`` (or each request's ``X-Forwarded-Prefix``)."""
    app = Starlette(
        routes=routes(ctx), exception_handlers={Refusal: _refused, 404: _not_found, 405: _not_allowed}
    )
    return Guard(app, root_path=clean_prefix(root_path), loopback_only=ctx.auth.open)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return error(405, f"{request.method} is not allowed on {request.url.path}")


__all__ = ["Authenticator", "ConsoleContext", "create_app", "routes"]
