"""The request id that ties a job's log lines to the request that caused it."""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Iterator

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("stalwart_request_id", default=None)


def current_request_id() -> str | None:
    """The request id in force here, or None outside any request context."""
    return _request_id.get()


def new_request_id() -> str:
    """A fresh request id, for work that starts outside any request."""
    return uuid.uuid4().hex


@contextlib.contextmanager
def request_context(request_id: str) -> Iterator[str]:
    """Stamp every job enqueued inside the block, and every log line, with ``request_id``."""
    if not isinstance(request_id, str) or not request_id:
        raise TypeError(f"request_context needs a non-empty string, got {request_id!r}")
    token = _request_id.set(request_id)
    try:
        yield request_id
    finally:
        _request_id.reset(token)
