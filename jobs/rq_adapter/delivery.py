"""Getting a job into Redis when Redis blips: bounded retries, never a silent drop, never a duplicate.

``enqueue`` names the job's id before sending it. If sending fails, the next
attempt first asks whether that id already exists: a connection that dropped
after Redis ran the transaction must not enqueue the job twice. After the last
attempt the caller gets ``EnqueueError`` naming the job and its (redacted)
arguments, so the caller always knows.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import redis

from resilience import Exponential, redact, retry_call

from .. import settings
from ..connection import connect
from ..errors import ConfigurationError, EnqueueError
from ..model.definition import JobDefinition
from .enqueue import enqueue_payload, job_exists

# About five seconds in all with the default 8 attempts (STALWART_ENQUEUE_ATTEMPTS):
# 0.1 + 0.2 + 0.4 + 0.8 + 1 + 1 + 1 (each drawn from [d/2, d]).
BACKOFF = Exponential(base=2, initial=0.1, cap=1.0)

# Indirection so tests can act while the client waits (start Redis again, say).
sleep: Callable[[float], None] = time.sleep


def _sleep(seconds: float) -> None:
    sleep(seconds)  # looked up at call time, so a test's replacement is used


class _Unreachable(Exception):
    """Redis could not be reached for this attempt; the job certainly was not enqueued by it."""


def enqueue(
    job: type[JobDefinition], body: dict[str, Any], connection: redis.Redis | None
) -> tuple[str, redis.Redis]:
    """Enqueue ``body`` for ``job``; returns the job id and the connection used. Raises EnqueueError."""
    job_id = str(uuid.uuid4())
    clients: list[redis.Redis] = [connection] if connection is not None else []

    def enqueue_to_redis() -> None:
        try:
            if not clients:
                clients.append(connect())
            client = clients[0]
            if job_exists(client, job_id):
                return  # an earlier attempt reached Redis even though its reply was lost
            enqueue_payload(job, body, client, job_id=job_id)
        except (redis.ConnectionError, redis.TimeoutError, ConfigurationError) as err:
            raise _Unreachable(str(err)) from err
        except redis.exceptions.OutOfMemoryError as err:
            # Not retried: a full Redis does not empty itself in seconds. MULTI refused the whole job.
            raise EnqueueError(
                f"could not enqueue {job.name} with {redact(body['kwargs'])}: Redis is out of memory "
                f"(maxmemory reached; {err}); nothing was enqueued: free memory in Redis (archive the "
                "dead-letter queue, drain queues) or raise maxmemory, then enqueue again"
            ) from err

    attempts = settings.current().enqueue_attempts
    try:
        retry_call(enqueue_to_redis, on=_Unreachable, attempts=attempts, backoff=BACKOFF, sleep=_sleep)
    except _Unreachable as err:
        shown = redact(body["kwargs"])
        raise EnqueueError(
            f"could not enqueue {job.name} with {shown}: Redis did not answer after {attempts} attempts "
            f"({err}); nothing was enqueued: retry later or alert someone"
        ) from err.__cause__
    return job_id, clients[0]
