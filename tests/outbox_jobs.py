"""Jobs for the outbox tests, and the processes the tests start: a producer that dies right after its
commit, and a relay held between its write to Redis and its commit (to be SIGKILLed there)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from jobs import Job, outbox
from jobs.connection import connect
from jobs.outbox.database import connect as connect_database

RUNS = "tests:outbox:runs"


class CountsRuns(Job):
    """Counts its runs per ``n`` in the hash ``RUNS``: exactly once means each count is 1."""

    name = "tests.outbox.CountsRuns"
    queue = "outbox"

    def perform(self, n: int) -> int:
        connect().hincrby(RUNS, str(n), 1)
        return n


class ExportsOnce(Job):
    """A unique job: while one is queued, another with the same arguments is not enqueued."""

    name = "tests.outbox.ExportsOnce"
    queue = "outbox"
    unique = True

    def perform(self, account_id: int) -> int:
        return account_id


def runs() -> dict[int, int]:
    """How many times each ``n`` ran."""
    return {int(k): int(v) for k, v in connect().hgetall(RUNS).items()}


def produce_then_die(url: str, first: int, count: int) -> None:
    """Commit ``count`` jobs in one transaction, then SIGKILL this process before anything else runs."""
    import os
    import signal

    db = connect_database(url)
    db.execute("BEGIN")
    for n in range(first, first + count):
        outbox.enqueue(db, CountsRuns, n=n)
    db.execute("COMMIT")
    os.kill(os.getpid(), signal.SIGKILL)


def relay_and_hang(url: str, held: str) -> None:
    """Relay one batch, and hang between writing it to Redis and deleting its rows (``held`` says when)."""

    def hang(ids: list[str]) -> None:
        Path(held).write_text("\n".join(ids))
        time.sleep(600)  # SIGKILLed here by the test

    outbox.Relay(url, connect(), after_redis=hang).relay_once()


if __name__ == "__main__":
    if sys.argv[1] == "produce":
        produce_then_die(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "relay":
        relay_and_hang(sys.argv[2], sys.argv[3])
