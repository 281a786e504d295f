"""stalwart's job classes for the latency and retry-accuracy benchmarks; ``stalwart worker`` imports them.

They do what the plain RQ functions in ``probes`` do, each class on a queue of its own.
"""

from __future__ import annotations

from jobs import Job
from resilience import Fixed
from tests.benchmarks import probes

RETRY_DELAYS_S = range(1, 11)


class Started(Job):
    """Note when perform started."""

    abstract = True

    def perform(self, kind: str, n: int) -> None:
        probes.started(kind, n)


class StartedFork(Started):
    name = "bench.probes.StartedFork"
    queue = "bench-latency-stalwart-fork"


class StartedInProcess(Started):
    name = "bench.probes.StartedInProcess"
    queue = "bench-latency-stalwart-inprocess"


class FailsOnce(Job):
    """A declared transient error on the first attempt, one retry after a fixed backoff."""

    abstract = True
    queue = "bench-retry-stalwart"
    retry_on = (probes.Transient,)
    max_attempts = 2

    def perform(self, kind: str, n: int) -> None:
        probes.fails_once(kind, n)


def _fails_once_then_waits(delay_s: int) -> type[FailsOnce]:
    class FailsOnceThenWaits(FailsOnce):
        name = f"bench.probes.FailsOnceThenWaits{delay_s}s"
        backoff = Fixed(delay_s)

    return FailsOnceThenWaits


FAILS_ONCE: dict[int, type[FailsOnce]] = {d: _fails_once_then_waits(d) for d in RETRY_DELAYS_S}
