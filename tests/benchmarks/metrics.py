"""How long a ``/metrics`` scrape takes against a realistic Redis.

    python -m tests.benchmarks.metrics [--jobs 50] [--entries 100000] [--queues 10] [--scrapes 20]

The Redis holds all-time counts and duration histograms for ``--jobs`` job names (every outcome,
three negative reasons, two dead-letter classifications each), ``--queues`` queues with jobs waiting,
``--entries`` dead-letter entries (made as the dead-letter benchmark makes them) and five circuits.
Timed: reading the snapshot and rendering it in process, and a whole scrape over HTTP from a real
``MetricsServer`` on 127.0.0.1. Target: a scrape well under Prometheus's default 10 s timeout.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable

import redis

from jobs import DeadLetterQueue, EmbeddedRedis, _keys, metrics, stats
from tests.benchmarks.dead_letter import fill, quiesce

REASONS = ("card_declined", "no_such_customer", "already_charged")


def fill_counts(connection: redis.Redis, jobs: int) -> None:
    """What ``jobs`` job names leave in the totals after a busy life, written as the workers write it."""
    with connection.pipeline(transaction=False) as pipeline:
        for j in range(jobs):
            job = f"billing.Job{j:02d}"
            counted: list[tuple[str, str, float]] = [
                (job, "succeeded", 90_000),
                (job, "retried", 3_000),
                (job, "snoozed", 40),
                (job, "abandoned", 2),
                (job, "negative", 300),
                *((job, f"negative.{r}", 100) for r in REASONS),
                (job, "dead_lettered", 20),
                (job, "dead_lettered.exhausted", 15),
                (job, "dead_lettered.non_retryable", 5),
            ]
            # One run in every bucket of the histogram, and one beyond the last.
            counted += [(job, "duration_ms", b * 1000) for b in (*stats.DURATION_BUCKETS_S, 7200.0)]
            stats.write(pipeline, counted)
        pipeline.execute()


def fill_queues(connection: redis.Redis, queues: int) -> None:
    with connection.pipeline(transaction=False) as pipeline:
        for q in range(queues):
            name = f"queue{q}"
            pipeline.sadd("rq:queues", f"rq:queue:{name}")
            pipeline.rpush(f"rq:queue:{name}", *(f"job-{q}-{n}" for n in range(100)))
            pipeline.zadd(f"rq:scheduled:{name}", {f"later-{q}-{n}": n for n in range(10)})
        for c in range(5):
            pipeline.hset(f"{_keys.circuits()}dependency{c}", mapping={"state": "open" if c else "closed"})
        pipeline.execute()


def median_ms(run: Callable[[], object], times: int) -> float:
    timings = []
    for _ in range(times):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--queues", type=int, default=10)
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args()
    server = EmbeddedRedis(tempfile.mkdtemp(prefix="stalwart-bench-metrics-"))
    connection = redis.Redis.from_url(server.start())
    try:
        fill(DeadLetterQueue(connection), args.entries)
        fill_counts(connection, args.jobs)
        fill_queues(connection, args.queues)
        quiesce(connection)
        keys = int(connection.dbsize())
        text = metrics.render(metrics.read(connection))
        series = sum(1 for line in text.splitlines() if not line.startswith("#"))

        read_ms = median_ms(lambda: metrics.read(connection), args.scrapes)
        snapshot = metrics.read(connection)
        render_ms = median_ms(lambda: metrics.render(snapshot), args.scrapes)

        http = metrics.make_server(connection, "127.0.0.1", 0)
        threading.Thread(target=http.serve_forever, daemon=True).start()

        def scrape() -> None:
            with urllib.request.urlopen(http.url, timeout=30) as response:
                response.read()

        try:
            scrape_ms = median_ms(scrape, args.scrapes)
        finally:
            http.shutdown()
            http.server_close()

        print(f"Redis: {keys:,} keys; /metrics: {series:,} series, {len(text.encode()):,} bytes")
        print(f"| step | median of {args.scrapes} |")
        print("|---|---:|")
        print(f"| read the snapshot from Redis | {read_ms:.1f} ms |")
        print(f"| render it | {render_ms:.1f} ms |")
        print(f"| whole scrape over HTTP (read, render, send) | {scrape_ms:.1f} ms |")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
