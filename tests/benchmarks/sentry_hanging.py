"""What an unreachable or hanging Sentry costs a failing job.

    python -m tests.benchmarks.sentry_hanging [--jobs 200] [--rounds 3]

The same failing jobs (each dead-lettered, so each raises an alert) are drained
by a forking worker with no Sentry, with a DSN whose server accepts connections
and never answers, and with one where nothing listens; interleaved in one run.
Alerts go through the Redis outbox and a dispatcher thread, so jobs never wait
on Sentry; the only cost left is the dispatcher's one-second flush when the
worker stops, which the burst drain below includes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import redis

from jobs import EmbeddedRedis, Worker
from jobs.telemetry import logs
from tests.benchmarks.trivial import Fails
from tests.sentry_server import hanging_server


def drain(connection: redis.Redis, jobs: int, dsn: str | None) -> float:
    connection.flushdb()
    for n in range(jobs):
        Fails.enqueue(connection=connection, n=n)
    if dsn:
        os.environ["SENTRY_DSN"] = dsn
    else:
        os.environ.pop("SENTRY_DSN", None)
    start = time.perf_counter()
    Worker(["default"], connection=connection, mode="fork").work(burst=True)
    elapsed = time.perf_counter() - start
    assert connection.zcard("stalwart:dlq:index") == jobs
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server = EmbeddedRedis(tempfile.mkdtemp(prefix="stalwart-bench-sentry-"))
    connection = redis.Redis.from_url(server.start())
    logs.configure("INFO", stream=open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the run
    totals = {"no Sentry": 0.0, "hanging Sentry": 0.0, "unreachable Sentry": 0.0}
    try:
        with hanging_server() as hanging:
            dsns = {
                "no Sentry": None,
                "hanging Sentry": hanging,
                "unreachable Sentry": "http://key@127.0.0.1:9/1",
            }
            for _ in range(args.rounds):
                for kind, dsn in dsns.items():
                    totals[kind] += drain(connection, args.jobs, dsn)
    finally:
        server.stop()
    jobs = args.jobs * args.rounds
    base = totals["no Sentry"] / jobs * 1000
    print(f"{jobs} failing jobs per kind, forking worker, {args.rounds} interleaved rounds\n")
    print("| Sentry | ms per failing job | added per job |")
    print("|---|---:|---:|")
    for kind, seconds in totals.items():
        per_job = seconds / jobs * 1000
        print(f"| {kind} | {per_job:.1f} | {per_job - base:+.1f} ms |")


if __name__ == "__main__":
    main()
