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
from ..model.truncation import MESSAGE_CHARS, NAME_CHARS, fit_json, shorten

log = logging.getLogger("stalwart.alerts")

OUTBOX_LIMIT = 10_000
LEVELS = ("fatal", "error", "warning", "info", "debug")
# A whole alert, as JSON, stays under ALERT_CHARS: far under the size at which Sentry drops an event
# (about 1 MB), with room for what its SDK adds. Sentry keeps 200 characters of a tag value, 32 of a key.
ALERT_CHARS = 64_000
_TITLE_CHARS = 400
# A message is cut at MESSAGE_CHARS where it is made; this leaves room for its quotes once encoded.
_MESSAGE_JSON_CHARS = MESSAGE_CHARS + 1_000
_CONTEXT_CHARS = 40_000
_TAGS, _TAG_KEY_CHARS, _FINGERPRINT_PARTS = 20, 32, 10
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
        # Each part has a budget in JSON characters; together they stay under ALERT_CHARS. An alert
        # bounded once is left as it is when bounded again (read back from the outbox).
        bounded = {
            "title": fit_json(str(self.title), _TITLE_CHARS),
            "message": fit_json(str(self.message), _MESSAGE_JSON_CHARS),
            "tags": {
                str(k)[:_TAG_KEY_CHARS]: fit_json(str(v), NAME_CHARS)
                for k, v in list(self.tags.items())[:_TAGS]
            },
            "fingerprint": [fit_json(str(p), NAME_CHARS) for p in self.fingerprint[:_FINGERPRINT_PARTS]],
            "context": _bounded_context(self.context),
            "level": self.level if self.level in LEVELS else "error",
        }
        for name, value in bounded.items():
            object.__setattr__(self, name, value)

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
    """``context`` if its JSON fits the budget; else its largest values as cut JSON text, fairly shared.

    With so many keys that even that does not fit, the whole context becomes one cut JSON text.
    """
    values = {str(k): v for k, v in context.items()}
    whole = json.dumps(values, default=str)
    if len(whole) <= _CONTEXT_CHARS:
        return values
    encoded = {k: json.dumps(v, default=str) for k, v in values.items()}
    left, bounded = _CONTEXT_CHARS - 2, {}
    by_size = sorted(encoded, key=lambda k: len(encoded[k]))
    for done, key in enumerate(by_size):
        # Each member costs its quoted key, ": " and ", " besides its value.
        overhead = len(json.dumps(key)) + 4
        share = max(left // (len(by_size) - done) - overhead, 0)
        text = encoded[key]
        bounded[key] = values[key] if len(text) <= share else fit_json(text, share)
        left -= overhead + len(json.dumps(bounded[key], default=str))
    result = {k: bounded[k] for k in encoded}
    if len(json.dumps(result, default=str)) <= _CONTEXT_CHARS:
        return result
    return {"context": fit_json(whole, _CONTEXT_CHARS - 20)}


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
