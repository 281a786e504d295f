"""Alerts: one push notification per actionable event, to the log and to the sinks.

An ``Alert`` is raised for events a person must act on: a job dead-lettered,
the dead-letter queue over its threshold, a circuit opened. Raising one is a
single ``RPUSH`` to an outbox list in Redis, written in the same pipeline as
the event itself (the dead-letter entry), so an alert exists exactly when its
event does. A ``Dispatcher`` thread in each worker hands them to the sinks
(``dispatcher``, ``sinks``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
from redis.client import Pipeline

from resilience import redact

from .. import _keys

log = logging.getLogger("stalwart.alerts")

OUTBOX_LIMIT = 10_000


@dataclass(frozen=True)
class Alert:
    """One actionable event: a title, the message with its remediation, tags, a fingerprint, context."""

    title: str
    message: str
    tags: dict[str, str] = field(default_factory=dict)
    fingerprint: list[str] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
    level: str = "error"

    def to_json(self) -> str:
        """The alert as stored in the outbox."""
        return json.dumps(asdict(self), default=str)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Alert:
        """Rebuild an alert from the outbox."""
        return cls(**json.loads(raw))

    def text(self) -> str:
        """The alert as plain text, for mail and chat."""
        tags = " ".join(f"{k}={v}" for k, v in self.tags.items())
        return f"{self.title}\n\n{self.message}\n\n{tags}\n"


def raise_alert(
    alert: Alert, connection: redis.Redis | None = None, pipeline: Pipeline | None = None
) -> None:
    """Log ``alert`` now and put it in the outbox for the sinks (in ``pipeline`` when given)."""
    log.error("ALERT %s: %s", alert.title, alert.message, extra={"outcome": "alert", "details": alert.tags})
    target: Any = pipeline if pipeline is not None else connection
    if target is None:
        raise ValueError("raise_alert needs a connection or a pipeline")
    target.rpush(_keys.alert_outbox(), alert.to_json())
    # Bounded: with no worker running for a long time the oldest alerts go (they are in the log too).
    target.ltrim(_keys.alert_outbox(), -OUTBOX_LIMIT, -1)


def raise_on_change(connection: redis.Redis, state_key: str, alert: Alert | None) -> bool:
    """For checks that run again and again: alert when ``alert`` appears, not again while it persists.

    ``alert`` is None when all is well, which re-arms the check. Returns True if an alert was raised.
    """
    if alert is None:
        connection.delete(state_key)
        return False
    if not connection.set(state_key, int(time.time()), nx=True):
        return False
    raise_alert(alert, connection=connection)
    return True


def dead_letter_alert(entry: Any) -> Alert:
    """The alert for a dead-lettered job: one per entry; fingerprinted by job and root error type."""
    last = entry.history[-1] if entry.history else {}
    attempts = [
        {k: v for k, v in record.items() if k != "traceback"}
        | {"traceback": str(record.get("traceback") or "")[-2000:]}
        for record in entry.history
    ]
    return Alert(
        title=f"{entry.job} dead-lettered ({entry.classification}): {entry.error_type}",
        message=entry.message,
        tags={
            "job": entry.job,
            "classification": str(entry.classification),
            "queue": entry.queue,
            "attempt": str(last.get("number", entry.attempts)),
            "request_id": entry.request_id or "",
        },
        fingerprint=[entry.job, entry.error_type],
        context={
            "entry_id": entry.id,
            "kwargs": redact(entry.kwargs),
            "idempotency_key": entry.idempotency_key,
            "attempts": attempts,
            "replay": f"stalwart dlq replay {entry.id} --import MODULE",
        },
    )


def circuit_alert(breaker: Any, job: str, outcome: Any) -> Alert:
    """The alert for a circuit that just opened: its jobs now wait instead of running."""
    return Alert(
        title=f"circuit {breaker.name!r} opened",
        message=(
            f"circuit {breaker.name!r} opened after {breaker.failure_threshold} consecutive failures (last: "
            f"{job}: {outcome.error_type}: {outcome.error_message}); jobs behind it are snoozed and one "
            f"trial is let through every {breaker.reset_after_s:g} s. Remediation: check the dependency; "
            "it closes by itself once a trial succeeds."
        ),
        tags={"circuit": breaker.name, "job": job},
        fingerprint=["stalwart.circuit", breaker.name],
    )
