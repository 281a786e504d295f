"""What the worker does while Redis cannot be reached: it keeps what it must write, and keeps watching.

An outage must not lose the end of an attempt that ran (``through_outages``
retries the write until Redis answers), and must not make a forking worker stop
watching its work-horse: RQ's loop ended on the first heartbeat that failed,
left the horse running with nobody watching it, and the job was settled as
abandoned while it ran (``WatchesThroughOutages``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.client import Pipeline

from .. import settings

log = logging.getLogger("stalwart.worker")

# Errors that mean Redis cannot be reached right now: what failed is tried again once it can.
OUTAGE: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)


def through_outages(write: Callable[[], object], what: str) -> None:
    """Run ``write`` until Redis answers it, waiting between tries (up to a heartbeat interval).

    A worker that cannot reach Redis can do nothing else meanwhile; giving up would lose the end of an
    attempt that ran. A second SIGTERM (a cold shutdown) still stops it.
    """
    wait_s = 0.5
    while True:
        try:
            write()
            return
        except OUTAGE as err:
            log.warning(
                "could not record %s (%s: %s); trying again in %.1f s: it is kept until Redis answers",
                what,
                type(err).__name__,
                err,
                wait_s,
                extra={"outcome": "redis_unavailable"},
            )
            time.sleep(wait_s)
            wait_s = min(wait_s * 2, max(1.0, float(settings.current().heartbeat_interval_s)))


class WatchesThroughOutages:
    """Mixed into RQ's forking worker: heartbeats that fail while a work-horse runs are logged, not raised.

    RQ's monitoring loop tries again at its next interval, so the horse stays watched (and killed at
    its time limit) and its heartbeats resume as soon as Redis is back.
    """

    _lost_since: float | None = None
    _horse_pid: int

    def maintain_heartbeats(self, job: Any, execution: Any) -> None:
        """RQ's heartbeats of the running job and of the worker; an outage is waited out."""
        try:
            super().maintain_heartbeats(job, execution)  # type: ignore[misc]
        except OUTAGE as err:
            self._lost(err)
        else:
            self._back()

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's worker heartbeat; while a work-horse runs, an outage is waited out."""
        if pipeline is not None or not self._horse_pid:
            super().heartbeat(timeout, pipeline)  # type: ignore[misc]
            return
        try:
            super().heartbeat(timeout, pipeline)  # type: ignore[misc]
        except OUTAGE as err:
            self._lost(err)

    def _lost(self, err: Exception) -> None:
        if self._lost_since is None:
            self._lost_since = time.monotonic()
            log.warning(
                "lost Redis while a work-horse runs (%s: %s); still watching it, heartbeats resume "
                "when Redis is back",
                type(err).__name__,
                err,
                extra={"outcome": "redis_unavailable"},
            )

    def _back(self) -> None:
        if self._lost_since is not None:
            log.warning(
                "Redis is back after %.1f s; the running job's heartbeats are renewed",
                time.monotonic() - self._lost_since,
            )
            self._lost_since = None
