"""Job classes for tests/hardening/test_races.py (issue 11, "Races and states").

Workers and `stalwart dlq replay` import them with ``--import tests.hardening.races_jobs``.

Importing this module with ``HARDENING_START_GATE=<path>`` in the environment lines processes up:
each announces itself by creating ``<path>.ready.<pid>``, then waits (at most a minute) for the file
``<path>`` to appear. A test starts two commands that way and opens the gate once both are ready, so
they reach Redis together.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from jobs import Job, connect


def _wait_at_the_start_gate() -> None:
    gate = os.environ.get("HARDENING_START_GATE")
    if not gate:
        return
    Path(f"{gate}.ready.{os.getpid()}").touch()
    deadline = time.monotonic() + 60
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.005)


_wait_at_the_start_gate()

RACES_QUEUE = "hardening-races"


class FailsOnceThenCounts(Job):
    """Counts every run of ``key`` in Redis (``INCR hardening:runs:<key>``); its first run raises an
    undeclared error, so it is dead-lettered ``non_retryable`` at once, and a replay succeeds. After one
    failure and one replay the counter is 2; a counter of 3 means the replay ran twice."""

    name = "hardening.FailsOnceThenCounts"
    queue = RACES_QUEUE

    def perform(self, key: str) -> int:
        runs = int(connect().incr(f"hardening:runs:{key}"))
        if runs == 1:
            raise RuntimeError(f"the first run of {key} fails (undeclared: dead-lettered at once)")
        return runs


class BlocksUntilReleased(Job):
    """Counts its runs (``INCR hardening:runs:<key>``), writes its pid to ``path``, then waits (at most a
    minute) for the file ``release`` to appear, and returns "released". Not idempotent: a job that is
    abandoned is dead-lettered ``abandoned``."""

    name = "hardening.BlocksUntilReleased"
    queue = RACES_QUEUE

    def perform(self, key: str, path: str, release: str) -> str:
        connect().incr(f"hardening:runs:{key}")
        Path(path).write_text(f"{os.getpid()}\n")
        deadline = time.monotonic() + 60
        while not Path(release).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return "released"


class FinishesDuringRedisOutages(Job):
    """Idempotent, and touches no Redis itself. Its n-th run appends its pid to the file ``starts`` (line
    n), waits, at most a minute, for the file ``<release>.<n>`` (or ``<release>.all``) to appear, then
    appends a line to the file ``ends`` and returns: the test stops Redis before it lets a run end, so
    that the worker cannot record the end."""

    name = "hardening.FinishesDuringRedisOutages"
    queue = RACES_QUEUE
    idempotent = True

    def perform(self, starts: str, ends: str, release: str) -> str:
        with Path(starts).open("a") as lines:
            lines.write(f"{os.getpid()}\n")
        run = len(Path(starts).read_text().splitlines())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            Path(f"{release}.{run}").exists() or Path(f"{release}.all").exists()
        ):
            time.sleep(0.02)
        with Path(ends).open("a") as lines:
            lines.write(f"run {run} ended\n")
        return f"run {run} ended"


class BlocksUntilReleasedIdempotently(BlocksUntilReleased):
    """``BlocksUntilReleased``, declared idempotent: an abandoned attempt is retried, not dead-lettered."""

    name = "hardening.BlocksUntilReleasedIdempotently"
    idempotent = True
