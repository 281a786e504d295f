"""Getting a job into Redis when Redis blips: one deadline, never a silent drop, never a duplicate.

``enqueue`` names the job's id before sending it. If sending fails, the next
attempt first asks whether that id already exists: a connection that dropped
after Redis ran the transaction must not enqueue the job twice.

Attempts go on, with a short jittered backoff, until ``STALWART_ENQUEUE_DEADLINE_S``
(5 s by default) has passed in all, whatever the client's own retries and
timeouts: every call goes through a twin of the client that never retries and
whose timeouts fit in the time left (``connection.bounded``). Then the caller
gets ``EnqueueError`` naming the job and its (redacted) arguments, so the caller
always knows.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis

from resilience import Exponential, redact

from .. import settings
from ..connection.bounded import bounded, twin_of
from ..connection.client import shared
from ..connection.outage import is_out_of_memory
from ..errors import EnqueueError
from ..model.definition import JobDefinition
from .enqueue import job_exists, raw_job
from .put import Put, When, put, reply, unique_claim

# 0.1, 0.2, 0.4, 0.8, then 1 s between attempts (each drawn from [d/2, d]).
BACKOFF = Exponential(base=2, initial=0.1, cap=1.0)

# An attempt needs at least this long to be worth starting (a connect and two round trips).
_SHORTEST_ATTEMPT_S = 0.05

# Indirection so tests can act while the client waits (start Redis again, say).
sleep: Callable[[float], None] = time.sleep


def _sleep(seconds: float) -> None:
    sleep(seconds)  # looked up at call time, so a test's replacement is used


@dataclass
class _Budget:
    """The time an enqueue may still take: its attempts as measured, plus the waits it chose.

    Waits are counted as chosen, not as measured, so a test that replaces ``sleep``
    sees the same attempts a real wait would give.
    """

    total_s: float
    spent_s: float = 0.0
    attempts: int = 0
    _started: float = field(default=0.0, repr=False)

    def start_attempt(self) -> float:
        """Begin an attempt; returns the time it may take (half of what is left: one more can follow)."""
        self.attempts += 1
        self._started = time.monotonic()
        return max(_SHORTEST_ATTEMPT_S, (self.total_s - self.spent_s) / 2)

    def end_attempt(self) -> None:
        self.spent_s += time.monotonic() - self._started

    def wait_before_next(self) -> float | None:
        """How long to wait before the next attempt, or None if none fits in the deadline."""
        wait = BACKOFF.delay(self.attempts)
        if self.total_s - self.spent_s - wait < _SHORTEST_ATTEMPT_S:
            return None
        self.spent_s += wait
        return wait


class _Outcome:
    """How the last attempt ended: whether the job may be in Redis though no attempt saw it there."""

    def __init__(self) -> None:
        self.maybe_sent = False
        self.maybe_sent_before = False
        self.error: Exception | None = None


@dataclass(frozen=True)
class Delivery:
    """Where and when a job goes: now or later (``when``, ``seconds``), and whether it is unique."""

    when: When = "now"
    seconds: float = 0.0
    unique: bool = False


NOW = Delivery()


def delay_s(delay: timedelta | float) -> float:
    """``enqueue_in``'s delay in seconds: a ``timedelta`` or a finite, non-negative number."""
    seconds = delay.total_seconds() if isinstance(delay, timedelta) else delay
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        raise TypeError(f"delay must be a timedelta or a number of seconds, got {delay!r}")
    if seconds < 0:
        raise ValueError(f"delay must not be negative, got {delay!r}; use enqueue() to run it now")
    return float(seconds)


def epoch_of(when: datetime) -> float:
    """``enqueue_at``'s time in epoch seconds; a naive ``datetime`` is refused (which zone would it be?)."""
    if not isinstance(when, datetime):
        raise TypeError(f"when must be an aware datetime, got {when!r}")
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(
            f"when must be an aware datetime (with a time zone), got the naive {when.isoformat()}; "
            "use e.g. datetime(2030, 1, 1, 3, 0, tzinfo=timezone.utc)"
        )
    return when.timestamp()


def enqueue(
    job: type[JobDefinition], body: dict[str, Any], connection: redis.Redis | None, delivery: Delivery = NOW
) -> tuple[Put, redis.Redis]:
    """Enqueue ``body`` for ``job``; returns what was put and the connection used. Raises EnqueueError."""
    job_id = str(uuid.uuid4())
    budget = _Budget(settings.current().enqueue_deadline_s)
    last = _Outcome()
    # ConfigurationError at once when no Redis is named; an embedded one is looked for in the job's project.
    client = connection if connection is not None else shared(job.__module__)
    while True:
        time_left = budget.start_attempt()
        try:
            first = budget.attempts == 1
            done = _attempt(job, body, job_id, client, time_left, delivery=delivery, first=first, last=last)
            if done is not None:
                return done, client
        finally:
            budget.end_attempt()
        wait = budget.wait_before_next()
        if wait is None:
            raise _gave_up(job, body, job_id, budget, last)
        _sleep(wait)


def _attempt(
    job: type[JobDefinition],
    body: dict[str, Any],
    job_id: str,
    client: redis.Redis,
    time_left: float,
    *,
    delivery: Delivery,
    first: bool,
    last: _Outcome,
) -> Put | None:
    """One attempt through a twin of ``client`` bounded by ``time_left``; what it put, once in Redis."""
    # The first attempt's twin is kept (no new connection per enqueue); a retry's has less time left.
    twin = twin_of(client, time_left) if first else bounded(client, time_left)
    try:
        if not first and job_exists(twin, job_id):
            return Put(job_id)  # an earlier attempt reached Redis even though its reply was lost
        # Nothing sent before arrived; from here on, Redis may run the script whatever we hear back.
        last.maybe_sent_before, last.maybe_sent = last.maybe_sent, True
        claim = unique_claim(job.name, body["meta"]["idempotency_key"]) if delivery.unique else None
        raw = raw_job(job, body, job_id)
        return reply(put(twin, raw, job.queue, when=delivery.when, seconds=delivery.seconds, claim=claim))
    except redis.ResponseError as err:
        # A full Redis refuses the script's first write (so nothing at all is written), and says OOM.
        if not is_out_of_memory(err):
            raise
        # Not retried: a full Redis does not empty itself in seconds.
        raise EnqueueError(
            f"could not enqueue {job.name} with {redact(body['kwargs'])}: Redis is out of memory "
            f"(maxmemory reached; {err}); nothing was enqueued: free memory in Redis (archive the "
            "dead-letter queue, drain queues) or raise maxmemory, then enqueue again"
        ) from err
    except (redis.ConnectionError, redis.TimeoutError) as err:
        last.error = err
        if isinstance(err, redis.ConnectionError) and "connecting to" in str(err):
            # redis-py's words for a connection that was never made: this attempt sent nothing.
            last.maybe_sent = last.maybe_sent_before
        return None
    finally:
        if not first:
            twin.connection_pool.disconnect()


def _gave_up(
    job: type[JobDefinition], body: dict[str, Any], job_id: str, budget: _Budget, last: _Outcome
) -> EnqueueError:
    shown = redact(body["kwargs"])
    said = f"Redis did not answer within {budget.total_s:g} s ({budget.attempts} attempts; {last.error})"
    if last.maybe_sent:
        return EnqueueError(
            f"could not enqueue {job.name} with {shown}: {said}; the last attempt may have reached Redis "
            f"as job {job_id}: look that job up (JobHandle) before enqueueing again"
        )
    return EnqueueError(
        f"could not enqueue {job.name} with {shown}: {said}; nothing was enqueued: retry later or alert "
        "someone"
    )
