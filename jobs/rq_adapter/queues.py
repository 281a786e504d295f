"""RQ's queues and registries, read and moved for the worker, the CLI and the tests."""

from __future__ import annotations

from collections.abc import Sequence

import redis
from rq import Queue
from rq.serializers import JSONSerializer


def queue_counts(connection: redis.Redis) -> dict[str, dict[str, int]]:
    """Per queue RQ knows: jobs waiting, scheduled (retries) and running.

    Counted without RQ's cleanup (its ``count``): cleaning the started registry fails every job whose
    heartbeat lapsed into RQ's failed registry, behind the reaper's back.
    """
    queues = Queue.all(connection=connection)
    # One round trip for all queues (RQ's counts take one each): the metrics exporter reads this per scrape.
    with connection.pipeline(transaction=False) as pipeline:
        for queue in queues:
            pipeline.llen(queue.key)
            pipeline.zcard(queue.scheduled_job_registry.key)
            pipeline.zcard(queue.started_job_registry.key)
        found = pipeline.execute()
    return {
        queue.name: {"queued": int(queued), "scheduled": int(scheduled), "started": int(started)}
        for queue, queued, scheduled, started in zip(
            queues, found[0::3], found[1::3], found[2::3], strict=True
        )
    }


def known_queues(connection: redis.Redis) -> set[str]:
    """The names of every queue this Redis has seen (RQ keeps them in a set)."""
    return {q.name for q in Queue.all(connection=connection, serializer=JSONSerializer)}


def next_due(connection: redis.Redis, queues: Sequence[Queue]) -> float | None:
    """The epoch time at which the earliest scheduled job on ``queues`` is due, or None."""
    earliest: float | None = None
    for queue in queues:
        first = connection.zrange(queue.scheduled_job_registry.key, 0, 0, withscores=True)
        if first:
            due = float(first[0][1])
            earliest = due if earliest is None else min(earliest, due)
    return earliest


def has_scheduled(connection: redis.Redis, queues: list[Queue]) -> bool:
    """Whether any of ``queues`` has a job scheduled for later."""
    return any(connection.zcard(q.scheduled_job_registry.key) for q in queues)
