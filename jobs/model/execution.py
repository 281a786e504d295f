"""Running one attempt of a job and deciding what it ended as.

This module knows nothing of RQ or Redis: it takes a decoded payload, calls
``perform``, and returns an ``Outcome``. The finishing path turns the outcome
into Redis writes.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable
from typing import Any

from resilience import Kind, OperationFailed, Scrubber
from resilience.classify import mark

from .decisions import decide
from .outcome import HOST, AttemptRecord, Negative, Outcome, Status, now_iso
from .payload import Decoded
from .truncation import MESSAGE_CHARS, TRACEBACK_CHARS, shorten

# One part of a failure's paragraph (the error, each cause, what was attempted): the paragraph has at
# most eight of them and stays under MESSAGE_CHARS.
_PART_CHARS = 900


class TimeLimitExceeded(Exception):
    """Raised inside a job that ran past its ``timeout_s``; it may have taken effect, so it is ambiguous."""


def run(decoded: Decoded, job_id: str, attempt: int, history: list[dict[str, Any]]) -> Outcome:
    """Call ``perform`` once and decide what its ending means; never raises for the job's own errors.

    ``history`` holds the records of the job's earlier failed attempts; the
    returned outcome's history has this attempt's record added when it failed.
    """
    job_cls = decoded.job
    instance = job_cls(
        job_id=job_id,
        attempt=attempt,
        request_id=decoded.request_id,
        idempotency_key=decoded.idempotency_key,
        scheduled_for=decoded.scheduled_for,
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
            # The log line shows its details: scrubbed of the arguments' secrets as well as by name.
            return finish(Status.NEGATIVE, negative=value, scrubber=Scrubber.of(decoded.kwargs))
        _check_json(value, "a result that is not JSON")
        return finish(Status.SUCCEEDED, value=value)
    except (Exception, SystemExit) as error:  # noqa: BLE001 - the job's own failure, recorded whole
        if isinstance(error, TimeLimitExceeded):
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
            scrubber=Scrubber.of(decoded.kwargs),
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
    scrubber: Scrubber,
    explanation: str = "",
    budget: str | None = None,
) -> None:
    """Fill ``outcome`` with the error, its rendered message and this attempt's record.

    Every text is scrubbed of the secret values in ``scrubber`` (the job's arguments') and in the ids of
    the ``attempting`` contexts the error passed through, then cut short, here, where the record is made:
    the log line, the alert, the dead-letter entry and the job's history are all copies of it. The error
    object itself (kept for the circuit breaker, never stored) is left as raised.
    """
    scrubber = scrubber + _secrets_in_contexts(error)
    outcome.scrubber = scrubber
    outcome.error_type = type(error).__name__
    outcome.error_message = shorten(scrubber.text(str(error)), MESSAGE_CHARS)
    outcome.message = render_failure(
        outcome, attempting, error, remediation, explanation=explanation, scrub=scrubber.text
    )
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
            traceback=shorten(scrubber.text("".join(traceback.format_exception(error))), TRACEBACK_CHARS),
            budget=budget,
        ).to_json()
    )


def _secrets_in_contexts(error: BaseException) -> Scrubber:
    """The secret-named ids of every ``attempting(...)`` context in ``error``'s chain, as a scrubber."""
    found = Scrubber()
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OperationFailed):
            found += Scrubber.of(current.ids)
        current = current.__cause__ or current.__context__
    return found


def render_failure(
    outcome: Outcome,
    attempting: str,
    error: BaseException,
    remediation: str | None,
    *,
    explanation: str = "",
    scrub: Callable[[str], str] = str,
) -> str:
    """One paragraph a person can act on: what, for whom, which attempt, what went wrong, what to do.

    Each part that comes from the job or its errors is scrubbed (``scrub``), then cut short, so the
    paragraph stays readable (and fits every channel) whatever the error says, and no secret is left
    half-cut at the end of a part; what to do comes last and is always there.
    """

    def part(text: str) -> str:
        return shorten(scrub(text), _PART_CHARS)

    causes: list[str] = []
    cause = error.__cause__ or error.__context__
    while cause is not None and len(causes) < 5:
        causes.append(f"{type(cause).__name__}: {part(str(cause))}")
        cause = cause.__cause__ or cause.__context__
    chain = "".join(f" (caused by {c})" for c in causes)
    head = (
        f"{outcome.job} (job {outcome.job_id}, attempt {outcome.attempt}/{outcome.max_attempts}) "
        f"failed while {part(attempting)}: {type(error).__name__}: {part(str(error))}{chain}."
    )
    if outcome.retry_in_s is not None:
        return f"{head} Retrying in {outcome.retry_in_s:.1f} s ({outcome.kind} error)."
    todo = remediation or "Fix the cause, then replay the job from the dead-letter queue."
    todo = shorten(todo, _PART_CHARS)
    return f"{head} {explanation + ' ' if explanation else ''}Remediation: {todo}"
