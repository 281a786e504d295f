"""The dead-letter pages: the list (filtered, paginated from the indexes), root causes, one entry's whole
story, and the forms that replay, discard, and act on everything matching a filter.

A list page reads one page of ids from the indexes, a count, and the heads of those entries: three round
trips whatever the size of the queue. Every state change is a POST carrying the session's CSRF token.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..dead_letter import DeadLetterQueue
from ..dead_letter.store import STATUSES
from ..errors import DeadLetterError
from . import actions
from .auth import COOKIE, SESSION_HOURS
from .context import ConsoleContext
from .views import CLASSIFICATIONS, BadRequest, Filters, ago, audit_rows, changes_of, kwargs_of, shown


class Pages:
    """The HTML pages of the dead-letter queue, and login."""

    def __init__(self, ctx: ConsoleContext) -> None:
        self.ctx = ctx
        self.dlq = DeadLetterQueue(ctx.connection)

    # -- login ------------------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        return self.ctx.page(request, "login.html", failed=False)

    async def login(self, request: Request) -> Response:
        form = await request.form()
        token = self.ctx.auth.token(str(form.get("token", "")))
        if token is None:
            return self.ctx.page(request, "login.html", status=401, failed=True)
        response = RedirectResponse(self.ctx.link(request, "/dlq"), status_code=303)
        response.set_cookie(
            COOKIE,
            self.ctx.auth.session_cookie(token),
            max_age=SESSION_HOURS * 3600,
            path=f"{request.scope.get('root_path', '')}/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(self, request: Request) -> Response:
        await self.ctx.operator(request, operate=False)
        response = RedirectResponse(self.ctx.link(request, "/login"), status_code=303)
        response.delete_cookie(COOKIE, path=f"{request.scope.get('root_path', '')}/")
        return response

    # -- reading ----------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        return RedirectResponse(self.ctx.link(request, "/dlq"), status_code=303)

    async def listing(self, request: Request) -> Response:
        me = self.ctx.who(request)
        try:
            filters = Filters.of(request.query_params)
            page = max(1, int(request.query_params.get("page") or 1))
        except (BadRequest, ValueError) as err:
            return self.ctx.page(request, "message.html", status=400, title="Bad filter", text=str(err))
        size = self.ctx.page_size
        found = await self.ctx.run(self._page, filters, page, size)
        return self.ctx.page(
            request,
            "dlq.html",
            identity=me,
            filters=filters,
            classifications=CLASSIFICATIONS,
            statuses=STATUSES,
            page=page,
            size=size,
            now=datetime.now(timezone.utc),
            ago=ago,
            **found,
        )

    def _page(self, filters: Filters, page: int, size: int) -> dict[str, Any]:
        query = filters.store_filters()
        ids = self.dlq.ids(**query, limit=size, offset=(page - 1) * size)
        return {
            "entries": self.dlq.get_many(ids, full=False),
            "total": self.dlq.count(**query),
            "in_queue": len(self.dlq),
        }

    async def groups(self, request: Request) -> Response:
        me = self.ctx.who(request)
        status = request.query_params.get("status") or "dead"
        if status not in (*STATUSES, "any"):
            return self.ctx.page(
                request, "message.html", status=400, title="Bad filter", text="unknown status"
            )
        causes = await self.ctx.run(self.dlq.root_causes, None if status == "any" else status)
        return self.ctx.page(
            request, "groups.html", identity=me, causes=causes, chosen=status, statuses=STATUSES
        )

    async def entry(self, request: Request) -> Response:
        me = self.ctx.who(request)
        entry_id = request.path_params["entry_id"]
        try:
            found = await self.ctx.run(actions.entry, self.dlq, entry_id)
        except actions.Problem as problem:
            return self.ctx.page(request, "message.html", status=404, title="Not found", text=problem.text)
        return self.ctx.page(
            request,
            "entry.html",
            identity=me,
            entry=found,
            shown=shown(found),
            audit=audit_rows(shown(found)["audit"]),
            notice=_notice(request.query_params.get("done"), request.query_params.get("job"), found.replays),
            problem=None,
        )

    # -- acting -----------------------------------------------------------------------------------

    async def replay(self, request: Request) -> Response:
        me = await self.ctx.operator(request)
        entry_id = request.path_params["entry_id"]
        form = await request.form()
        try:
            kwargs = kwargs_of(str(form.get("kwargs", "")).strip())
            changes = changes_of(str(form.get("changes", "")))
            if kwargs is not None and changes is not None:
                raise DeadLetterError("give new arguments whole or changes to some fields, not both")
            done = await self.ctx.run(
                actions.replay,
                self.dlq,
                entry_id,
                me.audit_name,
                kwargs=kwargs,
                changes=changes,
                ambiguous_verified=form.get("ambiguous_verified") == "yes",
            )
        except DeadLetterError as err:
            return await self._entry_problem(request, me, entry_id, 422, str(err))
        except actions.Problem as problem:
            return await self._entry_problem(request, me, entry_id, problem.status, problem.text)
        where = self.ctx.link(request, f"/dlq/entry/{entry_id}", {"done": "replayed", "job": done["job_id"]})
        return RedirectResponse(where, 303)

    async def discard(self, request: Request) -> Response:
        me = await self.ctx.operator(request)
        entry_id = request.path_params["entry_id"]
        form = await request.form()
        try:
            await self.ctx.run(
                actions.discard, self.dlq, entry_id, str(form.get("reason", "")), me.audit_name
            )
        except actions.Problem as problem:
            return await self._entry_problem(request, me, entry_id, problem.status, problem.text)
        return RedirectResponse(self.ctx.link(request, f"/dlq/entry/{entry_id}", {"done": "discarded"}), 303)

    async def _entry_problem(
        self, request: Request, me: Any, entry_id: str, status: int, text: str
    ) -> Response:
        """The entry's page again, with what was refused and why (nothing changed)."""
        try:
            found = await self.ctx.run(actions.entry, self.dlq, entry_id)
        except actions.Problem as missing:
            return self.ctx.page(request, "message.html", status=404, title="Not found", text=missing.text)
        return self.ctx.page(
            request,
            "entry.html",
            status=status,
            identity=me,
            entry=found,
            shown=shown(found),
            audit=audit_rows(shown(found)["audit"]),
            notice=None,
            problem=text,
        )

    async def bulk(self, request: Request) -> Response:
        """Step one (no ``confirm``): the dry run's count, and a form to confirm. Step two: the action."""
        me = await self.ctx.operator(request)
        form = await request.form()
        try:
            filters = Filters.of({k: str(v) for k, v in form.items() if k in Filters.__dataclass_fields__})
        except BadRequest as err:
            return self.ctx.page(request, "message.html", status=400, title="Bad filter", text=str(err))
        action = str(form.get("action", ""))
        include_ambiguous = form.get("include_ambiguous") == "yes"
        reason = str(form.get("reason", ""))
        confirmed = form.get("confirm") == "yes"
        try:
            result = await self.ctx.run(
                actions.bulk,
                self.dlq,
                action,
                filters.store_filters(),
                dry_run=not confirmed,
                include_ambiguous=include_ambiguous,
                by=me.audit_name,
                reason=reason,
                rate=self.ctx.bulk_rate,
            )
        except actions.Problem as problem:
            return self.ctx.page(
                request, "message.html", status=problem.status, title="Refused", text=problem.text
            )
        return self.ctx.page(
            request,
            "bulk.html",
            identity=me,
            result=result,
            filters=filters,
            include_ambiguous=include_ambiguous,
            reason=reason,
            expected=form.get("expected"),
        )


def _notice(done: str | None, job_id: str | None, replays: list[str]) -> str | None:
    """What the last action did, from the redirect's ``done``: only fixed sentences and a job id that is
    one of the entry's replays, so a link cannot make the page say something of its own."""
    if done == "discarded":
        return "discarded"
    if done == "replayed" and job_id in replays:
        return f"replayed as job {job_id}"
    return None
