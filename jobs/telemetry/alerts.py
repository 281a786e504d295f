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
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.client import Pipeline

from resilience import redact

from .. import _keys
from ..model.limits import nesting_depth
from ..model.truncation import MESSAGE_CHARS, NAME_CHARS, shorten

log = logging.getLogger("stalwart.alerts")

OUTBOX = _keys.ALERTS_OUTBOX
OUTBOX_LIMIT = 10_000
LEVELS = ("fatal", "error", "warning", "info", "debug")
# A whole alert, as JSON: far under the size at which Sentry drops an event (about 1 MB), with room
# for what the SDK adds. Sentry also keeps only 200 characters of a tag value and 32 of a tag key.
ALERT_CHARS = 64_000
_CONTEXT_CHARS = 48_000
_TAG_KEY_CHARS = 32
# An outbox item nested deeper than this is not an alert this version wrote: it is set aside unread.
_MAX_CONTEXT_DEPTH = 250


class UnreadableAlert(ValueError):
    """An outbox item that is not an alert (garbage, or JSON without a title and a message)."""


@dataclass(frozen=True)
class Alert:
    """One actionable event: a title, the message with its remediation, tags, a fingerprint, context.

    Every alert is bounded when it is made, whoever makes it: each text is cut short (with a
    "truncated" marker) and the context fits a budget, so no sink receives more than ``ALERT_CHARS``.
    """

    title: str
    message: str
    tags: dict[str, str] = field(default_factory=dict)
    fingerprint: list[str] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
    level: str = "error"

    def __post_init__(self) -> None:
        bounded = {
            "title": shorten(str(self.title), NAME_CHARS * 2),
            "message": shorten(str(self.message), MESSAGE_CHARS),
            "tags": {
                shorten(str(k), _TAG_KEY_CHARS): shorten(str(v), NAME_CHARS) for k, v in self.tags.items()
            },
            "fingerprint": [shorten(str(part), NAME_CHARS) for part in self.fingerprint[:10]],
            "context": _bounded_context(self.context),
            "level": self.level if self.level in LEVELS else "error",
        }
        for name, value in bounded.items():
            object.__setattr__(self, name, value)
        if len(self.to_json()) > ALERT_CHARS:
            # Many small context values, each under its share: keep the context as one cut text.
            whole = json.dumps(self.context, default=str)
            object.__setattr__(self, "context", {"context": shorten(whole, _CONTEXT_CHARS // 2)})

    def to_json(self) -> str:
        """The alert as stored in the outbox (a plain dict: nothing walks the context but the encoder)."""
        return json.dumps(
            {
                "title": self.title,
                "message": self.message,
                "tags": self.tags,
                "fingerprint": self.fingerprint,
                "context": self.context,
                "level": self.level,
            },
            default=str,
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Alert:
        """Rebuild an alert from the outbox: known fields kept, unknown ones (a newer version's) ignored.

        Raises UnreadableAlert for anything that is not an alert.
        """
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as err:
            raise UnreadableAlert(f"not JSON ({type(err).__name__}: {shorten(str(err), 200)})") from err
        if not isinstance(data, dict):
            raise UnreadableAlert(f"JSON {type(data).__name__}, not an alert object")
        title, message = data.get("title"), data.get("message")
        if not isinstance(title, str) or not isinstance(message, str):
            raise UnreadableAlert("an object without a text title and message")
        tags, fingerprint, context = data.get("tags"), data.get("fingerprint"), data.get("context")
        if isinstance(context, dict) and nesting_depth(context, _MAX_CONTEXT_DEPTH) > _MAX_CONTEXT_DEPTH:
            raise UnreadableAlert(f"its context nests more than {_MAX_CONTEXT_DEPTH} levels deep")
        level = data.get("level")
        return cls(
            title=title,
            message=message,
            tags=dict(tags) if isinstance(tags, dict) else {},
            fingerprint=list(fingerprint) if isinstance(fingerprint, list) else [],
            context=context if isinstance(context, dict) else {},
            level=level if isinstance(level, str) else "error",
        )

    def text(self) -> str:
        """The alert as plain text, for mail and chat."""
        tags = " ".join(f"{k}={v}" for k, v in self.tags.items())
        return f"{self.title}\n\n{self.message}\n\n{tags}\n"


def _bounded_context(context: dict[str, Any]) -> dict[str, Any]:
    """``context`` if its JSON fits the budget; else its largest values as cut JSON text, fairly shared."""
    values = {str(k): v for k, v in context.items()}
    encoded = {k: json.dumps(v, default=str) for k, v in values.items()}
    if sum(len(k) + len(v) for k, v in encoded.items()) <= _CONTEXT_CHARS:
        return values
    left, bounded = _CONTEXT_CHARS, {}
    by_size = sorted(encoded, key=lambda k: len(encoded[k]))
    for done, key in enumerate(by_size):
        share = left // (len(by_size) - done)
        text = encoded[key]
        if len(text) <= share:
            bounded[key] = values[key]
        else:
            # The marker takes about 50 characters of the share.
            bounded[key] = shorten(text, max(share - 60, 0))
        left -= min(len(text), share)
    return {shorten(k, NAME_CHARS): bounded[k] for k in encoded}


def raise_alert(
    alert: Alert, connection: redis.Redis | None = None, pipeline: Pipeline | None = None
) -> None:
    """Log ``alert`` now and put it in the outbox for the sinks (in ``pipeline`` when given)."""
    log.error("ALERT %s: %s", alert.title, alert.message, extra={"outcome": "alert", "details": alert.tags})
    target: Any = pipeline if pipeline is not None else connection
    if target is None:
        raise ValueError("raise_alert needs a connection or a pipeline")
    target.rpush(OUTBOX, alert.to_json())
    # Bounded: with no worker running for a long time the oldest alerts go (they are in the log too).
    target.ltrim(OUTBOX, -OUTBOX_LIMIT, -1)


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
