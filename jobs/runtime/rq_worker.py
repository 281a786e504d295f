"""The RQ side of the worker: RQ's worker classes, doing RQ's part only.

RQ does the queueing, the forking and the heartbeats (the scheduler is ours: scheduler.py). What it
must not do is decide what a job is or what its ending means, so
``_Bookkeeping.perform_job`` runs the attempt (``attempt.run``), plans its
writes through the finishing path, and records them with RQ's own writes for
a JSON result, a reschedule or a failure, in one transaction fenced by the
attempt's token (``recording.record``).
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable
from typing import Any, cast

import redis
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.job import Job as RQJob
from rq.queue import Queue
from rq.utils import now
from rq.worker import BaseWorker, SimpleWorker
from rq.worker import Worker as ForkingRQWorker
from rq.worker_registration import clean_worker_registry

from .. import settings
from ..connection.outage import is_outage
from ..dead_letter import DeadLetterQueue
from ..dead_letter.archive import archive, retention
from ..errors import JobsError
from ..finishing.path import finish
from ..model.outcome import Status
from ..rq_adapter.job_format import SafeRQJob
from ..rq_adapter.schedule import adopt, lead_and_move
from ..rq_adapter.start import REQUEUED, STARTED, start_attempt
from . import attempt as attempts
from . import heartbeats, recording
from .process import die_with_parent
from .quarantine import quarantine
from .reaper import settle
from .rq_outages import OutageTolerant, outage_mid_job
from .sweep import sweep
from .tally import DEAD_LETTERED, Tally, outcome_of, outcome_of_verdict

__all__ = ["ForkingWorker", "InProcessWorker"]

log = logging.getLogger("stalwart.worker")


class _Bookkeeping:
    """Mixed into RQ's worker classes: runs stalwart jobs and records how each ended."""

    _current: tuple[SafeRQJob, Execution] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = {}

    # The concurrency slot of the execution whose heartbeats this worker renews (found once per execution).
    _slots: dict[str, tuple[str, str] | None]
    # How the attempts run here ended, for the worker's stop line (set by runtime.worker.Worker).
    tally: Tally | None = None
    # Where the signals that ask this worker to stop (SIGTERM, SIGINT) are noted, for the stop line.
    stop_signals: list[int] | None = None

    # Reconnect to a Redis that went away within seconds, not RQ's minute.
    max_connection_wait_time = 5.0
    # Record an attempt's end through a Redis outage, however long (see outages.py).
    waits_out_outages = True

    # Provided by RQ's BaseWorker.
    _stop_requested: bool
    _shutdown_requested_date: Any
    _stopped_job_id: str | None
    last_cleaned_at: Any
    job_monitoring_interval: int
    key: str
    heartbeat: Callable[..., None]
    serialize: Callable[[], dict[str, Any]]
    connection: Any
    serializer: Any
    scheduler: Any
    queues: list[Queue]
    death_penalty_class: Any
    name: str
    default_result_ttl: int
    executions: dict[str, Any]
    cleanup_execution: Callable[..., None]

    def get_heartbeat_ttl(self, job: RQJob, working_time: float = 0.0) -> int:
        """A started job whose heartbeat is older than this is abandoned (see reaper.py)."""
        return settings.current().heartbeat_ttl_s

    def beat(self) -> None:
        """Renew the heartbeat of the job running in this process (in-process mode; called by the Reaper)."""
        current = self._current
        if current is not None:
            self.maintain_heartbeats(*current)

    def maintain_heartbeats(self, job: RQJob, execution: Execution) -> None:
        """The heartbeats of the worker, the execution and the job, and the attempt's concurrency slot.

        Both of RQ's loops come here: the Reaper's ``beat`` in-process, RQ's loop watching the work-horse
        when forking (the parent, which never ran the attempt, finds the slot by the job's name). Never
        RQ's renewal, which could delete a job (``heartbeats.py``).
        """
        ttl = int(self.get_heartbeat_ttl(job))
        heartbeats.renew(
            cast(heartbeats.Beating, self),
            self.job_monitoring_interval + 60,
            ttl,
            [(job, execution)],
            self._slots,
        )

    def execute_job(self, job: RQJob, queue: Queue) -> None:
        """Run the job (in a work-horse, or here); a job whose hash is corrupt is poison at once instead."""
        safe = _safe(job)
        if safe.corrupt:
            quarantine(self.connection, safe, queue)
            self._count(DEAD_LETTERED)
            return
        super().execute_job(job, queue)  # type: ignore[misc]
        if self.tally is not None:
            self.tally.collect()  # what the work-horse reported, if it was one

    def _count(self, outcome: str | None) -> None:
        if self.tally is not None and outcome is not None:
            self.tally.add(outcome)

    def request_stop(self, signum: int, frame: Any) -> None:
        """RQ's warm shutdown, noting which signal asked for it."""
        if self.stop_signals is not None:
            self.stop_signals.append(signum)
        super().request_stop(signum, frame)  # type: ignore[misc]

    def _install_signal_handlers(self) -> None:
        """RQ's handlers; a stop asked for before they were installed makes its loop end at once."""
        super()._install_signal_handlers()  # type: ignore[misc]
        if self.stop_signals:
            self._stop_requested = True

    def perform_job(self, rq_job: RQJob, queue: Queue, execution: Execution) -> bool:
        """Run one attempt of ``job`` and hand its outcome to RQ's success, retry or failure path."""
        job = _safe(rq_job)
        self._current = (job, execution)
        try:
            return self._perform(job, queue, execution)
        finally:
            self._current = None

    def _perform(self, job: SafeRQJob, queue: Queue, execution: Execution) -> bool:
        number = job.previous_attempts + 1
        job.execution_id = execution.id  # the attempt's token names it (finishing/fence.py)
        try:
            # Every dequeue moves the id into its queue's intermediate list (ReliableQueue): it leaves it now.
            started = start_attempt(cast(BaseWorker, self), job, queue, self.get_heartbeat_ttl(job))
            if started != STARTED:
                log.warning(
                    "job %s was not started here: this worker stalled before starting it for longer than "
                    "the heartbeat TTL, and the job %s; it did not run here",
                    job.id,
                    "is back on its queue" if started == REQUEUED else "goes back on its queue",
                    extra={"job_id": job.id},
                )
                return False
        except Exception as err:
            # RQ's "started" writes did not land: the attempt never started, nothing ran. The job stays in
            # its queue's intermediate list, from which the reaper puts it back on its queue.
            if is_outage(err):
                outage_mid_job(job.id, err, ran=False)
                raise  # the worker's loop waits the outage out (OutageTolerant)
            log.exception("could not start job %s; it did not run", job.id, extra={"job_id": job.id})
            return False
        job.started_at = now()
        outcome = attempts.run_for_worker(
            attempts.Attempt(job, number, self.connection, self.death_penalty_class)
        )
        recorder = recording.Recorder(self, job, queue, execution, patient=self.waits_out_outages)
        recorder.record(outcome, finish(self.connection, job, outcome))
        self._count(outcome_of(outcome.status))
        return outcome.status not in (Status.SCHEDULED, Status.DEAD_LETTERED)

    def handle_job_failure(
        self,
        job: RQJob,
        queue: Queue,
        started_job_registry: Any = None,
        exc_string: str = "",
        execution: Execution | None = None,
    ) -> None:
        """RQ calls this for an attempt that did not run to an end here: its work-horse died, or was stopped.

        The attempt is settled like any abandoned one (``reaper.settle``); a death the worker saw counts
        toward the job's kill limit, a stop asked for by a person does not.
        """
        stopped = self._stopped_job_id == job.id
        self._stopped_job_id = None
        with self.connection.pipeline() as pipeline:
            self.cleanup_execution(job, pipeline=pipeline, execution=execution)
            pipeline.execute()
        verdict = settle(
            self.connection,
            job.id,
            exc_string.strip() or "its worker stopped it",
            execution_id=execution.id if execution is not None else None,
            died=not stopped,
        )
        self._count(outcome_of_verdict(verdict))

    def clean_registries(self) -> None:
        """RQ's registry maintenance, minus its handling of abandoned jobs, which is the reaper's.

        RQ's started-registry cleanup fails a job whose heartbeat lapsed into its own failed registry
        (idempotent or not, its worker dead or only cut off from Redis), and its intermediate-list
        cleanup fails a dequeued job it finds there after a minute, and nobody puts it back. The reaper
        settles the first (``reaper.settle``) and puts the second back on its queue, within a heartbeat
        TTL. What stalwart jobs never use (dependencies, rate limits) is not cleaned.
        """
        for queue in self.queues:
            if queue.acquire_maintenance_lock():
                for registry in (
                    queue.finished_job_registry,
                    queue.failed_job_registry,
                    queue.deferred_job_registry,
                ):
                    registry.cleanup()
                clean_worker_registry(queue)
                queue.release_maintenance_lock()  # type: ignore[no-untyped-call]
        self.last_cleaned_at = now()

    def run_maintenance_tasks(self) -> None:
        """RQ's maintenance, then ours: sweep RQ's failed registries, apply retention, check the size."""
        super().run_maintenance_tasks()  # type: ignore[misc]
        dlq = DeadLetterQueue(self.connection)
        try:
            sweep(self.connection, [q.name for q in self.queues])
            kept = retention(settings.current())
            if kept is not None:
                archive(dlq, *kept)
            dlq.check_size()
        except StopRequested:
            raise  # SIGTERM during maintenance: RQ's handler says so by raising; it ends the loop
        except redis.RedisError as err:
            if is_outage(err):
                raise  # the worker's loop waits it out (OutageTolerant)
            log.exception("dead-letter maintenance failed; it will run again at the next maintenance")
        except JobsError as err:
            # Says what to do (an archive file that cannot be written, say): no traceback needed.
            log.error("dead-letter maintenance failed: %s; it will run again at the next maintenance", err)
        except Exception:
            # Maintenance runs again in a few minutes; a failure here must not stop the worker.
            log.exception("dead-letter maintenance failed; it will run again at the next maintenance")

    def _start_scheduler(self, burst: bool = False, *args: Any, **kwargs: Any) -> None:
        """RQ would start its scheduler process here. Ours is a thread the ``Worker`` runs (scheduler.py);
        a burst worker (``work(burst=True, with_scheduler=True)``) moves what is due once per loop."""
        if burst:
            adopt(self.connection, [q.name for q in self.queues])
            lead_and_move(self.connection)

    def handle_exception(self, job: RQJob, *exc_info: Any) -> None:
        """RQ would log the job's raw arguments here; our end-of-job line already said what failed."""


class ForkingWorker(OutageTolerant, _Bookkeeping, ForkingRQWorker):
    """RQ's forking worker: each job runs in a fresh work-horse process, watched through Redis outages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._worker_pid = os.getpid()  # the horses' parent: a horse whose parent is gone ends at once

    def main_work_horse(self, job: RQJob, queue: Queue) -> None:
        """The work-horse dies with its worker: an orphan finishing a job nobody watches would race the
        reaper that settles the job as abandoned.

        It also leaves the heap it inherited out of its garbage collections (``gc.freeze``): a horse
        forked while the worker's counters sat just under the full-collection threshold otherwise ran
        a full collection of the whole inherited heap, 40-50 ms, with copy-on-write page copies, and
        so did the next few horses, until the worker collected: p99 enqueue-to-start latency went
        from 27 ms (plain RQ) to 120-200 ms.
        """
        die_with_parent(self._worker_pid)
        gc.freeze()
        if self.tally is not None:
            self.tally.entered_horse()
        super().main_work_horse(job, queue)


class InProcessWorker(OutageTolerant, _Bookkeeping, SimpleWorker):
    """RQ's simple worker: jobs run in the worker's own process (faster, no isolation)."""


def _safe(job: RQJob) -> SafeRQJob:
    if not isinstance(job, SafeRQJob):
        raise TypeError(f"stalwart workers run SafeRQJob jobs, got {type(job).__name__}")
    return job
