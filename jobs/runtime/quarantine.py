"""Jobs whose hash cannot be trusted: dead-lettered as ``poison`` the moment a worker dequeues them.

A job hash with a malformed field (``SafeRQJob.corrupt``) never reaches RQ's
bookkeeping or a work-horse: RQ's own code would read the very fields that are
broken. Its id leaves RQ's intermediate list and the job is failed, with a
poison dead-letter entry (and its alert) in the same transaction, through the
finishing path like any other ending; the worker then takes the next job.
"""

from __future__ import annotations

import redis
from rq.job import JobStatus
from rq.queue import Queue

from ..finishing.path import finish
from ..rq_adapter.job_format import SafeRQJob
from .attempt import poisoned


def quarantine(connection: redis.Redis, job: SafeRQJob, queue: Queue) -> None:
    """Dead-letter ``job``, whose hash is corrupt, as poison, and take it off ``queue``; it never starts."""
    if not job.origin:
        job.origin = queue.name  # its own origin was unreadable: it was on this queue
    number = job.previous_attempts + 1
    outcome = poisoned(job, number, f"its job hash is corrupt: {job.corrupt}; it was not run")
    ending = finish(connection, job, outcome)
    with connection.pipeline() as pipeline:
        pipeline.lrem(queue.intermediate_queue_key, 1, job.id)
        ending.write(pipeline)
        job.set_status(JobStatus.FAILED, pipeline=pipeline)
        results = pipeline.execute(raise_on_error=False)
    errors = [r for r in results if isinstance(r, Exception)]
    # A key holding no hash refuses the writes to it; the entry and the rest are written all the same.
    if errors and not (job.key_is_not_a_hash and all("WRONGTYPE" in str(e) for e in errors)):
        raise errors[0]
    ending.after()
