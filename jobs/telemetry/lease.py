"""A dispatcher's ``Lease`` on its sending list, and the recovery of the lists of dispatchers that died.

Each alert dispatcher moves the alert it is sending into a list of its own
(``dispatcher``). While its process lives, this thread renews a lease on that
list every ``STALWART_HEARTBEAT_INTERVAL_S`` for ``STALWART_HEARTBEAT_TTL_S``
(like a job's heartbeat), and looks at the other dispatchers: the list of one
whose lease lapsed (its process was killed, or stalled past the TTL) goes back
to the head of the outbox, for a live dispatcher to deliver.
"""

from __future__ import annotations

import logging
import threading

import redis

from .. import _keys, settings

log = logging.getLogger("stalwart.alerts")

# Put back on the outbox (at its head: they are the oldest) the alerts a dispatcher whose lease lapsed
# was sending, and forget it. Atomic, so two live dispatchers never both take the same list.
_RECOVER = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return -1
end
local moved = 0
while redis.call('RPOPLPUSH', KEYS[2], KEYS[3]) do
  moved = moved + 1
end
redis.call('SREM', KEYS[4], ARGV[1])
return moved
"""


class Lease(threading.Thread):
    """Keeps a dispatcher's claim on its sending list alive, and recovers the lists of dead dispatchers."""

    def __init__(self, connection: redis.Redis, owner: str) -> None:
        super().__init__(name="stalwart-alerts-lease", daemon=True)
        self.connection = connection
        self.owner = owner
        self.sending = _keys.alerts_sending(owner)
        self.key = _keys.alerts_lease(owner)
        self.stopping = threading.Event()
        current = settings.current()
        self.interval_s, self.ttl_s = current.heartbeat_interval_s, current.heartbeat_ttl_s
        self.recover = self.connection.register_script(_RECOVER)

    def start(self) -> None:
        """Take the lease now (before the first alert is taken), then keep it from a thread."""
        try:
            self.renew()
            self.recover_lapsed()
        except redis.RedisError as err:
            log.warning("could not take the alert dispatcher's lease (%s); trying again", err)
        super().start()

    def run(self) -> None:
        while not self.stopping.wait(self.interval_s):
            try:
                self.renew()
                self.recover_lapsed()
            except redis.RedisError as err:
                log.warning("could not renew the alert dispatcher's lease (%s); trying again", err)

    def renew(self) -> None:
        """Extend the lease by its TTL, and list this dispatcher among those to watch."""
        with self.connection.pipeline() as pipeline:
            pipeline.set(self.key, self.owner, ex=self.ttl_s)
            pipeline.sadd(_keys.alert_dispatchers(), self.owner)
            pipeline.execute()

    def recover_lapsed(self) -> int:
        """Put back on the outbox what dispatchers whose lease lapsed were sending; how many alerts."""
        recovered = 0
        for raw in self.connection.smembers(_keys.alert_dispatchers()):
            other = raw.decode() if isinstance(raw, bytes) else str(raw)
            if other == self.owner:
                continue
            keys = [
                _keys.alerts_lease(other),
                _keys.alerts_sending(other),
                _keys.alert_outbox(),
                _keys.alert_dispatchers(),
            ]
            moved = int(self.recover(keys=keys, args=[other]))
            if moved > 0:
                log.warning(
                    "alert dispatcher %s stopped without delivering %d alert(s); they are back in the outbox "
                    "(an alert its sinks already had is sent again)",
                    other,
                    moved,
                )
                recovered += moved
        return recovered

    def stop(self, release: bool) -> None:
        """Stop renewing; with ``release`` (nothing left being sent) give the lease up at once."""
        self.stopping.set()
        if self.is_alive():
            self.join(timeout=1)
        if not release:
            return  # it lapses by itself, and another dispatcher recovers what was left
        try:
            if self.connection.llen(self.sending):
                return  # removals Redis refused: the list is recovered by another once the lease lapses
            with self.connection.pipeline() as pipeline:
                pipeline.delete(self.key, self.sending)
                pipeline.srem(_keys.alert_dispatchers(), self.owner)
                pipeline.execute()
        except redis.RedisError as err:
            log.warning("could not release the alert dispatcher's lease (%s); it lapses by itself", err)
