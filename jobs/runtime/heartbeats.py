"""Renewing heartbeats: the worker's, and each running attempt's execution, job and concurrency slot.

Both kinds of worker come here: RQ's forking loop while it watches a work-horse,
and stalwart's own loop (``engine.py``) from its Reaper thread, for every job
running in the process at once, in one round trip.

RQ's own renewal deleted the job's hash whenever its write of ``last_heartbeat``
added that field: it means to catch a hash recreated after the job was deleted,
but HSET counts fields, not keys. A job written without the field (every job
stalwart writes: RQ's empty fields are left out) and beaten before its start
wrote it was deleted, and lost. Here the job's field is written only while its
hash exists, and nothing is ever deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from rq.executions import Execution
from rq.job import Job as RQJob
from rq.utils import now

from ..rq_adapter.job_format import SafeRQJob
from ..rq_adapter.start import renew_job_heartbeat
from . import limits


class Beating(Protocol):
    """What renewing uses of RQ's worker."""

    connection: Any
    key: str
    heartbeat: Callable[..., None]
    serialize: Callable[[], dict[str, Any]]


def renew(
    worker: Beating,
    worker_ttl: int,
    heartbeat_ttl: int,
    running: Sequence[tuple[RQJob, Execution]],
    slots: dict[str, tuple[str, str] | None],
) -> None:
    """Renew the worker's heartbeat and those of ``running``'s attempts, then their concurrency slots.

    ``slots`` caches each execution's slot (None: its job has no limit), found once per execution;
    entries of executions no longer running are dropped.
    """
    with worker.connection.pipeline() as pipeline:
        worker.heartbeat(worker_ttl, pipeline=pipeline)
        for job, execution in running:
            execution.heartbeat(job.started_job_registry, heartbeat_ttl, pipeline=pipeline)
            renew_job_heartbeat(pipeline, job.key, now())
        if pipeline.execute()[0] == 1:
            # The worker's own hash had expired (the field was new): write it whole again, with its TTL.
            pipeline.hset(worker.key, mapping=worker.serialize())
            pipeline.expire(worker.key, worker_ttl)
            pipeline.execute()
    alive = {execution.id for _, execution in running}
    for gone in [key for key in slots if key not in alive]:
        del slots[gone]
    for job, execution in running:
        if execution.id not in slots:
            # Not one of ours (never, with our job class): no slot, and no error in the heartbeat loop.
            name = job.claimed()[0] if isinstance(job, SafeRQJob) else None
            slots[execution.id] = limits.slot(name, job.id, execution.id) if name is not None else None
        held = slots[execution.id]
        if held is not None:
            limits.renew(worker.connection, held)
