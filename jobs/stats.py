"""Statistics: counters per job and outcome, durations, and your own counters; cheap, and never in the way.

Counts are kept in Redis in per-minute hashes (``<prefix>stats:<minute>``,
field ``<job>|<metric>``) that expire after ``STALWART_STATS_RETENTION_H``
hours (24 by default), so ``stalwart stats`` works with no other system. A
job's own counts are written in the same pipeline as its bookkeeping: no
extra round trip. With ``STATSD_HOST`` set they also go to statsd over UDP,
which never blocks and never raises: a host that cannot be resolved turns the
client into a no-op with one warning.

Every count is also added, in the same pipeline, to an all-time totals hash
(``<prefix>stats:totals``) that never expires, and each job's duration to a
histogram hash (``<prefix>stats:durations``, a field per bucket): the counters
``stalwart metrics`` exports read these, so they only go up when a minute's
bucket expires. Only deleting those keys (or FLUSHALL) resets them, which
Prometheus handles as a counter reset.

``jobs.stats.incr("signup.welcome_email.sent")`` counts an event of your own,
inside a job (it rides in the job's pipeline) or outside one (one round trip,
whose failure is logged, never raised).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Iterator
from typing import Any

import redis
from redis.client import Pipeline

from . import _keys, settings
from .connection import connect
from .dead_letter import DeadLetterQueue
from .dead_letter.store import STATUSES
from .rq_adapter.queues import queue_counts
from .telemetry.statsd import statsd

log = logging.getLogger("stalwart.stats")

APP = "app"
DURATION = "duration_ms"
# Upper bounds (seconds) of the job-duration histogram's buckets; a longer run falls in "+Inf".
DURATION_BUCKETS_S = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
)
INF = "+Inf"
_buffer: contextvars.ContextVar[list[tuple[str, str, float]] | None] = contextvars.ContextVar(
    "stalwart_stats_buffer", default=None
)


def retention_s() -> int:
    """How long per-minute buckets are kept (``STALWART_STATS_RETENTION_H``, 24 h)."""
    return int(settings.current().stats_retention_h * 3600)


def bucket_key(epoch: float) -> str:
    """The key of the minute that ``epoch`` falls in."""
    return _keys.stats_bucket(int(epoch // 60) * 60)


def write(pipeline: Pipeline, counts: list[tuple[str, str, float]], now: float | None = None) -> None:
    """Add ``(scope, metric, amount)`` counts to this minute's bucket, in ``pipeline``; also to statsd."""
    if not counts:
        return
    key = bucket_key(now if now is not None else time.time())
    totals = _keys.stats_totals()
    for scope, metric, amount in counts:
        field = f"{scope}|{metric}"
        for counted in (key, totals):
            # Always by float: HINCRBY fails on a field that already holds a fraction (a duration of exactly
            # 12.0 ms after 30.5 ms), failing the job's whole pipeline; Redis writes whole sums as integers.
            pipeline.hincrbyfloat(counted, field, amount)
        if metric == DURATION and scope != APP:
            pipeline.hincrby(_keys.stats_durations(), f"{scope}|{duration_bucket(amount / 1000)}", 1)
    pipeline.expire(key, retention_s())
    statsd().send(counts)


def duration_bucket(seconds: float) -> str:
    """The upper bound (as Prometheus writes it in ``le``) of the histogram bucket ``seconds`` falls in."""
    for bound in DURATION_BUCKETS_S:
        if seconds <= bound:
            return bound_label(bound)
    return INF


def bound_label(bound: float) -> str:
    """A bucket bound as its ``le`` label: ``0.005``, ``1.0``, ``3600.0`` (as Prometheus clients write it)."""
    return repr(float(bound))


def read_totals(pipeline: Pipeline) -> None:
    """Queue reads of the all-time totals and the duration histogram (see ``parse_totals``)."""
    pipeline.hgetall(_keys.stats_totals())
    pipeline.hgetall(_keys.stats_durations())


def parse_totals(
    totals: dict[Any, Any], durations: dict[Any, Any]
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, int]]]:
    """Totals per scope and metric; per job, the runs in each histogram bucket (not cumulative)."""
    counts: dict[str, dict[str, float]] = {}
    for raw_field, raw_value in totals.items():
        scope, _, metric = _lenient(raw_field).partition("|")
        counts.setdefault(scope, {})[metric] = float(raw_value)
    buckets: dict[str, dict[str, int]] = {}
    for raw_field, raw_value in durations.items():
        job, _, bound = _lenient(raw_field).rpartition("|")
        buckets.setdefault(job, {})[bound] = int(raw_value)
    return counts, buckets


@contextlib.contextmanager
def collecting() -> Iterator[list[tuple[str, str, float]]]:
    """Buffer ``incr`` calls made inside the block (a running job) for the worker's pipeline."""
    collected: list[tuple[str, str, float]] = []
    token = _buffer.set(collected)
    try:
        yield collected
    finally:
        _buffer.reset(token)


def incr(name: str, value: float = 1, connection: redis.Redis | None = None) -> None:
    """Count an application event, e.g. ``incr("signup.welcome_email.sent")``. Never raises."""
    buffered = _buffer.get()
    if buffered is not None:
        buffered.append((APP, name, value))
        return
    try:
        with (connection or connect()).pipeline(transaction=False) as pipeline:
            write(pipeline, [(APP, name, value)])
            pipeline.execute()
    except Exception as err:  # noqa: BLE001 - counting must never break the caller
        log.warning("could not count %s (%s); the count is lost, the caller is not", name, err)


def read(connection: redis.Redis, since_s: float, now: float | None = None) -> dict[str, dict[str, float]]:
    """Totals per scope (job name, or ``app``) and metric over the last ``since_s`` seconds."""
    now = now if now is not None else time.time()
    minutes = range(int((now - since_s) // 60) * 60, int(now // 60) * 60 + 60, 60)
    with connection.pipeline(transaction=False) as pipeline:
        for minute in minutes:
            pipeline.hgetall(_keys.stats_bucket(minute))
        buckets = pipeline.execute()
    totals: dict[str, dict[str, float]] = {}
    for bucket in buckets:
        for raw_field, raw_value in bucket.items():
            scope, _, metric = _text(raw_field).partition("|")
            per_scope = totals.setdefault(scope, {})
            per_scope[metric] = per_scope.get(metric, 0.0) + float(raw_value)
    return totals


def per_minute(
    connection: redis.Redis, since_s: float, now: float | None = None
) -> list[tuple[int, dict[str, dict[str, float]]]]:
    """Each minute of the last ``since_s`` seconds, oldest first: its start (epoch) and its counts per
    scope and metric (empty for a minute with none, or one whose bucket expired); one round trip."""
    now = now if now is not None else time.time()
    minutes = range(int((now - since_s) // 60) * 60, int(now // 60) * 60 + 60, 60)
    with connection.pipeline(transaction=False) as pipeline:
        for minute in minutes:
            pipeline.hgetall(_keys.stats_bucket(minute))
        buckets = pipeline.execute()
    found = []
    for minute, bucket in zip(minutes, buckets, strict=True):
        counts: dict[str, dict[str, float]] = {}
        for raw_field, raw_value in bucket.items():
            scope, _, metric = _lenient(raw_field).partition("|")
            counts.setdefault(scope, {})[metric] = float(raw_value)
        found.append((minute, counts))
    return found


def gauges(connection: redis.Redis) -> dict[str, Any]:
    """Right now: per queue, jobs waiting, scheduled (retries) and running; dead-letter entries by status."""
    dlq = DeadLetterQueue(connection)
    return {
        "queues": queue_counts(connection),
        "dead_letter": {s: dlq.len(s) for s in STATUSES},
    }


def report_gauges(connection: redis.Redis) -> None:
    """Send the gauges to statsd (when it is configured)."""
    client = statsd()
    if client.socket is None:
        return
    now = gauges(connection)
    for queue, counts in now["queues"].items():
        for name, value in counts.items():
            client.gauge(f"queue.{queue}.{name}", value)
    client.gauge("dead_letter.dead", now["dead_letter"]["dead"])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _lenient(value: Any) -> str:
    """A field made of job names and reasons, decoded so that bytes not UTF-8 cannot break a read."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
