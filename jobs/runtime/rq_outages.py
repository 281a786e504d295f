"""RQ's worker loop through a Redis outage: it ends quietly, and ``Worker`` starts it again later.

RQ's loop survives a lost connection only while it waits for a job. Anywhere
else (running a job, its bookkeeping, maintenance, its own teardown) an error
from Redis ends the loop with "found an unhandled exception, quitting" and a
traceback, and then ``register_death`` raises the same error out of ``work()``.
A full Redis (``OutOfMemoryError``) was worse: not even waited on while idle,
so the worker process exited 1.

``OutageTolerant`` is mixed into RQ's worker classes, before our bookkeeping:

- an outage in one of the loop's steps is noted (``outage``) and ends the loop
  the way a stop request does, without a traceback; ``Worker`` logs one line and
  starts a new loop after a back-off;
- the heartbeats of the worker and of a running job are kept trying: a job that
  is running keeps running, its work-horse watched, through the outage;
- teardown (``register_death``, leaving pub/sub) tolerates the outage: the
  worker's record in Redis expires on its own.

A job caught by the outage is not lost: one that could not start goes back to
its queue (the reaper's recovery of dequeued jobs); one that ran but whose end
Redis refused stays ``started`` and is settled as abandoned once its heartbeat
lapses: retried if idempotent, else dead-lettered "verify before replaying".
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import redis
from rq.exceptions import StopRequested

from ..connection.outage import describe, is_outage

log = logging.getLogger("stalwart.worker")


class RedisUnavailable(StopRequested):
    """Ends RQ's work loop on a Redis outage, quietly, as RQ ends it on a stop request."""


class OutageTolerant:
    """Mixed into RQ's worker classes: a Redis outage ends the work loop, never the process."""

    # The outage that ended the last work loop (None: it ended for another reason).
    outage: BaseException | None = None
    _heartbeat_failing = False
    # How long leaving pub/sub waits for RQ's pub/sub thread to end (it ends within milliseconds when
    # Redis answers the UNSUBSCRIBE).
    pubsub_join_s = 5.0

    # Provided by RQ's BaseWorker.
    name: str
    pubsub: Any

    @contextlib.contextmanager
    def _ends_the_loop_on_outage(self) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as err:
            if not is_outage(err):
                raise
            self.outage = err
            raise RedisUnavailable(describe(err)) from err

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        """RQ's start-up; an outage half-way leaves no pub/sub thread behind (and is raised)."""
        self.outage = None
        try:
            super().bootstrap(*args, **kwargs)  # type: ignore[misc]
        except redis.RedisError as err:
            if is_outage(err):
                self.unsubscribe()
            raise

    def execute_job(self, *args: Any, **kwargs: Any) -> None:
        """RQ's: run one job (fork and watch a work-horse, or run it here)."""
        with self._ends_the_loop_on_outage():
            super().execute_job(*args, **kwargs)  # type: ignore[misc]

    def dequeue_job_and_maintain_ttl(self, *args: Any, **kwargs: Any) -> Any:
        """RQ's: wait for a job (RQ itself waits out a lost connection here, not a full Redis)."""
        with self._ends_the_loop_on_outage():
            return super().dequeue_job_and_maintain_ttl(*args, **kwargs)  # type: ignore[misc]

    def check_for_suspension(self, *args: Any, **kwargs: Any) -> None:
        """RQ's: wait while the workers are suspended."""
        with self._ends_the_loop_on_outage():
            super().check_for_suspension(*args, **kwargs)  # type: ignore[misc]

    def run_maintenance_tasks(self) -> None:
        """RQ's maintenance and ours."""
        with self._ends_the_loop_on_outage():
            super().run_maintenance_tasks()  # type: ignore[misc]

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's worker heartbeat; a failed one is reported by the step that meets the outage next."""
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)  # type: ignore[misc]
            return
        try:
            super().heartbeat(timeout)  # type: ignore[misc]
        except redis.RedisError as err:
            if not is_outage(err):
                raise
            # Not the loop's end: RQ's wait for jobs reconnects on its own, and a dequeue on a full Redis
            # ends the loop with the one line that reports the outage.
            log.debug("could not renew worker %s's heartbeat: %s", self.name, describe(err))

    def maintain_heartbeats(self, job: Any, execution: Any) -> None:
        """Renew the running job's heartbeat; through an outage the job runs on, watched, and is renewed
        again once Redis takes writes (if its heartbeat lapsed meanwhile, a reaper may settle it)."""
        try:
            super().maintain_heartbeats(job, execution)  # type: ignore[misc]
        except redis.RedisError as err:
            if not is_outage(err):
                raise
            if not self._heartbeat_failing:
                log.warning(
                    "could not renew the heartbeat of job %s: %s; the job runs on",
                    job.id,
                    describe(err),
                    extra={"job_id": job.id},
                )
            self._heartbeat_failing = True
            return
        if self._heartbeat_failing:
            self._heartbeat_failing = False
            log.info("renewing the heartbeat of job %s again", job.id, extra={"job_id": job.id})

    def register_death(self) -> None:
        """RQ's record of this worker's end; through an outage, its record expires on its own instead."""
        try:
            super().register_death()  # type: ignore[misc]
        except redis.RedisError as err:
            if not is_outage(err):
                raise
            self.outage = self.outage or err
            log.debug("could not record worker %s's end (%s); its record expires", self.name, err)

    def unsubscribe(self) -> None:
        """Leave RQ's pub/sub channel, and let its thread close the pub/sub connection itself.

        RQ sends UNSUBSCRIBE, then stops the thread, waits 1 s for it and closes the pub/sub from this
        thread. The thread is often back in a 60 s read by then (the reply to UNSUBSCRIBE woke it before
        it was told to stop), so the wait runs out, and both threads close the same pub/sub at once:
        redis-py's ``PubSub.reset`` is not safe for that, and the worker died of an ``AttributeError``
        under load (seen in CI: exit 1 after SIGTERM). Here the thread is told to stop first, so the
        reply to UNSUBSCRIBE ends its read and its loop, and it closes the connection as it ends; no
        one else does. Through an outage there is no reply: the thread, a daemon, ends when its read
        fails or times out.
        """
        thread = getattr(self, "pubsub_thread", None)
        if thread is None:
            return
        thread.stop()
        try:
            self.pubsub.unsubscribe()
        except redis.RedisError as err:
            log.debug("left pub/sub without telling Redis (%s)", err)
        thread.join(timeout=self.pubsub_join_s)
        if thread.is_alive():
            log.debug("RQ's pub/sub thread is still reading; it closes its connection when it ends")


def outage_mid_job(job_id: str, error: BaseException, ran: bool) -> None:
    """Say what an outage did to the job at hand (the caller raises it on, to end the work loop)."""
    if not ran:
        log.error(
            "could not start job %s: %s; it did not run, and goes back to its queue once Redis takes "
            "writes again",
            job_id,
            describe(error),
            extra={"job_id": job_id},
        )
        return
    log.error(
        "could not record how job %s ended: %s; it stays started, and is settled as abandoned once its "
        "heartbeat lapses (retried if idempotent, else dead-lettered: verify its effect before replaying)",
        job_id,
        describe(error),
        extra={"job_id": job_id},
    )
