"""The RQ side of the worker: RQ's job and worker classes, with stalwart's bookkeeping.

RQ does the queueing, the forking, the heartbeats and the scheduling. What it
must not do is decide what a job is or what its ending means, so:

- ``SafeRQJob`` never imports the function or callbacks a payload names: a
  forged payload cannot run code.
- ``_Bookkeeping.perform_job`` decodes the payload through the registry, runs
  the attempt, logs a line at its start and end, and hands RQ a JSON result or
  a failure.
- Our writes (the outcome field, the dead-letter entry) go into the pipeline RQ
  opens for its own bookkeeping (``cleanup_execution``), so they cost no extra
  round trip and land atomically with RQ's.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Mapping
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

from . import _keys, execution
from .context import request_context
from .dead_letter import DeadLetterEntry, DeadLetterQueue
from .execution import AttemptRecord, Outcome
from .job import FAILED_JOB_TTL_S
from .logs import HOST, JobContext, job_context
from .outcome import Classification, Status
from .payload import PoisonPayload, decode

log = logging.getLogger("stalwart.worker")


def _field(raw_data: Mapping[Any, Any], name: str) -> Any:
    return raw_data.get(name.encode(), raw_data.get(name))


def _refuse(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("stalwart jobs run only inside a stalwart worker")


class SafeRQJob(RQJob):
    """RQ's job, minus every path by which a payload could name code to import."""

    decode_error: str | None = None
    previous_attempts: int = 0
    history: list[dict[str, Any]] = []  # noqa: RUF012 - replaced per instance by restore()

    def _deserialize_data(self) -> None:
        # A corrupt payload is recorded rather than raised, so the worker can dead-letter it as poison.
        try:
            super()._deserialize_data()  # type: ignore[no-untyped-call]
        except Exception as err:  # noqa: BLE001 - any decoding failure makes the payload poison
            self.decode_error = f"{type(err).__name__}: {err.__cause__ or err}"
            self._func_name, self._instance, self._args, self._kwargs = "<undecodable>", None, (), {}

    def restore(self, raw_data: Any) -> Any:
        """Load RQ's fields, and the attempts already made, from the job hash."""
        result = super().restore(raw_data)
        raw = _field(raw_data, _keys.FIELD_ATTEMPT)
        self.previous_attempts = int(raw) if raw else 0
        raw = _field(raw_data, _keys.FIELD_HISTORY)
        self.history = json.loads(raw) if raw else []
        return result

    def prepare_for_execution(self, worker_name: str, pipeline: Pipeline) -> None:
        """RQ's "started" bookkeeping, plus the attempt count, in RQ's own pipeline."""
        super().prepare_for_execution(worker_name, pipeline)
        pipeline.hset(self.key, _keys.FIELD_ATTEMPT, self.previous_attempts + 1)

    @property
    def func(self) -> Callable[..., Any]:
        return _refuse

    @property
    def success_callback(self) -> None:
        return None

    @property
    def failure_callback(self) -> None:
        return None

    @property
    def stopped_callback(self) -> None:
        return None


class _Bookkeeping:
    """Mixed into RQ's worker classes: runs stalwart jobs and records how each ended."""

    _outcome: Outcome | None = None
    _entry: DeadLetterEntry | None = None

    # Provided by RQ's BaseWorker.
    connection: Any
    queues: list[Queue]
    name: str
    death_penalty_class: Any
    prepare_job_execution: Callable[..., None]
    increment_failed_job_count: Callable[..., None]
    handle_execution_ended: Callable[..., None]
    _finalize_success: Callable[..., None]

    def perform_job(self, rq_job: RQJob, queue: Queue, execution: Execution) -> bool:
        """Run one attempt of ``job`` and hand its outcome to RQ's success or failure path."""
        job = _safe(rq_job)
        self._outcome = self._entry = None
        attempt = job.previous_attempts + 1
        try:
            self.prepare_job_execution(job, len(self.queues) == 1)
            job.started_at = now()
            outcome = self._run(job, attempt)
        except Exception as err:
            # The framework itself failed around the job (Redis lost while preparing it, say).
            log.exception("could not run job %s", job.id, extra={"job_id": job.id})
            outcome = _framework_failure(job, attempt, err)
        self._outcome = outcome
        if outcome.status is Status.SCHEDULED:
            self._reschedule(job, queue, execution, outcome)
            return False
        if outcome.status is not Status.DEAD_LETTERED:
            self._finalize_success(job, queue, execution, outcome.stored_result)
            return True
        self._entry = _entry_for(job, outcome)
        job._status = JobStatus.FAILED
        self.handle_execution_ended(job, queue, job.failure_callback_timeout)
        self.handle_job_failure(job, queue, exc_string=outcome.message or "", execution=execution)
        return False

    def _reschedule(self, job: SafeRQJob, queue: Queue, execution: Execution, outcome: Outcome) -> None:
        """Put the job in RQ's scheduled registry, due after the backoff; the worker never sleeps on it."""
        job._status = JobStatus.SCHEDULED
        self.handle_execution_ended(job, queue, job.failure_callback_timeout)
        # RQ keeps whole seconds and truncates; round up so a retry never runs before its backoff.
        due = datetime.fromtimestamp(math.ceil(now().timestamp() + (outcome.retry_in_s or 0)), timezone.utc)
        with self.connection.pipeline() as pipeline:
            self.cleanup_execution(job, pipeline=pipeline, execution=execution)
            job.set_status(JobStatus.SCHEDULED, pipeline=pipeline)
            queue.scheduled_job_registry.schedule(job, due, pipeline=pipeline)
            self.increment_failed_job_count(pipeline)
            pipeline.execute()

    def _run(self, job: SafeRQJob, attempt: int) -> Outcome:
        try:
            decoded = decode(job.func_name, job.instance, job.args, job.kwargs)
        except PoisonPayload as err:
            return _poison(job, attempt, str(err))
        context = JobContext(decoded.request_id, job.id, decoded.job.name, attempt)
        with job_context(context), request_context(decoded.request_id or job.id):
            log.info("job started", extra={"outcome": "started", "duration_ms": None, "queue": job.origin})
            try:
                with self.death_penalty_class(
                    job.timeout or decoded.job.timeout_s, JobTimeoutException, job_id=job.id
                ):
                    outcome = execution.run(decoded, job.id, attempt, job.history)
            except JobTimeoutException as err:
                # The alarm fired between perform() returning and the timer being cancelled.
                outcome = _framework_failure(job, attempt, err, job_name=decoded.job.name)
            _log_end(outcome)
        return outcome

    def handle_job_failure(
        self,
        job: RQJob,
        queue: Queue,
        started_job_registry: Any = None,
        exc_string: str = "",
        execution: Execution | None = None,
    ) -> None:
        """RQ's failure handling; a job failed by RQ without running here was abandoned by its work-horse."""
        if self._entry is None or self._entry.id != job.id:
            self._entry = _abandoned_entry(_safe(job), exc_string)
            log.error(
                self._entry.message,
                extra={
                    "job_id": job.id,
                    "job": self._entry.job,
                    "outcome": "dead_lettered",
                    "classification": "abandoned",
                    "attempt": self._entry.attempts,
                },
            )
        super().handle_job_failure(  # type: ignore[misc]
            job, queue, started_job_registry=started_job_registry, exc_string=exc_string, execution=execution
        )

    def cleanup_execution(self, job: RQJob, pipeline: Pipeline, execution: Execution | None = None) -> None:
        """RQ's cleanup, with our outcome written in the same pipeline."""
        super().cleanup_execution(job, pipeline, execution)  # type: ignore[misc]
        if self._entry is not None and self._entry.id == job.id:
            DeadLetterQueue(self.connection).add(self._entry, pipeline=pipeline)
            pipeline.hset(
                job.key,
                mapping={
                    _keys.FIELD_OUTCOME: Status.DEAD_LETTERED.value,
                    _keys.FIELD_HISTORY: json.dumps(self._entry.history),
                },
            )
            pipeline.expire(job.key, FAILED_JOB_TTL_S)
            self._entry = None
        elif self._outcome is not None and self._outcome.job_id == job.id:
            fields: dict[Any, Any] = {_keys.FIELD_OUTCOME: self._outcome.status.value}
            if self._outcome.status is Status.SCHEDULED:
                fields[_keys.FIELD_HISTORY] = json.dumps(self._outcome.history)
            pipeline.hset(job.key, mapping=fields)
        self._outcome = None

    def handle_exception(self, job: RQJob, *exc_info: Any) -> None:
        """RQ would log the job's raw arguments here; our end-of-job line already said what failed."""


class ForkingWorker(_Bookkeeping, ForkingRQWorker):
    """RQ's forking worker: each job runs in a fresh work-horse process."""


class InProcessWorker(_Bookkeeping, SimpleWorker):
    """RQ's simple worker: jobs run in the worker's own process (faster, no isolation)."""


def _safe(job: RQJob) -> SafeRQJob:
    if not isinstance(job, SafeRQJob):
        raise TypeError(f"stalwart workers run SafeRQJob jobs, got {type(job).__name__}")
    return job


def _log_end(outcome: Outcome) -> None:
    extra: dict[str, Any] = {"outcome": outcome.status.value, "duration_ms": outcome.duration_ms}
    if outcome.negative is not None:
        from resilience import redact

        extra.update(reason=outcome.negative.reason, details=redact(outcome.negative.details))
        log.info("job ended: negative (%s)", outcome.negative.reason, extra=extra)
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


def _payload_parts(job: SafeRQJob) -> tuple[str, dict[str, Any], str | None]:
    """The job name, kwargs and request id a payload claims, for the record of a job that cannot run."""
    payload = job.kwargs if isinstance(job.kwargs, Mapping) else {}
    name = payload.get("job")
    kwargs = payload.get("kwargs")
    meta = _meta(job)
    request_id = meta.get("request_id")
    if not isinstance(name, str):
        # Not our payload: name the function it claims (RQ's description would show its arguments).
        func = job.func_name
        name = (
            func
            if isinstance(func, str) and func not in (_keys.ENTRY_POINT, "<undecodable>")
            else "<unknown>"
        )
    return (
        name,
        dict(kwargs) if isinstance(kwargs, Mapping) else {},
        request_id if isinstance(request_id, str) else None,
    )


def _meta(job: SafeRQJob) -> Mapping[str, Any]:
    payload = job.kwargs if isinstance(job.kwargs, Mapping) else {}
    meta = payload.get("meta")
    return meta if isinstance(meta, Mapping) else {}


def _poison(job: SafeRQJob, attempt: int, reason: str) -> Outcome:
    if job.decode_error:
        reason = f"the payload cannot be decoded ({job.decode_error})"
    name, _, request_id = _payload_parts(job)
    outcome = Outcome(
        Status.DEAD_LETTERED,
        name,
        job.id,
        attempt,
        1,
        0.0,
        classification=Classification.POISON,
        error_type="PoisonPayload",
        error_message=reason,
    )
    outcome.message = (
        f"{name} (job {job.id}) cannot run: {reason}. Remediation: check who wrote this job to Redis; "
        "if the job is real, import its module in the worker (--import) and replay it, else discard it."
    )
    with job_context(JobContext(request_id, job.id, name, attempt)):
        _log_end(outcome)
    return outcome


def _framework_failure(
    job: SafeRQJob, attempt: int, error: BaseException, job_name: str | None = None
) -> Outcome:
    name = job_name or _payload_parts(job)[0]
    outcome = Outcome(
        Status.DEAD_LETTERED, name, job.id, attempt, 1, 0.0, classification=Classification.NON_RETRYABLE
    )
    execution.record_failure(outcome, error, execution.now_iso(), f"running {name}", None)
    return outcome


def _entry_for(job: SafeRQJob, outcome: Outcome) -> DeadLetterEntry:
    _, kwargs, request_id = _payload_parts(job)
    failed_at = execution.now_iso()
    history = list(outcome.history)
    if not history or history[-1].get("number") != outcome.attempt:
        # Poison and abandoned jobs never ran perform() here: record the attempt they ended.
        history.append(
            AttemptRecord(
                outcome.attempt,
                failed_at,
                failed_at,
                HOST,
                os.getpid(),
                str(outcome.classification),
                outcome.error_type,
                outcome.error_message,
            ).to_json()
        )
    raw = None
    if outcome.classification is Classification.POISON:
        raw = repr(job.data[:2000]) if job.decode_error else f"{job.func_name!r}"
    return DeadLetterEntry(
        id=job.id,
        job=outcome.job,
        queue=job.origin,
        kwargs=kwargs,
        classification=outcome.classification or Classification.NON_RETRYABLE,
        error_type=outcome.error_type or "Error",
        error_message=outcome.error_message or "",
        message=outcome.message or "",
        attempts=outcome.attempt,
        request_id=request_id,
        first_failed_at=str(history[0].get("ended_at") or failed_at),
        last_failed_at=failed_at,
        history=history,
        idempotency_key=_meta(job).get("idempotency_key"),
        raw_payload=raw,
    )


def _abandoned_entry(job: SafeRQJob, exc_string: str) -> DeadLetterEntry:
    name, _, _ = _payload_parts(job)
    attempt = job.previous_attempts + 1
    reason = exc_string.strip() or "its worker stopped it"
    outcome = Outcome(
        Status.DEAD_LETTERED,
        name,
        job.id,
        attempt,
        1,
        0.0,
        classification=Classification.ABANDONED,
        error_type="WorkHorseDied",
        error_message=reason,
    )
    outcome.message = (
        f"{name} (job {job.id}, attempt {attempt}) was abandoned mid-job: {reason}. Remediation: the job may "
        "have taken effect before it died; verify its side effect before replaying it."
    )
    return _entry_for(job, outcome)
