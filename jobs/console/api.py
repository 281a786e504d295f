"""The JSON API, for scripts (``Authorization: Bearer <token>``) and anything else that wants data.

``GET /api/dlq`` (filters ``job``, ``error_type``, ``classification``, ``status``, ``since``, ``limit``),
``GET /api/dlq/{id}``, ``POST /api/dlq/{id}/replay`` (optional body ``{"kwargs": {...}}`` or
``{"changes": {"field": value}}``, and ``"ambiguous_verified": true`` for an ambiguous entry) and
``POST /api/dlq/{id}/discard`` (body ``{"reason": "..."}``). Arguments are always redacted. Errors are
``{"error": "<one line>"}``: 400 a bad filter, 401 no token, 403 a read token on a POST, 404 no such
entry, 409 an entry in the wrong state, 415 a body that is not JSON, 422 bad edited arguments (nothing
changes).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..dead_letter import DeadLetterQueue
from ..errors import DeadLetterError
from ..stats import gauges
from . import actions
from .context import ConsoleContext, error
from .views import BadRequest, Filters, kwargs_of, limit_of, shown


class Api:
    """The JSON API's handlers."""

    def __init__(self, ctx: ConsoleContext) -> None:
        self.ctx = ctx
        self.dlq = DeadLetterQueue(ctx.connection)

    async def listing(self, request: Request) -> Response:
        self.ctx.who(request)
        try:
            filters = Filters.of(request.query_params)
            limit = limit_of(request.query_params.get("limit"))
        except BadRequest as err:
            return error(400, str(err))
        entries = await self.ctx.run(self.dlq.list, **filters.store_filters(), limit=limit)
        return JSONResponse([shown(e) for e in entries])

    async def entry(self, request: Request) -> Response:
        self.ctx.who(request)
        try:
            found = await self.ctx.run(actions.entry, self.dlq, request.path_params["entry_id"])
        except actions.Problem as problem:
            return error(problem.status, problem.text)
        return JSONResponse(shown(found))

    async def replay(self, request: Request) -> Response:
        me = await self.ctx.operator(request)
        try:
            body = await _body(request)
            kwargs = kwargs_of(body.get("kwargs"))
            changes = body.get("changes")
            if changes is not None and not isinstance(changes, dict):
                raise DeadLetterError(
                    'changes must be a JSON object of fields and values, e.g. {"amount_cents": 4900}'
                )
            done = await self.ctx.run(
                actions.replay,
                self.dlq,
                request.path_params["entry_id"],
                me.audit_name,
                kwargs=kwargs,
                changes=changes or None,
                ambiguous_verified=body.get("ambiguous_verified") is True,
            )
        except DeadLetterError as err:
            return error(422, str(err))
        except actions.Problem as problem:
            return error(problem.status, problem.text)
        return JSONResponse(done)

    async def discard(self, request: Request) -> Response:
        me = await self.ctx.operator(request)
        try:
            body = await _body(request)
            reason = body.get("reason")
            if not isinstance(reason, str):
                raise actions.Problem(422, 'a discard needs a reason: send {"reason": "..."}')
            found = await self.ctx.run(
                actions.discard, self.dlq, request.path_params["entry_id"], reason, me.audit_name
            )
        except actions.Problem as problem:
            return error(problem.status, problem.text)
        return JSONResponse(shown(found))

    async def queues(self, request: Request) -> Response:
        self.ctx.who(request)
        return JSONResponse(await self.ctx.run(gauges, self.ctx.connection))


async def _body(request: Request) -> dict[str, Any]:
    """The request's JSON object body ({} when empty); Problem 415/422 otherwise.

    A body must be sent as ``application/json``: a browser cannot send that to another site without
    asking it first (CORS), which this console never allows.
    """
    raw = await request.body()
    if not raw.strip():
        return {}
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise actions.Problem(415, "send the body as JSON with Content-Type: application/json")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise actions.Problem(422, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise actions.Problem(422, "the body must be a JSON object")
    return body
