"""``JobHandle``: what ``Job.enqueue`` returns, to follow one job to its end."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import redis
from rq.job import Job as RQJob
from rq.serializers import JSONSerializer

from .. import _keys
from ..errors import NoSuchJobError, ResultUnavailable
from ..model.outcome import Negative, Status

_RQ_STATUS = {
    "queued": Status.QUEUED,
    "scheduled": Status.SCHEDULED,
    "deferred": Status.SCHEDULED,
    "started": Status.STARTED,
    "failed": Status.DEAD_LETTERED,
    "stopped": Status.DEAD_LETTERED,
    "canceled": Status.DEAD_LETTERED,
}
FINAL = frozenset({Status.SUCCEEDED, Status.NEGATIVE, Status.DEAD_LETTERED})


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class JobHandle:
    """One enqueued job: its id, where it is now, and its result."""

    def __init__(
        self,
        job_id: str,
        job: str,
        connection: redis.Redis,
        *,
        deduplicated: bool = False,
        due_at: float | None = None,
    ) -> None:
        self.id = job_id
        self.job = job
        self.connection = connection
        # A unique job already queued, scheduled or running: this handle is that job's, nothing was added.
        self.deduplicated = deduplicated
        # When the job is due (epoch seconds, Redis's clock), if it was enqueued for later.
        self.due_at = due_at

    def __repr__(self) -> str:
        extra = ", deduplicated=True" if self.deduplicated else ""
        return f"JobHandle(id={self.id!r}, job={self.job!r}{extra})"

    def status(self) -> Status:
        """Where the job is now (one Redis round trip)."""
        raw_status, raw_outcome = self.connection.hmget(
            RQJob.key_for(self.id), ["status", _keys.FIELD_OUTCOME]
        )
        status = _status(raw_status, raw_outcome)
        if status is not None:
            return status
        if self.connection.exists(_keys.dead_letter_entry(self.id)):
            return Status.DEAD_LETTERED
        raise NoSuchJobError(
            f"Redis holds no job {self.id} ({self.job}): its result expired (see the job's "
            "result_ttl_s) or it was never enqueued here"
        )

    def result(self) -> Any:
        """The value ``perform`` returned, or its ``Negative``; raises ResultUnavailable before that."""
        status = self.status()
        if status not in (Status.SUCCEEDED, Status.NEGATIVE):
            hint = "see `stalwart dlq show " + self.id + "`" if status is Status.DEAD_LETTERED else "wait()"
            raise ResultUnavailable(f"job {self.id} ({self.job}) is {status}, it has no result; {hint}")
        value = RQJob.fetch(self.id, connection=self.connection, serializer=JSONSerializer).return_value()
        negative = Negative.from_json(value)
        return negative if negative is not None else value

    def wait(self, timeout_s: float = 30.0, poll_s: float = 0.05) -> Status:
        """Block until the job has ended (succeeded, negative or dead-lettered) and return its status."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.status()
            if status in FINAL:
                return status
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {self.id} ({self.job}) is still {status} after {timeout_s} s")
            time.sleep(poll_s)


def statuses(connection: redis.Redis, job_ids: Sequence[str]) -> list[Status | None]:
    """Where each of many jobs is now, in one round trip; None for a job Redis no longer holds
    (its result expired, or it lives on only in the dead-letter queue)."""
    with connection.pipeline(transaction=False) as pipeline:
        for job_id in job_ids:
            pipeline.hmget(RQJob.key_for(job_id), ["status", _keys.FIELD_OUTCOME])
        return [_status(raw_status, raw_outcome) for raw_status, raw_outcome in pipeline.execute()]


def _status(raw_status: bytes | str | None, raw_outcome: bytes | str | None) -> Status | None:
    """A job's status from its RQ status and stalwart's outcome field; None if it has no hash."""
    if raw_status is None:
        return None
    rq_status = _text(raw_status)
    if rq_status == "finished":
        return Status(_text(raw_outcome)) if raw_outcome else Status.SUCCEEDED
    return _RQ_STATUS.get(rq_status, Status.QUEUED)
