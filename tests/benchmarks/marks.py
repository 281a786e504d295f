"""The marks the peers benchmark's jobs leave: how many have ended, and when the first and the last ended.

Every framework's trivial job in ``python -m tests.benchmarks.peers`` calls
``ended()`` as it returns (the I/O benchmark's jobs also call ``started()``
first). The marks go to a Redis server of their own (``BENCH_MARKS_URL``), not
to the one the frameworks share, so they add nothing to the commands and round
trips measured there, and the harness polls them there. The last job knows it
is the last from ``BENCH_EXPECTED``. Without ``BENCH_MARKS_URL`` both are
no-ops, so the jobs behave as plain trivial jobs anywhere else.

Only ``redis`` and the standard library: the peers' workers import this module
from their own virtualenv.
"""

from __future__ import annotations

import os
import threading
import time

import redis

URL_ENV = "BENCH_MARKS_URL"
EXPECTED_ENV = "BENCH_EXPECTED"
ENDED = "bench:ended"
FIRST_END = "bench:first_end"
LAST_END = "bench:last_end"
STARTED = "bench:started"
FIRST_START = "bench:first_start"

_lock = threading.Lock()
_clients: dict[int, redis.Redis] = {}


def _client() -> redis.Redis | None:
    """This process's connection to the marks server (a forked child makes its own), or None if unset."""
    url = os.environ.get(URL_ENV)
    if not url:
        return None
    pid = os.getpid()
    client = _clients.get(pid)
    if client is None:
        with _lock:
            client = _clients.get(pid)
            if client is None:
                client = _clients[pid] = redis.Redis.from_url(url)
    return client


def started() -> None:
    """Count a job's start; the first one also records the time."""
    now = time.time()
    client = _client()
    if client is not None and client.incr(STARTED) == 1:
        client.set(FIRST_START, repr(now))


def ended() -> None:
    """Count a job's end; the first and the last (the ``BENCH_EXPECTED``-th) also record the time."""
    now = time.time()
    client = _client()
    if client is None:
        return
    count = client.incr(ENDED)
    if count == 1:
        client.set(FIRST_END, repr(now))
    if count == int(os.environ.get(EXPECTED_ENV, "0")):
        client.set(LAST_END, repr(now))
