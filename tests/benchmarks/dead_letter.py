"""Dead-letter queue operations at scale: filtering, bulk replay, memory per entry.

    python -m tests.benchmarks.dead_letter [--entries 100000] [--replay 10000]

Targets (from the dead-letter issue): filtering 100,000 entries by job and error
type under 1 s; replay_all at least 5,000 entries/s without a rate cap; under
4 KB of Redis memory per entry.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import traceback
from datetime import datetime, timedelta, timezone

import redis

from jobs import Classification, DeadLetterEntry, DeadLetterQueue, EmbeddedRedis
from tests.benchmarks.trivial import Noop

JOBS = [f"billing.Job{i}" for i in range(10)]
ERRORS = [
    "GatewayTimeout",
    "GatewayRefused",
    "IntegrityError",
    "KeyError",
    "ValueError",
    "RateLimited",
    "SSLError",
    "LookupError",
    "PermissionError",
    "OSError",
]


def _traceback() -> str:
    def charge(customer_id: int) -> None:
        raise ConnectionRefusedError(f"gateway refused the connection for customer {customer_id}")

    try:
        charge(42)
    except ConnectionRefusedError as err:
        return "".join(traceback.format_exception(err))
    return ""


def typical(n: int, job: str, error_type: str, at: datetime) -> DeadLetterEntry:
    """A typical failure: three attempts, each with its traceback."""
    stamp = at.isoformat()
    tb = _traceback()
    history = [
        {
            "number": a,
            "started_at": stamp,
            "ended_at": stamp,
            "host": "worker-3.prod",
            "pid": 41000 + a,
            "outcome": "retrying" if a < 3 else "exhausted",
            "error_type": error_type,
            "error_message": f"gateway refused the connection for customer {n}",
            "traceback": tb,
            "budget": "*",
        }
        for a in (1, 2, 3)
    ]
    return DeadLetterEntry(
        id=f"{n:08d}-0000-4000-8000-000000000000",
        job=job,
        queue="billing",
        kwargs={"n": n},
        classification=Classification.EXHAUSTED,
        error_type=error_type,
        error_message=f"gateway refused the connection for customer {n}",
        message=(
            f"{job} (job {n}, attempt 3/3) failed while charging customer {n} the monthly fee: "
            f"{error_type}: gateway refused the connection for customer {n}. Gave up: 3 of 3 attempts "
            "allowed for this job failed. Remediation: Check the gateway's status page, then replay."
        ),
        attempts=3,
        request_id=f"req-{n}",
        first_failed_at=stamp,
        last_failed_at=stamp,
        history=history,
        idempotency_key=f"{n:032x}",
    )


def fill(dlq: DeadLetterQueue, count: int, job: str | None = None) -> None:
    start = datetime.now(timezone.utc) - timedelta(days=30)
    for base in range(0, count, 1000):
        with dlq.connection.pipeline(transaction=False) as pipeline:
            for n in range(base, min(base + 1000, count)):
                entry = typical(n, job or JOBS[n % 10], ERRORS[(n // 10) % 10], start + timedelta(seconds=n))
                dlq.put(entry, pipeline=pipeline)
            pipeline.execute()


def quiesce(connection: redis.Redis) -> None:
    """Wait for Redis's own background work (an AOF rewrite after a big fill) so it is not timed."""
    while True:
        persistence = connection.info("persistence")
        if not persistence.get("aof_rewrite_in_progress") and not persistence.get("rdb_bgsave_in_progress"):
            return
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--replay", type=int, default=10_000)
    args = parser.parse_args()
    server = EmbeddedRedis(tempfile.mkdtemp(prefix="stalwart-bench-dlq-"))
    connection = redis.Redis.from_url(server.start())
    dlq = DeadLetterQueue(connection)
    try:
        before = int(connection.info("memory")["used_memory"])
        fill(dlq, args.entries)
        per_entry = (int(connection.info("memory")["used_memory"]) - before) / args.entries

        timings = []
        for _ in range(5):
            start = time.perf_counter()
            found = dlq.list(job="billing.Job3", error_type="GatewayRefused")
            timings.append(time.perf_counter() - start)
        filter_s = sorted(timings)[len(timings) // 2]

        rates = []
        for _ in range(3):
            connection.flushdb()
            fill(dlq, args.replay, job=Noop.name)
            quiesce(connection)
            start = time.perf_counter()
            replayed = dlq.replay_all(job=Noop.name)
            rates.append(args.replay / (time.perf_counter() - start))
            assert len(replayed) == args.replay and connection.llen("rq:queue:default") == args.replay
        replay_rate = sorted(rates)[1]

        print("| operation | figure | target |")
        print("|---|---:|---|")
        print(
            f"| filter {args.entries:,} entries by job and error type ({len(found)} match) | "
            f"{filter_s * 1000:.0f} ms (median of 5) | under 1 s |"
        )
        print(
            f"| replay_all of {args.replay:,} entries, no rate cap | {replay_rate:,.0f} entries/s "
            "(median of 3) | at least 5,000/s |"
        )
        print(
            f"| Redis memory per entry (3 attempts with tracebacks, indexes and audit included) | "
            f"{per_entry:,.0f} bytes | under 4 KB |"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
