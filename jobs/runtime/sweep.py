"""Sweeping RQ's failed registries into the dead-letter queue, so no failure is left where nobody looks.

A job reaches RQ's own ``FailedJobRegistry`` by a path the worker did not
intercept: RQ's tools failing a job whose heartbeat lapsed (``rq info`` counts
a started registry, which fails its lapsed jobs), RQ's maintenance in an older
worker. The worker sweeps during its maintenance; ``stalwart dlq sweep`` does it
on demand. A job RQ failed as abandoned is settled like any abandoned attempt
(``reaper.settle``: retried if it is idempotent); any other ends through the
finishing path, dead-lettered. Both are fenced: an attempt the worker finished
or settled meanwhile only loses its stale registry entry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import redis
from redis.client import Pipeline
from rq import Queue
from rq.job import JobStatus
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from .. import _keys
from ..dead_letter import DeadLetterQueue
from ..dead_letter.audit import audit_record
from ..finishing import fence, records
from ..finishing.path import Ending, finish
from ..model.outcome import Status
from ..model.payload import PoisonPayload
from ..rq_adapter.job_format import SafeRQJob, fetch, job_key
from .reaper import settle

log = logging.getLogger("stalwart.sweep")

# Outcomes stalwart writes when it settles an attempt: a job with one of these and no open attempt was
# recorded already, and RQ's registry entry for it is only stale.
_RECORDED = (Status.SUCCEEDED.value, Status.NEGATIVE.value, Status.DEAD_LETTERED.value)


def sweep(connection: redis.Redis, queues: Iterable[str]) -> list[str]:
    """Move every job in these queues' failed registries into the dead-letter queue; returns their ids."""
    moved = []
    for name in queues:
        registry = Queue(name, connection=connection, serializer=JSONSerializer).failed_job_registry
        for job_id in registry.get_job_ids():
            if _abandoned_by_rq(connection, job_id, name, registry):
                continue
            ending = _dead_letter(connection, job_id, name, registry)
            if ending is None or ending.entry is None:
                continue
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


def _reason(job: SafeRQJob) -> str:
    """Why RQ failed the job: a Result, or (older paths, ``FailedJobRegistry.add``) its exc_info field."""
    result = job.latest_result()
    return ((result.exc_string if result is not None else None) or job._exc_info or "").strip()


def _abandoned_by_rq(connection: redis.Redis, job_id: str, queue: str, registry: FailedJobRegistry) -> bool:
    """Settle, as abandoned, an attempt RQ's own cleanup failed; True if it was one (and is now settled)."""
    try:
        reason = _reason(fetch(connection, job_id))
    except Exception:  # noqa: BLE001 - a hash that cannot be read is the dead-letter path's to report
        return False
    if "abandoned" not in reason.lower():
        return False
    verdict = settle(
        connection,
        job_id,
        f"its heartbeats lapsed and RQ failed it as abandoned ({reason})",
        queue=queue,
        status=JobStatus.FAILED,
        died=False,  # RQ's cleanup saw a lapse, not a death
    )
    if verdict is None:
        return False
    registry.remove(job_id)
    log.warning(
        "job %s, failed by RQ as abandoned, was settled: %s", job_id, verdict, extra={"job_id": job_id}
    )
    return True


def _dead_letter(
    connection: redis.Redis, job_id: str, queue: str, registry: FailedJobRegistry
) -> Ending | None:
    """Dead-letter one job of RQ's failed registry, unless stalwart recorded it already; fenced."""
    dlq = DeadLetterQueue(connection)
    planned: list[Ending] = []

    def decide(pipeline: Pipeline, state: fence.AttemptState) -> fence.Plan:
        planned.clear()
        pipeline.watch(_keys.dead_letter_entry(job_id))  # type: ignore[no-untyped-call]
        recorded = state.token is None and (state.outcome in _RECORDED or dlq.exists(job_id))
        if state.status is None:
            log.warning(
                "RQ's failed registry of %s lists job %s, whose data is gone; removing it", queue, job_id
            )
        elif state.status == JobStatus.FAILED and not recorded:
            try:
                planned.append(_ending_for_failed(connection, job_id, queue))
            except redis.RedisError:
                raise
            except Exception:
                log.exception(
                    "RQ's failed registry of %s lists job %s, which cannot be read; removing it",
                    queue,
                    job_id,
                )

        def write(p: Pipeline) -> None:
            for ending in planned:
                ending.write(p)
            registry.remove(job_id, pipeline=p)

        return write

    fence.settle(connection, job_key(job_id), decide)
    return planned[0] if planned else None


def _ending_for_failed(connection: redis.Redis, job_id: str, queue: str) -> Ending:
    job = fetch(connection, job_id)
    reason = _reason(job)
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
