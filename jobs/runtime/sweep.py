"""Sweeping RQ's failed registries into the dead-letter queue, so no failure is left where nobody looks.

A job reaches RQ's own ``FailedJobRegistry`` by a path the worker did not
intercept (RQ's maintenance failing a job whose worker vanished, say). The
worker sweeps during RQ's maintenance; ``stalwart dlq sweep`` does it on demand.
Each swept job ends through the finishing path, like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from ..dead_letter import DeadLetterQueue
from ..dead_letter.audit import audit_record
from ..finishing import records
from ..finishing.path import Ending, finish
from ..model.payload import PoisonPayload
from ..rq_adapter.job_format import SafeRQJob

log = logging.getLogger("stalwart.sweep")


def sweep(connection: redis.Redis, queues: Iterable[str]) -> list[str]:
    """Move every job in these queues' failed registries into the dead-letter queue; returns their ids."""
    dlq = DeadLetterQueue(connection)
    moved = []
    for name in queues:
        registry = Queue(name, connection=connection, serializer=JSONSerializer).failed_job_registry
        for job_id in registry.get_job_ids():
            ending = _ending_for_failed(connection, job_id, name)
            # A job the worker dead-lettered is in RQ's registry too: only the registry entry goes.
            added = ending is not None and not dlq.exists(job_id)
            with connection.pipeline() as pipeline:
                if ending is not None and added:
                    ending.write(pipeline)
                registry.remove(job_id, pipeline=pipeline)
                pipeline.execute()
            if ending is None or ending.entry is None:
                continue
            if added:
                ending.after()  # the job's on_dead_letter hook runs on this path too
            moved.append(job_id)
            log.error(
                "moved job %s from RQ's failed registry of %s into the dead-letter queue: %s",
                job_id,
                name,
                ending.entry.message,
                extra={
                    "job_id": job_id,
                    "job": ending.entry.job,
                    "classification": str(ending.entry.classification),
                },
            )
    return moved


def _ending_for_failed(connection: redis.Redis, job_id: str, queue: str) -> Ending | None:
    try:
        fetched = SafeRQJob.fetch(job_id, connection=connection, serializer=JSONSerializer)
    except Exception:  # noqa: BLE001 - a registry entry whose job hash is gone: nothing to keep
        log.warning("RQ's failed registry of %s lists job %s, whose data is gone; removing it", queue, job_id)
        return None
    if not isinstance(fetched, SafeRQJob):
        raise TypeError(f"expected a SafeRQJob, got {type(fetched).__name__}")
    job = fetched
    result = job.latest_result()
    # RQ records why in a Result, or (older paths, FailedJobRegistry.add) in the job's exc_info field.
    reason = ((result.exc_string if result is not None else None) or job._exc_info or "").strip()
    attempt = max(job.previous_attempts, 1)
    try:
        job.decoded()
    except PoisonPayload as err:
        outcome = records.poison(job, attempt, str(err))
    else:
        outcome = records.failed_in_rq(job, attempt, reason or "RQ marked it failed without a reason")
    source = Queue(queue, connection=connection, serializer=JSONSerializer).failed_job_registry.key
    audit = audit_record("sweep", "dead", by="worker", source=source)
    return finish(connection, job, outcome, audit=audit)
