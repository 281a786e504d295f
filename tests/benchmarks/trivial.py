"""The trivial jobs both workers drain: a plain RQ function and a stalwart job doing the same nothing.

``Noop`` and ``Sleeps`` also leave the peers benchmark's marks (``marks``): a
no-op unless that benchmark set ``BENCH_MARKS_URL`` for the worker.
"""

from __future__ import annotations

import time

from jobs import Job
from tests.benchmarks import marks


def plain_noop(n: int) -> int:
    return n


class Noop(Job):
    name = "bench.Noop"

    def perform(self, n: int) -> int:
        marks.ended()
        return n


class Sleeps(Job):
    """An I/O-bound job: it waits 0.1 s (as on a slow HTTP call) and returns its argument."""

    name = "bench.Sleeps"

    def perform(self, n: int) -> int:
        marks.started()
        time.sleep(0.1)
        marks.ended()
        return n


class Fails(Job):
    name = "bench.Fails"

    def perform(self, n: int) -> None:
        raise LookupError(f"record {n} not found")
