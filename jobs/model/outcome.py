"""What a job ends as: its status, the ``Negative`` value, and the ``Outcome`` of one attempt."""

from __future__ import annotations

import enum
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from resilience import Kind, Scrubber

# Every record of an attempt names the host it ran on.
HOST = platform.node()


class Status(str, enum.Enum):
    """Where a job is in its life, as ``JobHandle.status()`` reports it."""

    QUEUED = "queued"
    SCHEDULED = "scheduled"
    STARTED = "started"
    SUCCEEDED = "succeeded"
    NEGATIVE = "negative"
    DEAD_LETTERED = "dead_lettered"

    def __str__(self) -> str:
        return self.value


class Classification(str, enum.Enum):
    """Why a job was dead-lettered."""

    EXHAUSTED = "exhausted"
    NON_RETRYABLE = "non_retryable"
    AMBIGUOUS = "ambiguous"
    ABANDONED = "abandoned"
    POISON = "poison"

    def __str__(self) -> str:
        return self.value


class Negative:
    """A business "no" returned by ``perform``: a successful outcome, never retried or alerted.

    ``reason`` is a short stable identifier (``"card_declined"``) used for counting;
    ``details`` are JSON values that explain the case (``customer_id=42``).
    """

    __slots__ = ("details", "reason")

    def __init__(self, reason: str, **details: Any) -> None:
        if not isinstance(reason, str) or not reason:
            raise TypeError(f"Negative needs a non-empty string reason, got {reason!r}")
        self.reason = reason
        self.details = details

    def to_json(self) -> dict[str, Any]:
        """The form stored as the job's result."""
        return {"__negative__": {"reason": self.reason, "details": self.details}}

    @classmethod
    def from_json(cls, value: Any) -> Negative | None:
        """Rebuild a Negative from a stored result, or None when the result is not one."""
        if isinstance(value, dict) and set(value) == {"__negative__"}:
            inner = value["__negative__"]
            return cls(inner["reason"], **inner["details"])
        return None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Negative):
            return NotImplemented
        return (self.reason, self.details) == (other.reason, other.details)

    def __hash__(self) -> int:
        return hash(self.reason)

    def __repr__(self) -> str:
        details = "".join(f", {k}={v!r}" for k, v in self.details.items())
        return f"Negative({self.reason!r}{details})"


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
    """What one attempt ended as: succeeded, negative, rescheduled (``SCHEDULED``; ``QUEUED`` when put back
    on its queue at once), or dead-lettered."""

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
    # The worker running it died mid-job (its work-horse was killed, or it stopped sending heartbeats).
    abandoned: bool = False
    # Not stored: the secret values of the job's arguments, scrubbed from every text made from this attempt.
    scrubber: Scrubber = field(default_factory=Scrubber, repr=False, compare=False)

    @property
    def stored_result(self) -> Any:
        """The JSON value RQ keeps as the job's result."""
        return self.negative.to_json() if self.negative is not None else self.value


def now_iso() -> str:
    """The current UTC time, as every record in Redis writes it."""
    return datetime.now(timezone.utc).isoformat()
