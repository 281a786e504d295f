"""Periodic job classes the periodic tests run; workers import this module by name
(``--import tests.periodic_jobs``), and tick loops run in subprocesses from here."""

from __future__ import annotations

import sys
from typing import Any

import redis

from jobs import Job, Negative, connect
from jobs.runtime import periodic


class Heartbeat(Job):
    """Every minute; returns the tick it ran for."""

    name = "tests.periodic.Heartbeat"
    queue = "periodic"
    every_s = 60

    def perform(self) -> str:
        assert self.scheduled_for is not None
        return self.scheduled_for.isoformat()


class Nightly(Job):
    """At 03:00 in Paris, with an argument; returns it and the tick, as the job saw them."""

    name = "tests.periodic.Nightly"
    queue = "periodic"
    cron = "0 3 * * *"
    cron_timezone = "Europe/Paris"
    periodic_kwargs = {"region": "eu"}  # noqa: RUF012 - a class option, read only

    def perform(self, region: str) -> dict[str, Any]:
        assert self.scheduled_for is not None
        return {"region": region, "scheduled_for": self.scheduled_for.isoformat()}


class Declined(Job):
    """Every minute, a business "no"."""

    name = "tests.periodic.Declined"
    queue = "periodic"
    every_s = 60

    def perform(self) -> Negative:
        return Negative("nothing_to_do")


class Broken(Job):
    """Every minute, a failure that is not retried: dead-lettered."""

    name = "tests.periodic.Broken"
    queue = "periodic"
    every_s = 60
    max_attempts = 1

    def perform(self) -> None:
        raise RuntimeError("the report template is missing")


class EverySecond(Job):
    """Every second, every missed tick run: the exactly-once tests count its ticks."""

    name = "tests.periodic.EverySecond"
    queue = "periodic-load"
    every_s = 1
    catch_up = "all"

    def perform(self) -> None:
        return None


class RecordsItsTick(Job):
    """Every second, every missed tick run: notes the tick it ran for (the fleet test counts them)."""

    name = "tests.periodic.RecordsItsTick"
    queue = "ticks"
    every_s = 1
    catch_up = "all"

    def perform(self) -> None:
        assert self.scheduled_for is not None
        connect().rpush(RAN, self.scheduled_for.timestamp())


RAN = "tests:periodic:ran"
GO = "tests:periodic:go"


def tick_loop(url: str, start: float, steps: int, wait: bool = False) -> None:
    """Tick ``steps`` times, moving ``now`` one second a time from ``start`` (run in a subprocess); with
    ``wait``, only once the test pushes to ``GO``, so that several tickers start together."""
    connection = redis.Redis.from_url(url)
    if wait:
        connection.blpop([GO], timeout=60)
    for step in range(1, steps + 1):
        periodic.tick(connection, now=start + step)
        if step == 1:
            print("ticking", flush=True)


if __name__ == "__main__":
    tick_loop(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), wait="--wait" in sys.argv)
