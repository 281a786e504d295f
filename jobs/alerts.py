"""Alerts: one push notification per actionable event, to the log, to Sentry, and to a command.

An ``Alert`` is raised for events a person must act on: a job dead-lettered,
the dead-letter queue over its threshold. Raising one is a single ``RPUSH`` to
an outbox list in Redis, written in the same pipeline as the event itself (the
dead-letter entry), so an alert exists exactly when its event does.

Each worker runs a ``Dispatcher`` thread that pops alerts and hands them to the
sinks. Jobs never talk to Sentry or run commands: an unreachable or hanging
Sentry delays only that thread, never a job, and a forked work-horse never
blocks on flushing an event. Sentry gets its own client (no default
integrations), so RQ's Sentry integration, or the application's own Sentry
set-up, neither sees nor double-reports these events.

Sinks come from the environment: ``SENTRY_DSN`` and ``STALWART_ALERT_COMMAND``
(a command the alert text is piped to, such as ``mail -s 'stalwart alert' ops@…``).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

import redis
from redis.client import Pipeline

from resilience import redact

from . import _keys

if TYPE_CHECKING:
    from sentry_sdk._types import Event

log = logging.getLogger("stalwart.alerts")

OUTBOX = _keys.PREFIX + "alerts:outbox"
OUTBOX_LIMIT = 10_000
COMMAND_TIMEOUT_S = 10.0


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


class Sink(Protocol):
    """Where alerts go. ``send`` may raise; the dispatcher logs it and carries on with the other sinks."""

    name: str

    def send(self, alert: Alert) -> None: ...


class CommandSink:
    """Pipes the alert's text to a command, e.g. ``mail -s 'stalwart alert' ops@example.com``."""

    name = "command"

    def __init__(self, command: str | Sequence[str]) -> None:
        self.argv = shlex.split(command) if isinstance(command, str) else list(command)

    def send(self, alert: Alert) -> None:
        """Run the command with the alert on its standard input; raise if it fails or hangs."""
        done = subprocess.run(
            self.argv,
            input=alert.text().encode(),
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{self.argv[0]} exited {done.returncode}: {done.stderr.decode()[-300:].strip()}"
            )


class SentrySink:
    """Sends each alert as one Sentry event, through a client of its own."""

    name = "sentry"

    def __init__(self, dsn: str, environment: str | None = None) -> None:
        import sentry_sdk

        self.client = sentry_sdk.Client(
            dsn=dsn,
            default_integrations=False,
            environment=environment,
            shutdown_timeout=1,
        )

    def send(self, alert: Alert) -> None:
        """Queue the event on the client's own sending thread (this never waits for the network)."""
        event: dict[str, Any] = {
            "message": alert.message,
            "level": alert.level,
            "logger": "stalwart",
            "tags": alert.tags,
            "fingerprint": alert.fingerprint or [alert.title],
            "contexts": {"stalwart": alert.context},
            "extra": {"title": alert.title},
        }
        self.client.capture_event(cast("Event", event))

    def check_in(self, slug: str, ok: bool, duration_s: float, every_s: float) -> None:
        """Report a cron check-in for a periodic check, so Sentry notices when it stops running."""
        event: dict[str, Any] = {
            "type": "check_in",
            "check_in_id": uuid.uuid4().hex,
            "monitor_slug": slug,
            "status": "ok" if ok else "error",
            "duration": duration_s,
            "monitor_config": {
                "schedule": {"type": "interval", "value": max(1, round(every_s / 60)), "unit": "minute"},
                "checkin_margin": 1,
            },
        }
        self.client.capture_event(cast("Event", event))

    def close(self) -> None:
        """Send what is queued, waiting at most a second."""
        self.client.close(timeout=1)


def sinks_from_environment() -> list[Sink]:
    """The sinks the environment asks for (the log is always on, and needs no sink)."""
    sinks: list[Sink] = []
    dsn = os.environ.get("SENTRY_DSN")
    if dsn:
        sinks.append(SentrySink(dsn, environment=os.environ.get("SENTRY_ENVIRONMENT")))
    command = os.environ.get("STALWART_ALERT_COMMAND")
    if command:
        sinks.append(CommandSink(command))
    return sinks


class Dispatcher(threading.Thread):
    """A worker's thread that takes alerts from the outbox and hands each to every sink once."""

    def __init__(self, connection: redis.Redis, sinks: Sequence[Sink]) -> None:
        super().__init__(name="stalwart-alerts", daemon=True)
        self.connection = connection
        self.sinks = list(sinks)
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                popped = self.connection.blpop([OUTBOX], timeout=1)
            except redis.RedisError as err:
                log.warning("could not read the alert outbox (%s); trying again", err)
                self.stopping.wait(1)
                continue
            if popped is not None:
                self.deliver(Alert.from_json(popped[1]))

    def deliver(self, alert: Alert) -> None:
        """Send to every sink; one failing sink never stops the others."""
        for sink in self.sinks:
            try:
                sink.send(alert)
            except Exception:
                log.exception(
                    "the %s alert sink failed for %r; the alert is in the log", sink.name, alert.title
                )

    def stop(self) -> None:
        """End: deliver what is left in the outbox, then let Sentry send its queue (at most a second)."""
        self.stopping.set()
        if self.is_alive():
            self.join(timeout=5)
        try:
            while isinstance(raw := self.connection.lpop(OUTBOX), bytes | str):
                self.deliver(Alert.from_json(raw))
        except redis.RedisError as err:
            log.warning("could not deliver the alerts left in the outbox (%s); the next worker will", err)
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if close is not None:
                close()


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
