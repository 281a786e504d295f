"""Where alerts go: Sentry (a client of its own) and a command the alert text is piped to.

Sinks come from the environment (``SENTRY_DSN``, ``STALWART_ALERT_COMMAND``, a
command such as ``mail -s 'stalwart alert' ops@...``) or are given in code
(``Worker(..., sinks=[...])``); any object with a ``name`` and a ``send(alert)``
is a sink. Sentry gets its own client (no default integrations), so RQ's Sentry
integration, or the application's own Sentry set-up, neither sees nor
double-reports these events.
"""

from __future__ import annotations

import shlex
import subprocess
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

import sentry_sdk

from ..settings import Settings
from .alerts import Alert

if TYPE_CHECKING:
    from sentry_sdk._types import Event

COMMAND_TIMEOUT_S = 10.0


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


def sinks_from_settings(settings: Settings) -> list[Sink]:
    """The sinks the settings ask for (the log is always on, and needs no sink)."""
    sinks: list[Sink] = []
    if settings.sentry_dsn:
        sinks.append(SentrySink(settings.sentry_dsn, environment=settings.sentry_environment))
    if settings.alert_command:
        sinks.append(CommandSink(settings.alert_command))
    return sinks
