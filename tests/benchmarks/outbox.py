"""The outbox against plain ``Job.enqueue`` after the commit, in the same run.

    python -m tests.benchmarks.outbox [--jobs 200] [--rows 5000]

1. Commit-to-queued latency. ``--jobs`` jobs, one transaction each, 20 ms apart: from the moment
   ``commit()`` returns to the moment the job's id arrives on its queue (a ``BLPOP`` in a thread of this
   process, which Redis wakes at once). Through the outbox on SQLite (the relay polls every 1 s, the
   default, and every 0.05 s) and on PostgreSQL (woken by ``NOTIFY``); and plain ``Job.enqueue`` called
   right after the commit (the enqueue's own round trip counted in).
2. Relay throughput. ``--rows`` rows committed (1,000 per transaction) with no relay running, then one
   relay started: rows moved to Redis per second until the outbox is empty. Against plain ``Job.enqueue``
   called ``--rows`` times in a row, one process.

The relay runs in a thread of this process (as in a worker), with its own connections; Redis is an
embedded server; PostgreSQL is a throwaway server started as the tests start theirs (tests/postgres.py).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from jobs import EmbeddedRedis, Job, outbox, settings
from jobs.outbox.database import connect
from tests.postgres import PostgresServer, scratch

QUEUE = "bench-outbox"


class Noted(Job):
    """A job that is never run here: the benchmark times its arrival on the queue."""

    name = "bench.outbox.Noted"
    queue = QUEUE

    def perform(self, n: int) -> int:
        return n


class Arrivals(threading.Thread):
    """Pops every id pushed on the queue and notes when it arrived."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.connection = redis.Redis.from_url(url)
        self.seen: dict[str, float] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            popped = self.connection.blpop([f"rq:queue:{QUEUE}"], timeout=0.2)
            if popped is not None:
                self.seen[popped[1].decode()] = time.perf_counter()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _wait(predicate: Callable[[], bool], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark waited too long")
        time.sleep(0.002)


def latency(kind: str, db_url: str | None, redis_url: str, jobs: int, poll_s: float = 1.0) -> list[float]:
    """Milliseconds from each commit's return to its job's arrival on the queue."""
    connection = redis.Redis.from_url(redis_url)
    connection.delete(f"rq:queue:{QUEUE}")
    arrivals = Arrivals(redis_url)
    arrivals.start()
    relay = None
    db: Any = None
    if db_url is not None:
        db = connect(db_url)
        relay = outbox.Relay(db_url, connection, poll_s=poll_s)
        relay.start()
    else:
        db = connect(f"sqlite:///{tempfile.mkdtemp()}/app.db")
        db.execute("CREATE TABLE users (id INTEGER)")
    committed: dict[str, float] = {}
    try:
        for n in range(jobs):
            db.execute("BEGIN")
            if db_url is not None:
                job_id = outbox.enqueue(db, Noted, n=n)
                db.execute("COMMIT")
                committed[job_id] = time.perf_counter()
            else:
                db.execute("INSERT INTO users VALUES (1)")
                db.execute("COMMIT")
                at = time.perf_counter()
                committed[Noted.enqueue(connection=connection, n=n).id] = at
            time.sleep(0.02)
        _wait(lambda: len(arrivals.seen) >= jobs)
    finally:
        arrivals.stopping.set()
        arrivals.join()  # else it may pop the next case's first ids
        if relay is not None:
            relay.stop()
        db.close()
    return [(arrivals.seen[i] - at) * 1000 for i, at in committed.items()]


def throughput(db_url: str | None, redis_url: str, rows: int) -> float:
    """Rows relayed per second (``db_url``), or plain enqueues per second (None)."""
    connection = redis.Redis.from_url(redis_url)
    connection.delete(f"rq:queue:{QUEUE}")
    if db_url is None:
        began = time.perf_counter()
        for n in range(rows):
            Noted.enqueue(connection=connection, n=n)
        return rows / (time.perf_counter() - began)
    db = connect(db_url)
    for first in range(0, rows, 1000):
        db.execute("BEGIN")
        for n in range(first, min(rows, first + 1000)):
            outbox.enqueue(db, Noted, n=n)
        db.execute("COMMIT")
    db.close()
    relay = outbox.Relay(db_url, connection, poll_s=0.01)
    began = time.perf_counter()
    relay.start()
    try:
        _wait(lambda: relay.relayed >= rows)
        return rows / (time.perf_counter() - began)
    finally:
        relay.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="stalwart-bench-outbox-"))
    server = EmbeddedRedis(home / "redis")
    redis_url = server.start()
    postgres = PostgresServer(scratch())
    postgres_url = postgres.start()
    sqlite_url = f"sqlite:///{home / 'app.db'}"
    settings.configure(outbox_alert_depth=10**9)
    try:
        for url in (sqlite_url, postgres_url):
            db = connect(url)
            db.execute("BEGIN")
            outbox.install(db)
            db.execute("COMMIT")
            db.close()
        print(f"commit-to-queued latency, {args.jobs} jobs one transaction each, 20 ms apart (ms)")
        print("| | p50 | p99 | max |")
        print("|---|---:|---:|---:|")
        cases: list[tuple[str, str | None, float]] = [
            ("plain `Job.enqueue` after the commit", None, 1.0),
            ("outbox, SQLite (relay polls every 1 s)", sqlite_url, 1.0),
            ("outbox, SQLite (relay polls every 0.05 s)", sqlite_url, 0.05),
            ("outbox, PostgreSQL (LISTEN/NOTIFY)", postgres_url, 1.0),
        ]
        for label, url, poll_s in cases:
            ms = latency(label, url, redis_url, args.jobs, poll_s)
            print(f"| {label} | {statistics.median(ms):.1f} | {_percentile(ms, 0.99):.1f} | {max(ms):.1f} |")
        print(f"\nthroughput, {args.rows} jobs")
        print("| | jobs/s |")
        print("|---|---:|")
        for label, url in (
            ("plain `Job.enqueue`, one after another", None),
            ("relay, SQLite", sqlite_url),
            ("relay, PostgreSQL", postgres_url),
        ):
            print(f"| {label} | {throughput(url, redis_url, args.rows):,.0f} |")
    finally:
        postgres.stop()
        server.stop()


if __name__ == "__main__":
    main()
