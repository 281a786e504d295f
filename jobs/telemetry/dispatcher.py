"""The ``Dispatcher``: a worker's thread that takes alerts from the outbox and hands them to the sinks.

Jobs never talk to Sentry or run commands: an unreachable or hanging Sentry
delays only this thread, never a job, and a forked work-horse never blocks on
flushing an event.

Delivery is at least once. An alert is moved (``BLMOVE``, atomically) from the
outbox to this dispatcher's own sending list, and removed from it only once every
sink has had it. The dispatcher holds a lease on that list, renewed by a thread
of its own every ``STALWART_HEARTBEAT_INTERVAL_S`` for ``STALWART_HEARTBEAT_TTL_S``;
every live dispatcher puts back on the outbox what a dispatcher whose lease
lapsed was sending (its process was killed, say), and another delivers it.
The price is a possible duplicate: a dispatcher that dies after its sinks had an
alert but before it removed it, or that stalls past its lease while sending,
has that alert delivered a second time (``lease``). An item that is not an alert this
version can read is logged and set aside in ``stalwart:alerts:unreadable``
(the newest 1,000 are kept), never lost silently and never fatal.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Sequence

import redis

from .. import _keys
from ..model.outcome import HOST
from ..model.truncation import shorten
from .alerts import Alert, UnreadableAlert
from .lease import Lease
from .sinks import Sink

log = logging.getLogger("stalwart.alerts")

UNREADABLE_LIMIT = 1_000


class Dispatcher(threading.Thread):
    """A worker's thread that takes alerts from the outbox and hands each to every sink, at least once."""

    def __init__(self, connection: redis.Redis, sinks: Sequence[Sink]) -> None:
        super().__init__(name="stalwart-alerts", daemon=True)
        self.connection = connection
        self.sinks = list(sinks)
        self.stopping = threading.Event()
        self.id = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.sending = _keys.alerts_sending(self.id)
        self.lease = Lease(connection, self.id)
        # Removals from the sending list that Redis refused (it was away): retried before the next take.
        self._delivered: list[bytes] = []
        self._old_redis = False

    def start(self) -> None:
        """Start sending, and keeping the lease (recovering other dispatchers' lapsed ones)."""
        self.lease.start()
        super().start()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._forget_delivered()
                raw = self._take(block=True)
            except redis.RedisError as err:
                log.warning("could not read the alert outbox (%s); trying again", err)
                self.stopping.wait(1)
                continue
            if isinstance(raw, bytes | str):
                self._handle(raw if isinstance(raw, bytes) else raw.encode())

    def _take(self, block: bool) -> bytes | str | None:
        """Move the oldest alert from the outbox to the sending list (waiting up to a second if ``block``).

        Redis before 6.2 has no (B)LMOVE: there, (B)RPOPLPUSH takes the newest instead.
        """
        if not self._old_redis:
            try:
                if block:
                    return self.connection.blmove(_keys.alert_outbox(), self.sending, 1, "LEFT", "RIGHT")
                return self.connection.lmove(_keys.alert_outbox(), self.sending, "LEFT", "RIGHT")
            except redis.ResponseError as err:
                if "unknown command" not in str(err).lower():
                    raise
                self._old_redis = True
        if block:
            return self.connection.brpoplpush(_keys.alert_outbox(), self.sending, 1)
        return self.connection.rpoplpush(_keys.alert_outbox(), self.sending)

    def _handle(self, raw: bytes) -> None:
        """Deliver one item taken into the sending list, then remove it (or set it aside, if unreadable)."""
        try:
            alert = Alert.from_json(raw)
        except UnreadableAlert as err:
            self._set_aside(raw, err)
            return
        self.deliver(alert)
        self._delivered.append(raw)
        try:
            self._forget_delivered()
        except redis.RedisError as err:
            log.warning("could not mark the alert %r delivered (%s); will again", alert.title, err)

    def _forget_delivered(self) -> None:
        while self._delivered:
            self.connection.lrem(self.sending, 1, self._delivered[0])  # type: ignore[arg-type]  # bytes work
            self._delivered.pop(0)

    def _set_aside(self, raw: bytes, error: UnreadableAlert) -> None:
        log.error(
            "an item in the alert outbox is not an alert this version can read (%s); it is set aside in "
            "%s: %s",
            error,
            _keys.alert_unreadable(),
            shorten(repr(raw), 300),
            extra={"outcome": "alert_unreadable"},
        )
        try:
            with self.connection.pipeline() as pipeline:
                pipeline.rpush(_keys.alert_unreadable(), raw)
                pipeline.ltrim(_keys.alert_unreadable(), -UNREADABLE_LIMIT, -1)
                pipeline.lrem(self.sending, 1, raw)  # type: ignore[arg-type]  # bytes work
                pipeline.execute()
        except redis.RedisError as err:
            # It stays in the sending list: recovered and read again (and set aside) after this one ends.
            log.warning("could not set the unreadable outbox item aside (%s)", err)

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
            if not self.is_alive():  # else it is stuck in a sink: leave the outbox to the others
                while isinstance(raw := self._take(block=False), bytes):
                    self._handle(raw)
                self._forget_delivered()
        except redis.RedisError as err:
            log.warning("could not deliver the alerts left in the outbox (%s); the next worker will", err)
        self.lease.stop(release=not self.is_alive())
        if close_sinks:
            close_all(self.sinks)


def close_all(sinks: Sequence[Sink]) -> None:
    """Close the sinks that hold a connection (Sentry sends what it has queued, waiting at most a second)."""
    for sink in sinks:
        close = getattr(sink, "close", None)
        if close is not None:
            close()
