"""One attempt of a job, as an ordered list of steps around the call to ``perform``.

``STEPS`` is the whole story of an attempt, outermost first; each step gets the
attempt and a ``proceed`` that runs the steps after it, and returns the
attempt's ``Outcome`` (it may end the attempt itself: a poison payload, an open
circuit). The outcome is then written by the finishing path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from .. import stats
from ..connection.outage import is_outage
from ..finishing import records
from ..model import execution
from ..model.execution import TimeLimitExceeded
from ..model.outcome import Outcome, Status
from ..model.payload import Decoded, PoisonPayload
from ..model.requests import request_context
from ..rq_adapter.job_format import SafeRQJob
from ..telemetry.alerts import circuit_alert, raise_alert
from ..telemetry.logs import JobContext, job_context
from . import circuits, limits
from .rq_outages import outage_mid_job

log = logging.getLogger("stalwart.worker")


@dataclass
class Attempt:
    """One attempt of one job, filled in by the steps as they go."""

    job: SafeRQJob
    number: int
    connection: redis.Redis
    # RQ's time limit for the running process: a signal alarm, or a timer off the main thread.
    death_penalty: Any
    decoded: Decoded | None = None

    @property
    def runnable(self) -> Decoded:
        """The decoded payload (the steps after ``check_payload`` can rely on it)."""
        if self.decoded is None:
            raise RuntimeError("the payload has not been decoded: check_payload must come first")
        return self.decoded


Proceed = Callable[[], Outcome]
Step = Callable[[Attempt, Proceed], Outcome]


def check_payload(attempt: Attempt, proceed: Proceed) -> Outcome:
    """A payload past the limits, undecodable, or naming no registered job, or a corrupt job hash, ends
    here, as poison.

    The limits were applied as the job was read (``SafeRQJob``): nothing inflated or walked it past them.
    """
    try:
        attempt.decoded = attempt.job.decoded()
    except PoisonPayload as err:
        return poisoned(attempt.job, attempt.number, str(err))
    return proceed()


def poisoned(job: SafeRQJob, number: int, reason: str) -> Outcome:
    """The poison outcome of attempt ``number`` of a job that cannot run, and its log line."""
    outcome = records.poison(job, number, reason)
    name, _, request_id = job.claimed()
    with job_context(JobContext(request_id, job.id, name, number)):
        log_end(outcome)
    return outcome


def in_job_context(attempt: Attempt, proceed: Proceed) -> Outcome:
    """Every log line from here on carries the job; jobs it enqueues carry its request id."""
    decoded = attempt.runnable
    context = JobContext(decoded.request_id, attempt.job.id, decoded.job.name, attempt.number)
    with job_context(context), request_context(decoded.request_id or attempt.job.id):
        return proceed()


def end_line(attempt: Attempt, proceed: Proceed) -> Outcome:
    """One log line for how the attempt ended."""
    outcome = proceed()
    log_end(outcome)
    return outcome


def circuit_breaker(attempt: Attempt, proceed: Proceed) -> Outcome:
    """A job behind an open circuit is snoozed without running; its ending is counted by the circuit."""
    decoded = attempt.runnable
    breaker = circuits.breaker_for(decoded.job, attempt.connection)
    if breaker is None:
        return proceed()
    admission = breaker.admit()
    if not admission.allowed:
        job = attempt.job
        return circuits.snooze(decoded.job, job.id, attempt.number, admission.retry_in_s, job.snoozed_since)
    outcome = proceed()
    if outcome.status in (Status.SUCCEEDED, Status.NEGATIVE):
        breaker.record_success()
    elif outcome.error is not None and breaker.record_failure(outcome.error):
        raise_alert(circuit_alert(breaker, decoded.job.name, outcome), connection=attempt.connection)
    return outcome


def fleet_limits(attempt: Attempt, proceed: Proceed) -> Outcome:
    """A job over its ``max_concurrency`` or ``rate_limit`` is snoozed without running; a slot it takes is
    given back by the pipeline that records its end (``recording``), or lapses with its heartbeats."""
    decoded, job = attempt.runnable, attempt.job
    admission = limits.acquire(attempt.connection, decoded.job, limits.holder(job.id, job.execution_id))
    if not admission.allowed:
        return limits.snooze(decoded.job, job.id, attempt.number, admission)
    return proceed()


def start_line(attempt: Attempt, proceed: Proceed) -> Outcome:
    """One log line as ``perform`` is about to run."""
    log.info("job started", extra={"outcome": "started", "duration_ms": None, "queue": attempt.job.origin})
    return proceed()


def statistics(attempt: Attempt, proceed: Proceed) -> Outcome:
    """The job's own ``jobs.stats.incr`` calls ride in the pipeline that records its end."""
    with stats.collecting() as counted:
        outcome = proceed()
    outcome.app_counts = counted
    return outcome


def time_limit(attempt: Attempt, proceed: Proceed) -> Outcome:
    """``perform`` is interrupted with TimeLimitExceeded after the job's ``timeout_s``."""
    job, decoded = attempt.job, attempt.runnable
    try:
        with attempt.death_penalty(job.timeout or decoded.job.timeout_s, TimeLimitExceeded, job_id=job.id):
            return proceed()
    except TimeLimitExceeded as err:
        # The alarm fired between perform() returning and the timer being cancelled.
        return records.framework_failure(job, attempt.number, err, job_name=decoded.job.name)


STEPS: tuple[Step, ...] = (
    check_payload,
    in_job_context,
    end_line,
    circuit_breaker,
    fleet_limits,
    start_line,
    statistics,
    time_limit,
)


def run(attempt: Attempt, steps: Sequence[Step] = STEPS) -> Outcome:
    """Run ``perform`` once, inside ``steps``; the outcome says how it ended (it never raises for the job)."""

    def at(index: int) -> Outcome:
        if index == len(steps):
            decoded = attempt.runnable
            return execution.run(decoded, attempt.job.id, attempt.number, attempt.job.history)
        return steps[index](attempt, lambda: at(index + 1))

    return at(0)


def run_for_worker(attempt: Attempt) -> Outcome:
    """``run``, for a worker: an error of the worker's own around the job becomes a framework failure;
    a Redis outage is said and raised (the job stays started, and is settled as abandoned once its
    heartbeat lapses, without counting a death: Redis failed, not the job)."""
    try:
        return run(attempt)
    except Exception as err:
        job = attempt.job
        if is_outage(err):
            outage_mid_job(job.id, err, ran=True)
            raise
        log.exception("could not run job %s", job.id, extra={"job_id": job.id})
        return records.framework_failure(job, attempt.number, err)


def log_end(outcome: Outcome) -> None:
    """The line that says how an attempt ended: at INFO for an end, WARNING for a retry, ERROR for a death."""
    extra: dict[str, Any] = {"outcome": outcome.status.value, "duration_ms": outcome.duration_ms}
    if outcome.negative is not None:
        # Redacted by name, and scrubbed of the job's arguments' secrets (a detail may echo one).
        details = outcome.scrubber.redact(outcome.negative.details)
        extra.update(reason=outcome.negative.reason, details=details)
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
