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

from .logs import HOST
from .outcome import Classification, Negative, Status
from .payload import Decoded


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt of a job, as kept in its history."""

    number: int
    started_at: str
    ended_at: str
    host: str
    pid: int
    outcome: str
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as stored in Redis."""
        return dict(self.__dict__)


@dataclass
class Outcome:
    """What one attempt ended as."""

    status: Status
    job: str
    job_id: str
    attempt: int
    max_attempts: int
    duration_ms: float
    value: Any = None
    negative: Negative | None = None
    classification: Classification | None = None
    error_type: str | None = None
    error_message: str | None = None
    message: str | None = None
    history: list[AttemptRecord] = field(default_factory=list)

    @property
    def stored_result(self) -> Any:
        """The JSON value RQ keeps as the job's result."""
        return self.negative.to_json() if self.negative is not None else self.value


def now_iso() -> str:
    """The current UTC time, as every record in Redis writes it."""
    return datetime.now(timezone.utc).isoformat()


def run(decoded: Decoded, job_id: str, attempt: int) -> Outcome:
    """Call ``perform`` once and classify what happened; never raises for the job's own errors."""
    job_cls = decoded.job
    instance = job_cls(job_id=job_id, attempt=attempt, request_id=decoded.request_id)
    started_at = now_iso()
    start = time.perf_counter()

    def finish(status: Status, **fields: Any) -> Outcome:
        return Outcome(
            status=status,
            job=job_cls.name,
            job_id=job_id,
            attempt=attempt,
            max_attempts=1,
            duration_ms=round((time.perf_counter() - start) * 1000, 3),
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
        outcome = finish(Status.DEAD_LETTERED, classification=Classification.NON_RETRYABLE)
        record_failure(outcome, error, started_at, describe(instance, decoded.kwargs), job_cls.remediation)
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
) -> None:
    """Fill ``outcome`` with the error, its rendered message and the attempt record."""
    outcome.error_type = type(error).__name__
    outcome.error_message = str(error)
    outcome.message = render_failure(outcome, attempting, error, remediation)
    outcome.history.append(
        AttemptRecord(
            number=outcome.attempt,
            started_at=started_at,
            ended_at=now_iso(),
            host=HOST,
            pid=os.getpid(),
            outcome=str(outcome.classification),
            error_type=outcome.error_type,
            error_message=outcome.error_message,
            traceback="".join(traceback.format_exception(error)),
        )
    )


def render_failure(outcome: Outcome, attempting: str, error: BaseException, remediation: str | None) -> str:
    """One paragraph a person can act on: what, for whom, which attempt, what went wrong, what to do."""
    causes: list[str] = []
    cause = error.__cause__ or error.__context__
    while cause is not None and len(causes) < 5:
        causes.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__ or cause.__context__
    chain = "".join(f" (caused by {c})" for c in causes)
    todo = remediation or "Fix the cause, then replay the job from the dead-letter queue."
    return (
        f"{outcome.job} (job {outcome.job_id}, attempt {outcome.attempt}/{outcome.max_attempts}) "
        f"failed while {attempting}: {type(error).__name__}: {error}{chain}. Remediation: {todo}"
    )
