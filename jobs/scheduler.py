"""RQ's scheduler, kept alive through Redis outages.

RQ's scheduler process moves due retries from the scheduled registry to their
queue. On a Redis error it dies, and RQ restarts it only at the next
maintenance, up to ten minutes later: every retry waits that long. This one
logs, backs off (at most 5 s), and carries on.
"""

from __future__ import annotations

import logging
import time

import redis
from rq.scheduler import RQScheduler

from ._process import die_with_parent

log = logging.getLogger("stalwart.scheduler")

MAX_BACKOFF_S = 5.0


class ResilientScheduler(RQScheduler):
    """An RQ scheduler whose loop survives Redis going away and coming back."""

    def work(self) -> None:
        """RQ's loop (reacquire locks, heartbeat, move due jobs, sleep), with Redis errors waited out."""
        die_with_parent()
        self._install_signal_handlers()  # type: ignore[no-untyped-call]
        backoff = self.interval
        registered = False
        while not self._stop_requested:
            try:
                if not registered:
                    self.register_birth()
                    registered = True
                if self.should_reacquire_locks:
                    self.acquire_locks()  # type: ignore[no-untyped-call]
                self.heartbeat()  # type: ignore[no-untyped-call]
                self.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
                backoff = self.interval
                time.sleep(self.interval)
            except (redis.ConnectionError, redis.TimeoutError) as err:
                log.warning("scheduler lost Redis (%s); trying again in %.0f s", err, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
        self.stop()  # type: ignore[no-untyped-call]
