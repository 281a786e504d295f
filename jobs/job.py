"""``Job``: the base class every background job subclasses: a job definition you can enqueue."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import redis

from . import settings
from .errors import JobDefinitionError, PayloadError
from .model import payload, periodic
from .model.definition import JobDefinition
from .model.requests import current_request_id, new_request_id
from .rq_adapter import delivery, envelope
from .rq_adapter.handle import JobHandle


class Job(JobDefinition):
    """A unit of background work. Subclass it, set options, and define ``perform(self, **kwargs)``.

    ``perform`` returns a JSON value (the job succeeded), returns ``Negative(...)``
    (a business "no": also a success), or raises (a failure). Options are class
    attributes, checked when the class is defined.
    """

    name = "jobs.Job"
    abstract = True

    @classmethod
    def _check_definition(cls) -> None:
        """A periodic job's ``periodic_kwargs`` pass enqueue's checks, size included, when it is defined."""
        if periodic.is_periodic(cls):
            periodic.check_kwargs(cls)
            body = periodic.tick_body(
                periodic.spec_of(cls), 0.0, "class-definition", datetime.now(timezone.utc)
            )
            try:
                envelope.check_size(cls, body, settings.current().limits)
            except PayloadError as err:
                raise JobDefinitionError(
                    f"{cls.name} is periodic, and its periodic_kwargs: {err.problem}"
                ) from err

    @classmethod
    def enqueue(cls, /, *, connection: redis.Redis | None = None, **kwargs: Any) -> JobHandle:
        """Check the arguments, enqueue the job on ``cls.queue``, and return its handle.

        Raises PayloadError (and enqueues nothing) when the arguments do not fit
        ``perform`` or are not JSON. Uses ``REDIS_URL`` unless given ``connection``.
        While Redis does not answer it retries until ``STALWART_ENQUEUE_DEADLINE_S``
        (5 s by default) has passed in all, then raises EnqueueError naming the job
        and its (redacted) arguments.
        """
        if cls.abstract:
            raise TypeError(f"{cls.name} is abstract (abstract = True); enqueue one of its subclasses")
        limits = settings.current().limits
        body = payload.build(cls, kwargs, current_request_id() or new_request_id(), limits=limits)
        envelope.check_size(cls, body, limits)
        job_id, connection = delivery.enqueue(cls, body, connection)
        return JobHandle(job_id, cls.name, connection)
