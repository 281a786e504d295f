"""Running one attempt of a job and deciding what it ended as.

This module knows nothing of RQ: it takes a decoded payload, calls ``perform``,
and returns an ``Outcome``. The worker turns the outcome into Redis writes.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from rq.timeouts import JobTimeoutException

from resilience import Kind
from resilience.classify import mark

from .logs import HOST
from .outcome import Classification, Negative, Status
from .payload import Decoded
from .retries import decide


@dataclass(frozen=True)
class AttemptRecord:
    """One failed attempt of a job, as kept in its history."""

    number: int
    started_at: str
    ended_at: str
    host: str
    pid: int
    outcome: str
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    budget: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as stored in Redis."""
        return dict(self.__dict__)


@dataclass
class Outcome:
    """What one attempt ended as: succeeded, negative, rescheduled (``SCHEDULED``) or dead-lettered."""

    status: Status
    job: str
    job_id: str
    attempt: int
    max_attempts: int
    duration_ms: float
    value: Any = None
    negative: Negative | None = None
    classification: Classification | None = None
    kind: Kind | None = None
    retry_in_s: float | None = None
    error_type: str | None = None
    error_message: str | None = None
    message: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    # Not stored: the error itself (for the circuit breaker), and when snoozing began.
    error: BaseException | None = None
    snoozed_since: float | None = None
    app_counts: list[tuple[str, str, float]] = field(default_factory=list)

    @property
    def stored_result(self) -> Any:
        """The JSON value RQ keeps as the job's result."""
        return self.negative.to_json() if self.negative is not None else self.value


def now_iso() -> str:
    """The current UTC time, as every record in Redis writes it."""
    return datetime.now(timezone.utc).isoformat()


def run(decoded: Decoded, job_id: str, attempt: int, history: list[dict[str, Any]]) -> Outcome:
    """Call ``perform`` once and decide what its ending means; never raises for the job's own errors.

    ``history`` holds the records of the job's earlier failed attempts; the
    returned outcome's history has this attempt's record added when it failed.
    """
    job_cls = decoded.job
    instance = job_cls(
        job_id=job_id, attempt=attempt, request_id=decoded.request_id, idempotency_key=decoded.idempotency_key
    )
    started_at = now_iso()
    start = time.perf_counter()

    def finish(status: Status, **fields: Any) -> Outcome:
        return Outcome(
            status=status,
            job=job_cls.name,
            job_id=job_id,
            attempt=attempt,
            max_attempts=attempt,
            duration_ms=round((time.perf_counter() - start) * 1000, 3),
            history=list(history),
            **fields,
        )

    try:
        value = instance.perform(**decoded.kwargs)
        if isinstance(value, Negative):
            _check_json(value.to_json(), "a Negative whose details are not JSON")
            return finish(Status.NEGATIVE, negative=value)
        _check_json(value, "a result that is not JSON")
        return finish(Status.SUCCEEDED, value=value)
    except (Exception, SystemExit) as error:  # noqa: BLE001 - the job's own failure, recorded whole
        if isinstance(error, JobTimeoutException):
            # Cut off mid-work at timeout_s: whatever it was doing may have taken effect.
            mark(error, Kind.AMBIGUOUS)
        decision = decide(job_cls.budgets, error, history, attempt)
        outcome = finish(Status.SCHEDULED if decision.retry else Status.DEAD_LETTERED)
        outcome.error = error
        outcome.kind = decision.kind
        outcome.retry_in_s = None if decision.retry_in_s is None else round(decision.retry_in_s, 3)
        outcome.classification = decision.classification
        outcome.max_attempts = max(attempt, attempt - decision.failures + decision.allowed)
        record_failure(
            outcome,
            error,
            started_at,
            describe(instance, decoded.kwargs),
            job_cls.remediation,
            explanation=decision.explanation,
            budget=decision.budget or None,
        )
        return outcome


class ResultNotJSON(TypeError):
    """``perform`` returned something that cannot be stored as JSON."""


def _check_json(value: Any, what: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ResultNotJSON(
            f"perform() returned {what} ({err}); return plain data (dicts, lists, strings, numbers)"
        ) from err


def describe(instance: Any, kwargs: dict[str, Any]) -> str:
    """What the job was attempting, from its ``describe`` (falling back to its name if that fails)."""
    try:
        return str(instance.describe(**kwargs))
    except Exception as err:  # noqa: BLE001 - a broken describe() must not hide the real failure
        return f"running {instance.name} (its describe() raised {type(err).__name__}: {err})"


def record_failure(
    outcome: Outcome,
    error: BaseException,
    started_at: str,
    attempting: str,
    remediation: str | None,
    *,
    explanation: str = "",
    budget: str | None = None,
) -> None:
    """Fill ``outcome`` with the error, its rendered message and this attempt's record."""
    outcome.error_type = type(error).__name__
    outcome.error_message = str(error)
    outcome.message = render_failure(outcome, attempting, error, remediation, explanation)
    ended = "retrying" if outcome.status is Status.SCHEDULED else str(outcome.classification)
    outcome.history.append(
        AttemptRecord(
            number=outcome.attempt,
            started_at=started_at,
            ended_at=now_iso(),
            host=HOST,
            pid=os.getpid(),
            outcome=ended,
            error_type=outcome.error_type,
            error_message=outcome.error_message,
            traceback="".join(traceback.format_exception(error)),
            budget=budget,
        ).to_json()
    )


def render_failure(
    outcome: Outcome, attempting: str, error: BaseException, remediation: str | None, explanation: str = ""
) -> str:
    """One paragraph a person can act on: what, for whom, which attempt, what went wrong, what to do."""
    causes: list[str] = []
    cause = error.__cause__ or error.__context__
    while cause is not None and len(causes) < 5:
        causes.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__ or cause.__context__
    chain = "".join(f" (caused by {c})" for c in causes)
    head = (
        f"{outcome.job} (job {outcome.job_id}, attempt {outcome.attempt}/{outcome.max_attempts}) "
        f"failed while {attempting}: {type(error).__name__}: {error}{chain}."
    )
    if outcome.retry_in_s is not None:
        return f"{head} Retrying in {outcome.retry_in_s:.1f} s ({outcome.kind} error)."
    todo = remediation or "Fix the cause, then replay the job from the dead-letter queue."
    return f"{head} {explanation + ' ' if explanation else ''}Remediation: {todo}"
