"""What runs after a job was dead-lettered: its ``on_dead_letter`` hook and the queue's size check.

Neither may undo or block the entry, which is already stored: each runs in its
own ``try``, and a failure is logged with the entry's id.
"""

from __future__ import annotations

import logging

import redis

from ..dead_letter import DeadLetterQueue
from ..model.definition import REGISTRY
from ..model.entry import DeadLetterEntry

log = logging.getLogger("stalwart.dead_letter")


def after_dead_letter(connection: redis.Redis, entry: DeadLetterEntry) -> None:
    """Run the job's ``on_dead_letter`` hook, then check the dead-letter queue's size."""
    job_cls = REGISTRY.get(entry.job)
    if job_cls is not None:
        instance = job_cls(
            job_id=entry.id,
            attempt=entry.attempts,
            request_id=entry.request_id,
            idempotency_key=entry.idempotency_key,
        )
        try:
            instance.on_dead_letter(entry)
        except Exception:
            log.exception(
                "on_dead_letter of %s raised for entry %s; the entry is stored regardless",
                entry.job,
                entry.id,
                extra={"job_id": entry.id, "job": entry.job},
            )
    try:
        DeadLetterQueue(connection).check_size()
    except redis.RedisError:
        log.exception("could not check the dead-letter queue's size after dead-lettering %s", entry.id)
