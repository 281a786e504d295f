"""Taking a job from several queues without a moment where it belongs to no list.

RQ takes a job from one queue with BLMOVE into the queue's intermediate list,
where a worker that dies before starting it leaves it for the reaper to put
back. From several queues RQ uses BLPOP, which hands the id to the worker and
keeps it nowhere: a worker killed at that moment, or one whose connection Redis
had not yet seen close, lost the job for good (seen in a test: a job enqueued
just after a 3-queue worker was SIGKILLed was in no list, never run, in 2 of 5
runs). ``ReliableQueue`` takes
from several queues with LMOVE, in priority order, into each one's intermediate
list, and while all are empty blocks on the first one for at most
``BLOCK_S`` before looking at all of them again: a job on a later queue may
wait that long to start when the worker was idle.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from redis import Redis
from rq import Queue
from rq.exceptions import DequeueTimeout
from rq.intermediate_queue import IntermediateQueue
from rq.utils import as_text

BLOCK_S = 0.5


class ReliableQueue(Queue):
    """RQ's queue, whose dequeue from several queues never leaves a job in no list."""

    @classmethod
    def dequeue_any(  # noqa: PLR0917 - RQ's signature
        cls,
        queues: Iterable[Queue],
        timeout: int | None,
        connection: Redis,
        job_class: Any = None,
        serializer: Any = None,
        death_penalty_class: Any = None,
    ) -> tuple[Any, Queue] | None:
        """The first job of the first non-empty queue, moved into its intermediate list; with ``timeout``,
        waits up to that long (raising DequeueTimeout), else returns None when all are empty."""
        queue_list = list(queues)
        keys = [queue.key for queue in queue_list]
        if len(keys) == 1:
            return super().dequeue_any(
                queue_list,
                timeout,
                connection=connection,
                job_class=job_class,
                serializer=serializer,
                death_penalty_class=death_penalty_class,
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            found = _take_first(connection, keys)
            if found is None:
                if deadline is None:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DequeueTimeout(timeout, keys)
                # BLMOVE takes fractions of a second (Redis 6); redis-py's signature says whole seconds.
                moved = connection.execute_command(  # type: ignore[no-untyped-call]
                    "BLMOVE", keys[0], _intermediate(keys[0]), "LEFT", "RIGHT", min(BLOCK_S, left)
                )
                found = (keys[0], moved) if moved is not None else None
            if found is None:
                continue
            queue_key, job_id = found[0], as_text(found[1])
            fetched = cls._fetch_dequeued_job(
                connection,
                queue_key,
                job_id,
                job_class=job_class,
                serializer=serializer,
                death_penalty_class=death_penalty_class,
            )
            if fetched is not None:
                return fetched


def _take_first(connection: Redis, keys: list[str]) -> tuple[str, Any] | None:
    """LMOVE from each queue in turn into its intermediate list; the first job taken, or None."""
    for key in keys:
        moved = connection.lmove(key, _intermediate(key))
        if moved is not None:
            return key, moved
    return None


def _intermediate(queue_key: str) -> str:
    return str(IntermediateQueue.get_intermediate_queue_key(queue_key))
