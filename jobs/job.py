"""``Job``: the base class every background job subclasses: a job definition you can enqueue."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import redis

from . import settings
from .connection.client import shared
from .errors import EnqueueError, JobDefinitionError, PayloadError
from .model import payload, periodic
from .model.definition import JobDefinition
from .model.requests import current_request_id, new_request_id
from .rq_adapter import delivery, envelope
from .rq_adapter.enqueue import raw_job
from .rq_adapter.handle import JobHandle
from .rq_adapter.put import put_many, unique_claim


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
        and its (redacted) arguments. A ``unique`` job already queued, scheduled or
        running is not enqueued again: the handle is that job's (``handle.deduplicated``).
        """
        return cls._deliver(delivery.Delivery("now", unique=cls.unique), connection, kwargs)

    @classmethod
    def enqueue_in(
        cls, delay: timedelta | float, /, *, connection: redis.Redis | None = None, **kwargs: Any
    ) -> JobHandle:
        """Like ``enqueue``, but the job is due ``delay`` (a ``timedelta`` or seconds) from now.

        It never starts before then; "now" is Redis's clock, which every worker and producer shares.
        Its status is ``scheduled`` until it is due.
        """
        return cls._deliver(delivery.Delivery("in", delivery.delay_s(delay), cls.unique), connection, kwargs)

    @classmethod
    def enqueue_at(
        cls, when: datetime, /, *, connection: redis.Redis | None = None, **kwargs: Any
    ) -> JobHandle:
        """Like ``enqueue``, but the job is due at ``when``, an aware ``datetime`` (one in the past: now)."""
        return cls._deliver(delivery.Delivery("at", delivery.epoch_of(when), cls.unique), connection, kwargs)

    @classmethod
    def enqueue_many(
        cls, calls: Iterable[Mapping[str, Any]], /, *, connection: redis.Redis | None = None
    ) -> list[JobHandle]:
        """Enqueue one job per mapping of keyword arguments, all or nothing, in one round trip.

        Every payload is checked first: one that does not fit raises PayloadError naming its index, and
        nothing is enqueued. The jobs are then written by one script, so Redis takes all of them or
        none (a full Redis refuses the first write). Unique jobs already held come back deduplicated.
        Redis unreachable: EnqueueError, and nothing was enqueued unless it says it may have been.
        """
        cls._check_enqueueable()
        limits = settings.current().limits
        request_id = current_request_id() or new_request_id()
        jobs = []
        for index, kwargs in enumerate(calls):
            if not isinstance(kwargs, Mapping):
                raise PayloadError(cls.name, None, f"is given {type(kwargs).__name__}, not a dict", index)
            try:
                body = payload.build(cls, dict(kwargs), request_id, limits=limits)
                envelope.check_size(cls, body, limits)
            except PayloadError as err:
                raise PayloadError(cls.name, err.argument, err.problem, index) from err
            claim = unique_claim(cls.name, body["meta"]["idempotency_key"]) if cls.unique else None
            jobs.append((raw_job(cls, body), claim))
        client = connection if connection is not None else shared(cls.__module__)
        try:
            puts = put_many(client, jobs)
        except (redis.ConnectionError, redis.TimeoutError) as err:
            first = jobs[0][0].id if jobs else "none"
            raise EnqueueError(
                f"could not enqueue {len(jobs)} {cls.name} jobs: Redis did not answer ({err}); they were "
                f"written all together or not at all: look up the first one (job {first}) before "
                "enqueueing them again"
            ) from err
        return [JobHandle(p.id, cls.name, client, deduplicated=p.deduplicated) for p in puts]

    @classmethod
    def _deliver(
        cls, how: delivery.Delivery, connection: redis.Redis | None, kwargs: dict[str, Any]
    ) -> JobHandle:
        cls._check_enqueueable()
        limits = settings.current().limits
        body = payload.build(cls, kwargs, current_request_id() or new_request_id(), limits=limits)
        envelope.check_size(cls, body, limits)
        put, connection = delivery.enqueue(cls, body, connection, how)
        return JobHandle(put.id, cls.name, connection, deduplicated=put.deduplicated, due_at=put.due)

    @classmethod
    def _check_enqueueable(cls) -> None:
        if cls.abstract:
            raise TypeError(f"{cls.name} is abstract (abstract = True); enqueue one of its subclasses")
