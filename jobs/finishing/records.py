"""The outcomes of attempts that never ran ``perform`` to an end, and the dead-letter entry of any outcome.

A poison payload, the framework failing around a job, a worker that died
mid-job: each record says what was wrong and what a person should do, and
carries this attempt's record in its history, like an attempt that raised.
"""

from __future__ import annotations

import os
from typing import Any

from resilience import Scrubber

from ..model.entry import DeadLetterEntry
from ..model.execution import record_failure
from ..model.outcome import HOST, AttemptRecord, Classification, Outcome, Status, now_iso
from ..model.truncation import MESSAGE_CHARS, PREVIEW_CHARS, TRACEBACK_CHARS, shorten
from ..rq_adapter.job_format import SafeRQJob


def _claimed(job: SafeRQJob, reason: str) -> tuple[str, str, Scrubber]:
    """The job name the payload claims, and ``reason`` for people, with the scrubber of its arguments.

    ``reason`` comes from outside stalwart's record of an attempt (RQ's exception text, a payload check),
    so it may quote the job's arguments (scrubbed of their secrets) or what it found (a forged job name:
    cut short); every text these outcomes hold is built from it.
    """
    name, kwargs, _ = job.claimed()
    scrubber = Scrubber.of(kwargs)
    return name, shorten(scrubber.text(reason.strip()), PREVIEW_CHARS), scrubber


def _dead(job: SafeRQJob, name: str, attempt: int, reason: str, scrubber: Scrubber, **fields: Any) -> Outcome:
    """A dead-lettered outcome of an attempt that never ran ``perform`` to an end, with its record."""
    outcome = Outcome(
        Status.DEAD_LETTERED,
        name,
        job.id,
        attempt,
        attempt,
        0.0,
        history=list(job.history),
        scrubber=scrubber,
        **fields,
    )
    at = now_iso()
    outcome.history.append(
        AttemptRecord(
            attempt, at, at, HOST, os.getpid(), str(outcome.classification), outcome.error_type, reason
        ).to_json()
    )
    return outcome


def poison(job: SafeRQJob, attempt: int, reason: str) -> Outcome:
    """The outcome of a payload that can never run."""
    name, reason, scrubber = _claimed(job, reason)
    outcome = _dead(
        job,
        name,
        attempt,
        reason,
        scrubber,
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
    name = job_name or job.claimed()[0]
    outcome = Outcome(
        Status.DEAD_LETTERED,
        name,
        job.id,
        attempt,
        attempt,
        0.0,
        classification=Classification.NON_RETRYABLE,
        history=list(job.history),
    )
    scrubber = Scrubber.of(job.claimed()[1])
    record_failure(outcome, error, now_iso(), f"running {name}", None, scrubber=scrubber)
    return outcome


def abandoned(
    job: SafeRQJob, reason: str, attempt: int | None = None, *, kills: int | None = None
) -> Outcome:
    """The outcome of a job whose worker died mid-job (its ``attempt``, by default the next one).

    With ``kills`` (the job has taken its worker down that many times, the limit), it is quarantined
    as poison, so it cannot take the fleet down in a loop.
    """
    name, reason, scrubber = _claimed(job, reason.strip() or "its worker stopped it")
    attempt = attempt if attempt is not None else job.previous_attempts + 1
    outcome = _dead(
        job,
        name,
        attempt,
        reason,
        scrubber,
        classification=Classification.ABANDONED if kills is None else Classification.POISON,
        error_type="WorkHorseDied",
        error_message=reason,
        abandoned=True,
    )
    if kills is not None:
        outcome.message = (
            f"{name} (job {job.id}) has taken its worker down {kills} times ({reason}); it is quarantined "
            "so it cannot take the fleet down in a loop. Remediation: find what kills the process (memory, "
            "a native crash) before replaying it."
        )
    else:
        outcome.message = (
            f"{name} (job {job.id}, attempt {attempt}) was abandoned mid-job: {reason}. Remediation: the job "
            "may have taken effect before it died; verify its side effect before replaying it."
        )
    return outcome


def failed_in_rq(job: SafeRQJob, attempt: int, reason: str) -> Outcome:
    """The outcome of a job RQ failed by a path the worker did not see (found in RQ's failed registry)."""
    if "abandoned" in reason.lower():
        return abandoned(job, reason, attempt)
    name, reason, scrubber = _claimed(job, reason)
    outcome = _dead(
        job,
        name,
        attempt,
        reason,
        scrubber,
        classification=Classification.NON_RETRYABLE,
        error_type="FailedInRQ",
        error_message=reason,
    )
    outcome.message = (
        f"{name} (job {job.id}, attempt {attempt}) was failed by RQ outside stalwart's worker: {reason}. "
        "Remediation: the job may have taken effect; verify its side effect before replaying it."
    )
    return outcome


def entry_for(job: SafeRQJob, outcome: Outcome) -> DeadLetterEntry:
    """The dead-letter entry for a job that ended with ``outcome``; its id is the job's.

    Its text is cut short where people read it (messages, errors, each attempt's record); its kwargs are
    kept whole, for replay (the store keeps large ones out of the entry's listing head).
    """
    _, kwargs, request_id = job.claimed()
    failed_at = now_iso()
    history = [_readable(record) for record in outcome.history]
    if not history or history[-1].get("number") != outcome.attempt:
        # An attempt no record was made for (a job given up on while its circuit was open).
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
    key = job.meta_fields.get("idempotency_key")
    return DeadLetterEntry(
        id=job.id,
        job=outcome.job,
        queue=job.origin,
        kwargs=kwargs,
        classification=outcome.classification or Classification.NON_RETRYABLE,
        error_type=outcome.error_type or "Error",
        error_message=shorten(outcome.error_message or "", MESSAGE_CHARS),
        message=shorten(outcome.message or "", MESSAGE_CHARS),
        attempts=outcome.attempt,
        request_id=request_id,
        first_failed_at=str(history[0].get("ended_at") or failed_at),
        last_failed_at=failed_at,
        history=history,
        idempotency_key=key if isinstance(key, str) else None,
        raw_payload=job.raw_payload() if outcome.classification is Classification.POISON else None,
    )


def _readable(record: dict[str, Any]) -> dict[str, Any]:
    """An attempt's record with its text cut short (a forged history's too)."""
    return {k: shorten(v, TRACEBACK_CHARS) if isinstance(v, str) else v for k, v in record.items()}
