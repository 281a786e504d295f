"""The ``Dispatcher``: a worker's thread that takes alerts from the outbox and hands them to the sinks.

Jobs never talk to Sentry or run commands: an unreachable or hanging Sentry
delays only this thread, never a job, and a forked work-horse never blocks on
flushing an event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import redis

from .. import _keys
from .alerts import Alert
from .sinks import Sink

log = logging.getLogger("stalwart.alerts")


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
                popped = self.connection.blpop([_keys.alert_outbox()], timeout=1)
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

    def stop(self, close_sinks: bool = True) -> None:
        """End: deliver what is left in the outbox, then (``close_sinks``) let Sentry send its queue (at
        most a second)."""
        self.stopping.set()
        if self.is_alive():
            self.join(timeout=5)
        try:
            while isinstance(raw := self.connection.lpop(_keys.alert_outbox()), bytes | str):
                self.deliver(Alert.from_json(raw))
        except redis.RedisError as err:
            log.warning("could not deliver the alerts left in the outbox (%s); the next worker will", err)
        if close_sinks:
            close_all(self.sinks)


def close_all(sinks: Sequence[Sink]) -> None:
    """Close the sinks that hold a connection (Sentry sends what it has queued, waiting at most a second)."""
    for sink in sinks:
        close = getattr(sink, "close", None)
        if close is not None:
            close()
