"""RQ's scheduler, kept alive through Redis outages.

RQ's scheduler process moves due retries from the scheduled registry to their
queue. On a Redis error it dies, and RQ restarts it only at the next
maintenance, up to ten minutes later: every retry waits that long. This one
logs, backs off (at most 5 s), and carries on.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import redis
from rq.queue import Queue
from rq.scheduler import SCHEDULER_LOCKING_KEY_TEMPLATE, RQScheduler
from rq.utils import current_timestamp

from ..connection.outage import describe, is_outage
from ..rq_adapter.job_format import SafeRQJob
from .process import die_with_parent
from .quarantine import quarantine

log = logging.getLogger("stalwart.scheduler")

MAX_BACKOFF_S = 5.0

# RQ's scheduler refreshes its queue locks to 61 s every second. A lock left with
# less than 51 s has not been refreshed for 10 s: its scheduler died (a SIGKILLed
# worker takes its scheduler with it), and RQ would let it block scheduling for
# the rest of the minute. Deleted only if unchanged, so a live scheduler keeps it.
STALE_LOCK_S = 10
_RELEASE_STALE = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 and ttl < tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


def release_stale_locks(connection: redis.Redis, queues: list[str]) -> list[str]:
    """Free the scheduler locks of these queues whose holder stopped refreshing them; returns the queues."""
    release = connection.register_script(_RELEASE_STALE)
    freed = []
    for name in queues:
        if release(keys=[SCHEDULER_LOCKING_KEY_TEMPLATE % name], args=[(61 - STALE_LOCK_S) * 1000]) == 1:
            freed.append(name)
            log.warning("the scheduler for %s stopped refreshing its lock; another worker takes over", name)
    return freed


class ResilientScheduler(RQScheduler):
    """An RQ scheduler whose loop survives Redis going away, filling up, and coming back."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Built in the worker's process: the scheduler's process is its child, and must not outlive it.
        self._worker_pid = os.getpid()

    @property
    def should_reacquire_locks(self) -> bool:
        """Whether some of its queues' locks are not its own: it tries for them every round.

        RQ tries again only every ten minutes. A worker serving several queues whose scheduler took over
        some of a dead worker's queues (their locks went stale, and were freed, a few seconds apart) left
        the others unscheduled that long: their retries waited ten minutes. One SET NX a round per queue
        it lacks is the cost.
        """
        return set(self.acquired_locks) != set(self._queue_names)

    def work(self) -> None:
        """RQ's loop (reacquire locks, heartbeat, move due jobs, sleep), with Redis outages waited out.

        It runs in a process of its own: whatever ends it is logged here, as a JSON line, so that
        multiprocessing never prints a raw traceback into the worker's log.
        """
        try:
            die_with_parent(self._worker_pid)
            self._install_signal_handlers()  # type: ignore[no-untyped-call]
            self._loop()
            self._stop()
        except Exception:
            log.exception("the scheduler stopped on an error; its worker starts another within seconds")

    def _loop(self) -> None:
        backoff = self.interval
        registered = False
        while not self._stop_requested:
            try:
                if not registered:
                    self.register_birth()
                    registered = True
                if self.should_reacquire_locks:
                    self.acquire_locks()  # type: ignore[no-untyped-call]
                self.heartbeat()  # type: ignore[no-untyped-call]
                self.enqueue_scheduled_jobs()
                backoff = self.interval
                time.sleep(self.interval)
            except redis.RedisError as err:
                if not is_outage(err):
                    raise
                log.warning("the scheduler: %s; trying again in %.0f s", describe(err), backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _stop(self) -> None:
        """RQ's stop (release the locks, remove the scheduler's record); through an outage, both expire."""
        try:
            self.stop()  # type: ignore[no-untyped-call]
        except redis.RedisError as err:
            if not is_outage(err):
                raise
            log.warning(
                "the scheduler stopped without releasing its locks: %s; they expire within %d s, then "
                "another worker's scheduler takes over",
                describe(err),
                STALE_LOCK_S,
            )

    def enqueue_scheduled_jobs(self) -> None:
        """Move due jobs to their queues, as RQ does, reading them as ``SafeRQJob``.

        RQ's own reader raised on a corrupt job hash, every round, and no due job of that queue moved
        again (a burst worker exited 1); and it acted on fields stalwart never writes (rate limits). A
        job whose hash is corrupt is dead-lettered as poison here instead, and the others move on.
        """
        self._status = self.Status.WORKING
        if not self._scheduled_job_registries and self._acquired_locks:
            self.prepare_registries()
        for registry in self._scheduled_job_registries:
            job_ids = registry.get_jobs_to_schedule(current_timestamp())
            if not job_ids:
                continue
            queue = Queue(registry.name, connection=self.connection, serializer=self.serializer)
            jobs = SafeRQJob.fetch_many(job_ids, connection=self.connection, serializer=self.serializer)
            for job in jobs:
                if isinstance(job, SafeRQJob) and job.corrupt:
                    quarantine(self.connection, job, queue)
            with self.connection.pipeline() as pipeline:
                for job_id, job in zip(job_ids, jobs, strict=True):
                    if isinstance(job, SafeRQJob) and not job.corrupt:
                        queue._enqueue_job(job, pipeline=pipeline, at_front=job.should_enqueue_at_front())
                    registry.remove(job_id, pipeline=pipeline)
                pipeline.execute()
        self._status = self.Status.STARTED
