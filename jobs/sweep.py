"""Keeping the dead-letter queue whole: sweeping RQ's failed registries in, archiving old entries out.

- ``sweep`` moves jobs that reached RQ's own ``FailedJobRegistry`` by a path the
  worker did not intercept (RQ's maintenance failing a job whose worker vanished,
  say) into the dead-letter queue, so no failure is left where nobody looks.
- ``archive`` moves entries older than a limit to a JSONL file, fsynced before
  the entries are deleted: an optional retention that never deletes silently.

The worker runs both during RQ's maintenance; the CLI runs them on demand.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from . import _keys, _records
from ._rq_job import SafeRQJob
from .alerts import dead_letter_alert, raise_alert
from .dead_letter import DeadLetterEntry, DeadLetterQueue, audit_record
from .outcome import Classification, Status
from .payload import PoisonPayload, decode

log = logging.getLogger("stalwart.sweep")


def sweep(connection: redis.Redis, queues: Iterable[str]) -> list[str]:
    """Move every job in these queues' failed registries into the dead-letter queue; returns their ids."""
    dlq = DeadLetterQueue(connection)
    moved = []
    for name in queues:
        registry = Queue(name, connection=connection, serializer=JSONSerializer).failed_job_registry
        for job_id in registry.get_job_ids():
            entry = _entry_for_failed(connection, job_id, name)
            added = entry is not None and not dlq.exists(job_id)
            with connection.pipeline() as pipeline:
                if entry is not None and added:
                    dlq.put(
                        entry,
                        pipeline=pipeline,
                        audit=audit_record("sweep", "dead", by="worker", source=f"rq:failed:{name}"),
                    )
                    raise_alert(dead_letter_alert(entry), pipeline=pipeline)
                registry.remove(job_id, pipeline=pipeline)
                pipeline.execute()
            if entry is not None and added:
                dlq.after_dead_letter(entry)  # the job's on_dead_letter hook runs on this path too
            if entry is not None:
                moved.append(job_id)
                log.error(
                    "moved job %s from RQ's failed registry of %s into the dead-letter queue: %s",
                    job_id,
                    name,
                    entry.message,
                    extra={"job_id": job_id, "job": entry.job, "classification": str(entry.classification)},
                )
    return moved


def _entry_for_failed(connection: redis.Redis, job_id: str, queue: str) -> DeadLetterEntry | None:
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
        decode(job.func_name, job.instance, job.args, job.kwargs)
    except PoisonPayload as err:
        outcome = _records.poison(job, attempt, str(err))
    else:
        outcome = _records.abandoned(job, reason or "RQ marked it failed without a reason")
        outcome.attempt = attempt
        if "abandoned" not in reason.lower():
            outcome.classification = Classification.NON_RETRYABLE
            outcome.error_type = "FailedInRQ"
    outcome.status = Status.DEAD_LETTERED
    return _records.entry_for(job, outcome)


def archive(
    dlq: DeadLetterQueue, older_than: timedelta, path: Path | str, now: datetime | None = None
) -> int:
    """Move entries whose last failure is older than ``older_than`` to the JSONL file ``path``; count them.

    Each line is one whole entry, audit trail included. Lines are appended and
    fsynced before the entries are deleted from Redis.
    """
    cutoff = (now or datetime.now(timezone.utc)) - older_than
    ids = [
        i.decode() if isinstance(i, bytes) else str(i)
        for i in dlq.connection.zrangebyscore(_keys.DEAD_LETTER_INDEX, "-inf", cutoff.timestamp())
    ]
    moved = 0
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(ids), 500):
        entries = dlq.get_many(ids[start : start + 500], with_audit=True)
        with target.open("a", encoding="utf-8") as out:
            for entry in entries:
                out.write(entry.to_json() + "\n")
            out.flush()
            os.fsync(out.fileno())
        with dlq.connection.pipeline() as pipeline:
            for entry in entries:
                dlq.remove(entry, pipeline=pipeline)
            pipeline.execute()
        moved += len(entries)
    if moved:
        log.info("archived %d dead-letter entries older than %s to %s", moved, cutoff.isoformat(), target)
    return moved


def retention_from_environment() -> tuple[timedelta, Path] | None:
    """``STALWART_DLQ_RETENTION_DAYS`` and ``STALWART_DLQ_ARCHIVE``, when both are set."""
    days = os.environ.get("STALWART_DLQ_RETENTION_DAYS")
    path = os.environ.get("STALWART_DLQ_ARCHIVE")
    if not days or not path:
        return None
    return timedelta(days=float(days)), Path(path)
