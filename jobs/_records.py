"""Turning what happened to an RQ job into stalwart's records: outcomes and dead-letter entries.

Used by the worker for the cases where ``perform`` never ran or never
finished: a poison payload, the framework failing around a job, a work-horse
that died mid-job. Each record says what was wrong and what a person should do.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from . import _keys, execution
from ._rq_job import SafeRQJob
from .dead_letter import DeadLetterEntry
from .execution import AttemptRecord, Outcome
from .logs import HOST
from .outcome import Classification, Status


def meta(job: SafeRQJob) -> Mapping[str, Any]:
    """The payload's metadata (request id, idempotency key, replay link), or nothing."""
    payload = job.kwargs if isinstance(job.kwargs, Mapping) else {}
    found = payload.get("meta")
    return found if isinstance(found, Mapping) else {}


def payload_parts(job: SafeRQJob) -> tuple[str, dict[str, Any], str | None]:
    """The job name, kwargs and request id a payload claims, for the record of a job that cannot run."""
    payload = job.kwargs if isinstance(job.kwargs, Mapping) else {}
    name = payload.get("job")
    kwargs = payload.get("kwargs")
    request_id = meta(job).get("request_id")
    if not isinstance(name, str):
        # Not our payload: name the function it claims (RQ's description would show its arguments).
        func = job.func_name
        known = isinstance(func, str) and func not in (_keys.ENTRY_POINT, "<undecodable>")
        name = func if known and isinstance(func, str) else "<unknown>"
    return (
        name,
        dict(kwargs) if isinstance(kwargs, Mapping) else {},
        request_id if isinstance(request_id, str) else None,
    )


def _dead(job: SafeRQJob, name: str, attempt: int, **fields: Any) -> Outcome:
    """A dead-lettered outcome of an attempt that never ran ``perform`` to an end."""
    return Outcome(Status.DEAD_LETTERED, name, job.id, attempt, attempt, 0.0, **fields)


def poison(job: SafeRQJob, attempt: int, reason: str) -> Outcome:
    """The outcome of a payload that can never run."""
    if job.decode_error:
        reason = f"the payload cannot be decoded ({job.decode_error})"
    name, _, _ = payload_parts(job)
    outcome = _dead(
        job,
        name,
        attempt,
        classification=Classification.POISON,
        error_type="PoisonPayload",
        error_message=reason,
    )
    outcome.message = (
        f"{name} (job {job.id}) cannot run: {reason}. Remediation: check who wrote this job to Redis; "
        "if the job is real, import its module in the worker (--import) and replay it, else discard it."
    )
    return outcome


def framework_failure(
    job: SafeRQJob, attempt: int, error: BaseException, job_name: str | None = None
) -> Outcome:
    """The outcome of a job the framework could not run (Redis lost while preparing it, say)."""
    name = job_name or payload_parts(job)[0]
    outcome = _dead(
        job,
        name,
        attempt,
        classification=Classification.NON_RETRYABLE,
        history=list(job.history),
    )
    execution.record_failure(outcome, error, execution.now_iso(), f"running {name}", None)
    return outcome


def abandoned(job: SafeRQJob, reason: str, attempt: int | None = None) -> Outcome:
    """The outcome of a job whose work-horse died mid-job (its ``attempt``, by default the next one)."""
    name, _, _ = payload_parts(job)
    attempt = attempt if attempt is not None else job.previous_attempts + 1
    reason = reason.strip() or "its worker stopped it"
    outcome = _dead(
        job,
        name,
        attempt,
        classification=Classification.ABANDONED,
        error_type="WorkHorseDied",
        error_message=reason,
        history=list(job.history),
    )
    outcome.message = (
        f"{name} (job {job.id}, attempt {attempt}) was abandoned mid-job: {reason}. Remediation: the job may "
        "have taken effect before it died; verify its side effect before replaying it."
    )
    return outcome


def entry_for(job: SafeRQJob, outcome: Outcome) -> DeadLetterEntry:
    """The dead-letter entry for a job that ended with ``outcome``; its id is the job's."""
    _, kwargs, request_id = payload_parts(job)
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
        raw = repr(job.data[:2000]) if job.decode_error else repr(job.func_name)
    key = meta(job).get("idempotency_key")
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
        idempotency_key=key if isinstance(key, str) else None,
        raw_payload=raw,
    )
