"""Writing what must not be lost through a Redis outage: the end of an attempt that ran.

RQ logged a failed write of a job's end and moved on, leaving the job
``started`` for the reaper, which settled it as abandoned although it had run
to an end. ``through_outages`` retries the write until Redis takes it; the
fence (``finishing/fence.py``) makes a write that comes after a settlement a
late finish, recorded as such. (How RQ's loop and the running job's heartbeats
live through an outage is ``rq_outages.OutageTolerant``.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from .. import settings
from ..connection.outage import describe, is_outage

log = logging.getLogger("stalwart.worker")


def through_outages(write: Callable[[], object], what: str) -> None:
    """Run ``write`` until Redis takes it, waiting between tries (up to a heartbeat interval).

    A worker that cannot reach Redis can do nothing else meanwhile; giving up would lose the end of an
    attempt that ran. A second SIGTERM (a cold shutdown) still stops it.
    """
    wait_s, since = 0.5, None
    while True:
        try:
            write()
        except redis.RedisError as err:
            if not is_outage(err):
                raise
            if since is None:
                since = time.monotonic()
                log.warning(
                    "could not record %s: %s; it is kept, and recorded once Redis takes it",
                    what,
                    describe(err),
                    extra={"outcome": "redis_unavailable"},
                )
            time.sleep(wait_s)
            wait_s = min(wait_s * 2, max(1.0, float(settings.current().heartbeat_interval_s)))
            continue
        if since is not None:
            log.warning("recorded %s, %.1f s late (Redis took it again)", what, time.monotonic() - since)
        return
