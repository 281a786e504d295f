"""Job functions that note in Redis when they run, for the latency and retry-accuracy benchmarks.

Plain RQ's workers import these by their dotted path; stalwart's job classes
(``probe_jobs``) call them too. This module imports nothing but the standard
library and redis on purpose: ``rq worker`` does not import job modules before
forking, so every forked work-horse imports this module afresh, and a module that
imported stalwart (about 0.2 s) would be timed as plain RQ's latency.

Each writes ``time.time()`` taken first thing in the job, through one client per
process (work-horses are forked; the client is made in the process that uses it),
to the Redis that REDIS_URL names, as the workers' does.
"""

from __future__ import annotations

import functools
import os
import time

import redis

STARTED = "bench:latency:started:"  # one hash per kind: job number -> when it started
FIRST_ENDED = "bench:retry:first-ended:"  # one hash per kind: job number -> when attempt 1 raised
SECOND_STARTED = "bench:retry:second-started:"  # one hash per kind: job number -> when attempt 2 started


class Transient(ConnectionError):
    """The declared transient error a retry probe raises on its first attempt."""


@functools.cache
def _client(pid: int) -> redis.Redis:
    return redis.Redis.from_url(os.environ["REDIS_URL"])


def started(kind: str, n: int) -> None:
    """Note when job ``n`` of ``kind`` started."""
    _client(os.getpid()).hset(STARTED + kind, str(n), repr(time.time()))


def fails_once(kind: str, n: int) -> None:
    """Raise ``Transient`` on the first attempt, noting when it ended; note when the second started."""
    begun = time.time()
    client = _client(os.getpid())
    if client.hsetnx(FIRST_ENDED + kind, str(n), repr(begun)):
        client.hset(FIRST_ENDED + kind, str(n), repr(time.time()))
        raise Transient(f"probe {n}: the first attempt fails")
    client.hset(SECOND_STARTED + kind, str(n), repr(begun))
