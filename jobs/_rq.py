"""The RQ side of the worker: RQ's worker classes, with stalwart's bookkeeping mixed in.

RQ does the queueing, the forking, the heartbeats and the scheduling. What it
must not do is decide what a job is or what its ending means, so
``_Bookkeeping.perform_job`` decodes the payload through the registry, runs the
attempt, logs a line at its start and end, and hands RQ a JSON result, a
reschedule, or a failure.

Our writes (the outcome, the history, the dead-letter entry, a replay's
resolution) are planned before RQ's bookkeeping and written into the pipeline
RQ opens for it (``cleanup_execution``): no extra round trip, and they land
atomically with RQ's.
"""

from __future__ import annotations

import gc
import json
import logging
import math
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from redis.client import Pipeline
from rq.executions import Execution
from rq.job import Job as RQJob
from rq.job import JobStatus
from rq.queue import Queue
from rq.timeouts import JobTimeoutException
from rq.utils import now
from rq.worker import SimpleWorker
from rq.worker import Worker as ForkingRQWorker

from . import _keys, _records, circuits, execution, stats
from ._process import die_with_parent
from ._rq_job import SafeRQJob
from .abandoned import heartbeat_ttl_s, settle
from .alerts import circuit_alert, dead_letter_alert, raise_alert
from .context import request_context
from .dead_letter import DeadLetterEntry, DeadLetterQueue, audit_record
from .errors import JobsError
from .execution import Outcome
from .job import FAILED_JOB_TTL_S
from .logs import JobContext, job_context
from .outcome import Classification, Status
from .payload import PoisonPayload, decode, max_payload_bytes
from .scheduler import ResilientScheduler
from .sweep import archive, retention_from_environment, sweep

__all__ = ["ForkingWorker", "InProcessWorker", "SafeRQJob"]

log = logging.getLogger("stalwart.worker")

Writes = Callable[[Pipeline], None]


class _Bookkeeping:
    """Mixed into RQ's worker classes: runs stalwart jobs and records how each ended."""

    # The writes planned for the job being finished, and the entry it was dead-lettered as.
    _pending: tuple[str, Writes] | None = None
    _dead: DeadLetterEntry | None = None
    _current: tuple[SafeRQJob, Execution] | None = None

    # Reconnect to a Redis that went away within seconds, not RQ's minute.
    max_connection_wait_time = 5.0

    # Provided by RQ's BaseWorker.
    _stop_requested: bool
    _shutdown_requested_date: Any
    connection: Any
    serializer: Any
    scheduler: Any
    queues: list[Queue]
    death_penalty_class: Any
    prepare_job_execution: Callable[..., None]
    increment_failed_job_count: Callable[..., None]
    handle_execution_ended: Callable[..., None]
    maintain_heartbeats: Callable[..., None]
    _finalize_success: Callable[..., None]

    def get_heartbeat_ttl(self, job: RQJob, working_time: float = 0.0) -> int:
        """A started job whose heartbeat is older than this is abandoned (see abandoned.py)."""
        return heartbeat_ttl_s()

    def beat(self) -> None:
        """Renew the heartbeat of the job running in this process (in-process mode; called by the Reaper)."""
        current = self._current
        if current is not None:
            self.maintain_heartbeats(*current)

    def keep_scheduler(self) -> None:
        """Start this worker's scheduler if none is running for its queues (its lock has lapsed)."""
        if self._stop_requested or self._shutdown_requested_date is not None:
            return  # shutting down: RQ has stopped the scheduler on purpose
        scheduler = self.scheduler
        if scheduler is not None and (scheduler._process is None or not scheduler._process.is_alive()):
            scheduler.acquire_locks(auto_start=True)

    def perform_job(self, rq_job: RQJob, queue: Queue, execution: Execution) -> bool:
        """Run one attempt of ``job`` and hand its outcome to RQ's success, retry or failure path."""
        job = _safe(rq_job)
        self._current = (job, execution)
        try:
            return self._perform(job, queue, execution)
        finally:
            self._current = None

    def _perform(self, job: SafeRQJob, queue: Queue, execution: Execution) -> bool:
        self._pending = self._dead = None
        attempt = job.previous_attempts + 1
        try:
            self.prepare_job_execution(job, len(self.queues) == 1)
            job.started_at = now()
            outcome = self._run(job, attempt)
        except Exception as err:
            log.exception("could not run job %s", job.id, extra={"job_id": job.id})
            outcome = _records.framework_failure(job, attempt, err)
        if outcome.status is Status.SCHEDULED:
            self._plan(job, outcome)
            self._reschedule(job, queue, execution, outcome)
            return False
        if outcome.status is not Status.DEAD_LETTERED:
            self._plan(job, outcome)
            self._finalize_success(job, queue, execution, outcome.stored_result)
            return True
        self._plan(job, outcome)
        job._status = JobStatus.FAILED
        self.handle_execution_ended(job, queue, job.failure_callback_timeout)
        self.handle_job_failure(job, queue, exc_string=outcome.message or "", execution=execution)
        return False

    def _run(self, job: SafeRQJob, attempt: int) -> Outcome:
        try:
            size, limit = len(job.data), max_payload_bytes()
            if size > limit:
                raise PoisonPayload(
                    f"the payload is {size} bytes, over the {limit}-byte limit (STALWART_MAX_PAYLOAD_BYTES); "
                    "it was not decoded"
                )
            decoded = decode(job.func_name, job.instance, job.args, job.kwargs)
        except PoisonPayload as err:
            outcome = _records.poison(job, attempt, str(err))
            name, _, request_id = _records.payload_parts(job)
            with job_context(JobContext(request_id, job.id, name, attempt)):
                _log_end(outcome)
            return outcome
        context = JobContext(decoded.request_id, job.id, decoded.job.name, attempt)
        with job_context(context), request_context(decoded.request_id or job.id):
            breaker = circuits.breaker_for(decoded.job, self.connection)
            if breaker is not None:
                admission = breaker.admit()
                if not admission.allowed:
                    outcome = circuits.snooze(
                        decoded.job, job.id, attempt, admission.retry_in_s, job.snoozed_since
                    )
                    _log_end(outcome)
                    return outcome
            log.info("job started", extra={"outcome": "started", "duration_ms": None, "queue": job.origin})
            try:
                with (
                    stats.collecting() as counted,
                    self.death_penalty_class(
                        job.timeout or decoded.job.timeout_s, JobTimeoutException, job_id=job.id
                    ),
                ):
                    outcome = execution.run(decoded, job.id, attempt, job.history)
                outcome.app_counts = counted
            except JobTimeoutException as err:
                # The alarm fired between perform() returning and the timer being cancelled.
                outcome = _records.framework_failure(job, attempt, err, job_name=decoded.job.name)
            if breaker is not None:
                if outcome.status in (Status.SUCCEEDED, Status.NEGATIVE):
                    breaker.record_success()
                elif outcome.error is not None and breaker.record_failure(outcome.error):
                    raise_alert(circuit_alert(breaker, decoded.job.name, outcome), connection=self.connection)
            _log_end(outcome)
        return outcome

    def _plan(self, job: SafeRQJob, outcome: Outcome) -> None:
        """Decide what to write for ``outcome``; it is written inside RQ's pipeline by cleanup_execution."""
        counts = _counts(outcome)
        replay_of = _records.meta(job).get("replay_of")
        dlq = DeadLetterQueue(self.connection)
        # A replay's entry is read now, before RQ's transaction (the one extra round trip, on this rare path).
        original = _entry_or_none(dlq, replay_of) if isinstance(replay_of, str) else None
        fields: dict[Any, Any] = {_keys.FIELD_OUTCOME: outcome.status.value}
        if outcome.status in (Status.SCHEDULED, Status.DEAD_LETTERED) and outcome.history:
            fields[_keys.FIELD_HISTORY] = json.dumps(outcome.history)
        if outcome.snoozed_since is not None:
            # Snoozed by an open circuit: this was not an attempt.
            fields[_keys.FIELD_ATTEMPT] = outcome.attempt
            fields[_keys.FIELD_SNOOZED_SINCE] = outcome.snoozed_since
        elif job.snoozed_since is not None and outcome.status is not Status.DEAD_LETTERED:
            fields[_keys.FIELD_SNOOZED_SINCE] = ""  # it ran: a later snooze starts its own clock

        if outcome.status is Status.DEAD_LETTERED:
            entry = _records.entry_for(job, outcome)
            audit = None
            if original is not None:
                entry = original.continued_by(entry)
                audit = audit_record(
                    "replay-died",
                    "dead",
                    by="worker",
                    job_id=job.id,
                    classification=str(entry.classification),
                )
            self._dead = entry

            def writes(pipeline: Pipeline) -> None:
                dlq.put(entry, pipeline=pipeline, previous=original, audit=audit)
                raise_alert(dead_letter_alert(entry), pipeline=pipeline)
                stats.write(pipeline, counts)
                pipeline.hset(job.key, mapping=fields)
                pipeline.expire(job.key, FAILED_JOB_TTL_S)

        elif original is not None and outcome.status is not Status.SCHEDULED:
            resolved = audit_record(
                "replay-succeeded", "resolved", by="worker", job_id=job.id, outcome=outcome.status.value
            )

            def writes(pipeline: Pipeline) -> None:
                pipeline.hset(job.key, mapping=fields)
                dlq.set_status(original, "resolved", resolved, pipeline=pipeline)
                stats.write(pipeline, counts)

        else:

            def writes(pipeline: Pipeline) -> None:
                pipeline.hset(job.key, mapping=fields)
                stats.write(pipeline, counts)

        self._pending = (job.id, writes)

    def _reschedule(self, job: SafeRQJob, queue: Queue, execution: Execution, outcome: Outcome) -> None:
        """Put the job in RQ's scheduled registry, due after the backoff; the worker never sleeps on it."""
        job._status = JobStatus.SCHEDULED
        self.handle_execution_ended(job, queue, job.failure_callback_timeout)
        # RQ keeps whole seconds and truncates; round up so a retry never runs before its backoff.
        due = datetime.fromtimestamp(math.ceil(now().timestamp() + (outcome.retry_in_s or 0)), timezone.utc)
        with self.connection.pipeline() as pipeline:
            self.cleanup_execution(job, pipeline=pipeline, execution=execution)
            job.set_status(JobStatus.SCHEDULED, pipeline=pipeline)
            # When due, RQ's scheduler puts it at the front of its queue: the backoff is a retry's
            # wait, not the backoff plus however long a backlog of new jobs takes to drain.
            pipeline.hset(job.key, "enqueue_at_front", 1)
            queue.scheduled_job_registry.schedule(job, due, pipeline=pipeline)
            self.increment_failed_job_count(pipeline)
            pipeline.execute()

    def handle_job_failure(
        self,
        job: RQJob,
        queue: Queue,
        started_job_registry: Any = None,
        exc_string: str = "",
        execution: Execution | None = None,
    ) -> None:
        """RQ's failure handling, then the job's ``on_dead_letter`` hook and the queue's size alert.

        A job that RQ fails without it having run here was abandoned: its
        work-horse died (the parent process notices) or it was stopped.
        """
        if self._pending is None or self._pending[0] != job.id:
            # Not run to an end here: the work-horse died, or was stopped.
            with self.connection.pipeline() as pipeline:
                self.cleanup_execution(job, pipeline=pipeline, execution=execution)
                pipeline.execute()
            settle(self.connection, job.id, exc_string.strip() or "its worker stopped it")
            return
        super().handle_job_failure(  # type: ignore[misc]
            job, queue, started_job_registry=started_job_registry, exc_string=exc_string, execution=execution
        )
        dead, self._dead = self._dead, None
        if dead is not None:
            DeadLetterQueue(self.connection).after_dead_letter(dead)

    def cleanup_execution(self, job: RQJob, pipeline: Pipeline, execution: Execution | None = None) -> None:
        """RQ's cleanup, with our planned writes in the same pipeline."""
        super().cleanup_execution(job, pipeline, execution)  # type: ignore[misc]
        if self._pending is not None and self._pending[0] == job.id:
            self._pending[1](pipeline)
        self._pending = None

    def run_maintenance_tasks(self) -> None:
        """RQ's maintenance, then ours: sweep RQ's failed registries, apply retention, check the size."""
        super().run_maintenance_tasks()  # type: ignore[misc]
        dlq = DeadLetterQueue(self.connection)
        try:
            sweep(self.connection, [q.name for q in self.queues])
            retention = retention_from_environment()
            if retention is not None:
                archive(dlq, *retention)
            dlq.check_size()
        except Exception:
            # Maintenance runs again in a few minutes; a failure here must not stop the worker.
            log.exception("dead-letter maintenance failed; it will run again at the next maintenance")

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = "",
        log_format: str = "",
    ) -> None:
        """RQ's scheduler start-up, with a scheduler that survives Redis outages."""
        self.scheduler = ResilientScheduler(
            self.queues, connection=self.connection, serializer=self.serializer
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return  # another worker's scheduler holds these queues
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()
        else:
            self.scheduler.start()

    def handle_exception(self, job: RQJob, *exc_info: Any) -> None:
        """RQ would log the job's raw arguments here; our end-of-job line already said what failed."""


class ForkingWorker(_Bookkeeping, ForkingRQWorker):
    """RQ's forking worker: each job runs in a fresh work-horse process."""

    def main_work_horse(self, job: RQJob, queue: Queue) -> None:
        """The work-horse dies with its worker: an orphan finishing a job nobody watches would race the
        reaper that settles the job as abandoned.

        It also leaves the heap it inherited out of its garbage collections (``gc.freeze``): a horse
        forked while the worker's counters sat just under the full-collection threshold otherwise ran
        a full collection of the whole inherited heap, 40-50 ms, with copy-on-write page copies, and
        so did the next few horses, until the worker collected: p99 enqueue-to-start latency went
        from 27 ms (plain RQ) to 120-200 ms.
        """
        die_with_parent()
        gc.freeze()
        super().main_work_horse(job, queue)


class InProcessWorker(_Bookkeeping, SimpleWorker):
    """RQ's simple worker: jobs run in the worker's own process (faster, no isolation)."""


def _safe(job: RQJob) -> SafeRQJob:
    if not isinstance(job, SafeRQJob):
        raise TypeError(f"stalwart workers run SafeRQJob jobs, got {type(job).__name__}")
    return job


def _entry_or_none(dlq: DeadLetterQueue, entry_id: str) -> DeadLetterEntry | None:
    try:
        return dlq.get(entry_id)
    except JobsError:
        log.warning("replayed job refers to dead-letter entry %s, which no longer exists", entry_id)
        return None


def _counts(outcome: Outcome) -> list[tuple[str, str, float]]:
    """The statistics one attempt adds: its outcome (with reason or classification) and its duration."""
    job = outcome.job
    if outcome.snoozed_since is not None:
        return [(job, "snoozed", 1)]
    counts: list[tuple[str, str, float]] = [*outcome.app_counts]
    if outcome.status is Status.NEGATIVE and outcome.negative is not None:
        counts += [(job, "negative", 1), (job, f"negative.{outcome.negative.reason}", 1)]
    elif outcome.status is Status.SCHEDULED:
        counts.append((job, "retried", 1))
    elif outcome.status is Status.DEAD_LETTERED:
        counts += [(job, "dead_lettered", 1), (job, f"dead_lettered.{outcome.classification}", 1)]
    else:
        counts.append((job, "succeeded", 1))
    if outcome.classification is not Classification.POISON:
        counts += [(job, "runs", 1), (job, "duration_ms", outcome.duration_ms)]
    return counts


def _log_end(outcome: Outcome) -> None:
    extra: dict[str, Any] = {"outcome": outcome.status.value, "duration_ms": outcome.duration_ms}
    if outcome.negative is not None:
        from resilience import redact

        extra.update(reason=outcome.negative.reason, details=redact(outcome.negative.details))
        log.info("job ended: negative (%s)", outcome.negative.reason, extra=extra)
    elif outcome.snoozed_since is not None:
        extra.update(outcome="snoozed", retry_in_s=outcome.retry_in_s)
        log.info("job snoozed: %s", outcome.message, extra=extra)
    elif outcome.status is Status.SCHEDULED:
        extra.update(
            outcome="retrying",
            classification=str(outcome.kind),
            error_type=outcome.error_type,
            retry_in_s=outcome.retry_in_s,
        )
        log.warning("job attempt failed, will retry: %s", outcome.message, extra=extra)
    elif outcome.status is Status.DEAD_LETTERED:
        extra.update(classification=str(outcome.classification), error_type=outcome.error_type)
        log.error("job ended: %s", outcome.message, extra=extra)
    else:
        log.info("job ended: succeeded", extra=extra)
