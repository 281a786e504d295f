"""What a job ends as: the status enum and the ``Negative`` value."""

from __future__ import annotations

import enum
from typing import Any


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
