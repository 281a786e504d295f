"""Jobs behind a circuit breaker: while a dependency is down, its jobs wait without burning attempts.

A job that declares ``circuit = "payment-gateway"`` asks that circuit before
each attempt. While it is open the job is *snoozed*: rescheduled for when the
next trial is due, and the attempt is not counted. Snoozing stops after
``give_up_after_s`` in all; the job is then dead-lettered ``exhausted`` saying
so. Only the job's declared error types (``retry_on`` and ``ambiguous_on``)
count as the dependency's failures: a bug in the job does not open a circuit.
"""

from __future__ import annotations

import time

import redis

from resilience import CircuitBreaker

from .. import _keys
from ..model.definition import JobDefinition
from ..model.outcome import Classification, Outcome, Status


def breaker_for(job: type[JobDefinition], connection: redis.Redis) -> CircuitBreaker | None:
    """The breaker a job class declares, or None."""
    if job.circuit is None:
        return None
    return CircuitBreaker(
        job.circuit,
        connection,
        failure_threshold=job.circuit_failure_threshold,
        reset_after_s=job.circuit_reset_after_s,
        on=(*job.budgets.retry_on, *job.budgets.ambiguous_on),
        key_prefix=_keys.circuits(),
    )


def snooze(
    job: type[JobDefinition], job_id: str, attempt: int, retry_in_s: float, snoozed_since: float | None
) -> Outcome:
    """The outcome of a job turned away by its open circuit: snoozed, or given up on."""
    now = time.time()
    since = snoozed_since if snoozed_since is not None else now
    waited = now - since
    circuit = job.circuit
    if waited + retry_in_s > job.give_up_after_s:
        outcome = Outcome(
            Status.DEAD_LETTERED,
            job.name,
            job_id,
            attempt - 1,
            attempt - 1,
            0.0,
            classification=Classification.EXHAUSTED,
            error_type="CircuitOpen",
            error_message=f"circuit {circuit!r} is open",
        )
        outcome.message = (
            f"{job.name} (job {job_id}) gave up after waiting {waited:.0f} s for circuit {circuit!r} "
            f"to close (give_up_after_s = {job.give_up_after_s:.0f}); it never ran in that time. "
            "Remediation: check the dependency behind the circuit, then replay the job."
        )
        return outcome
    outcome = Outcome(
        Status.SCHEDULED, job.name, job_id, attempt - 1, attempt - 1, 0.0, retry_in_s=retry_in_s
    )
    outcome.message = (
        f"circuit {circuit!r} is open; {job.name} (job {job_id}) snoozed for {retry_in_s:.1f} s "
        "without using an attempt"
    )
    outcome.snoozed_since = since
    return outcome
