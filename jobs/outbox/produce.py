"""Writing a job into the outbox table, in the caller's own transaction.

The payload passes the checks ``Job.enqueue`` makes (arguments, JSON, types,
depth, size): a bad one raises PayloadError and nothing is written. The row
commits, or rolls back, with the caller's transaction: a job exists exactly
when the application's own rows do. The relay (``relay``) moves it to Redis.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from .. import settings
from ..model import payload
from ..model.definition import JobDefinition
from ..model.requests import current_request_id, new_request_id
from ..rq_adapter import envelope
from ..rq_adapter.delivery import delay_s, epoch_of
from ..rq_adapter.put import When, unique_claim
from .database import database
from .table import CHANNEL, TABLE

_INSERT = (
    f"INSERT INTO {TABLE} (id, job, queue, body, timeout_s, result_ttl_s, due, due_s, claim, created_at) "
    "VALUES (:id, :job, :queue, :body, :timeout_s, :result_ttl_s, :due, :due_s, :claim, :created_at)"
)
_NOTIFY = f"SELECT pg_notify('{CHANNEL}', '')"


def enqueue(connection: Any, job: type[JobDefinition], /, **kwargs: Any) -> str:
    """Write ``job(**kwargs)`` into the outbox through ``connection``, in its transaction; the job's id.

    The relay enqueues it once the transaction commits, with this id; never if it rolls back.
    Raises PayloadError (and writes nothing) when the arguments do not fit ``perform``.
    """
    return _write(connection, job, "now", 0.0, kwargs)


def enqueue_in(connection: Any, job: type[JobDefinition], delay: timedelta | float, /, **kwargs: Any) -> str:
    """Like ``enqueue``, but the job is due ``delay`` after the relay delivers it (never earlier)."""
    return _write(connection, job, "in", delay_s(delay), kwargs)


def enqueue_at(connection: Any, job: type[JobDefinition], when: datetime, /, **kwargs: Any) -> str:
    """Like ``enqueue``, but the job is due at ``when``, an aware ``datetime`` (on Redis's clock)."""
    return _write(connection, job, "at", epoch_of(when), kwargs)


def _write(connection: Any, job: type[JobDefinition], due: When, due_s: float, kwargs: dict[str, Any]) -> str:
    if not isinstance(job, type) or not issubclass(job, JobDefinition):
        raise TypeError(f"outbox.enqueue takes a Job class, then its arguments; got {job!r}")
    if job.abstract:
        raise TypeError(f"{job.name} is abstract (abstract = True); enqueue one of its subclasses")
    db = database(connection)  # TypeError before any check: the connection is the caller's mistake
    limits = settings.current().limits
    body = payload.build(job, kwargs, current_request_id() or new_request_id(), limits=limits)
    envelope.check_size(job, body, limits)
    job_id = str(uuid.uuid4())
    db.execute(
        _INSERT,
        {
            "id": job_id,
            "job": job.name,
            "queue": job.queue,
            "body": json.dumps(body, separators=(",", ":")),
            "timeout_s": int(job.timeout_s),
            "result_ttl_s": int(job.result_ttl_s),
            "due": due,
            "due_s": due_s,
            "claim": unique_claim(job.name, body["meta"]["idempotency_key"]) if job.unique else None,
            "created_at": time.time(),
        },
    )
    if db.dialect == "postgresql":
        # Delivered to the relay's LISTEN when the transaction commits; dropped if it rolls back.
        db.execute(_NOTIFY)
    return job_id
