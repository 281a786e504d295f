"""Time and flow, stalwart against plain RQ in the same run: delayed jobs' lateness, a worker's idle Redis
commands, and bulk enqueue.

    python -m tests.benchmarks.time_and_flow [--jobs 100] [--rounds 3]

1. Lateness of delayed jobs. ``--jobs`` jobs of each kind, due 0.3 to 3 s after they are enqueued (drawn
   at random), enqueued interleaved over 3 s: stalwart's with ``enqueue_in``, plain RQ's with
   ``Queue.enqueue_in``. One in-process worker per kind (``stalwart worker --in-process``; ``rq worker
   --with-scheduler`` with SimpleWorker), so fork cost stays out of it. Lateness = the job's own start
   (``time.time()`` in perform) - its due time: stalwart's as the handle reports it (Redis's clock, the
   same host), RQ's as the time of the enqueue call plus the delay. Negative is early.
2. Idle Redis commands per second of one worker with nothing to do (after 3 s of settling, counted by
   Redis over 10 s, the counting itself left out): ``stalwart worker`` and ``rq worker
   --with-scheduler``; and of three stalwart workers together (one leads the scheduling).
3. Bulk enqueue: 20,000 trivial jobs in batches of 1,000, ``Job.enqueue_many`` against RQ's
   ``Queue.enqueue_many`` (with ``Queue.prepare_data``), rounds interleaved; medians. And one at a time:
   2,000 ``Job.enqueue`` calls against 2,000 ``Queue.enqueue`` calls, each given its connection.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import redis
import rq
from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker  # noqa: F401 - named on rq's command line below

from jobs import EmbeddedRedis, _keys
from tests.benchmarks import _processes, probe_jobs, probes
from tests.benchmarks.trivial import Noop, plain_noop

STALWART_QUEUE = probe_jobs.StartedInProcess.queue
RQ_QUEUE = "bench-delayed-rq"
BULK, BATCH = 20_000, 1_000


def delayed_lateness(url: str, home: Path, jobs: int, seed: int = 11) -> dict[str, list[float]]:
    """Milliseconds late (negative: early) of each delayed job, by kind."""
    connection = redis.Redis.from_url(url)
    connection.flushdb()
    workers = [
        _processes.stalwart_worker(
            "stalwart", STALWART_QUEUE, probe_jobs.__name__, url, home, in_process=True
        ),
        _processes.rq_worker("rq", RQ_QUEUE, url, home, simple=True, with_scheduler=True),
    ]
    try:
        _processes.wait_registered(connection, workers)
        _await(lambda: connection.exists(_keys.scheduler_leader()), "stalwart's scheduler to lead")
        _await(lambda: connection.exists(f"rq:scheduler-lock:{RQ_QUEUE}"), "RQ's scheduler to start")
        rng = random.Random(seed)
        plan = [(kind, n, rng.uniform(0.3, 3.0)) for n in range(jobs) for kind in ("stalwart", "rq")]
        rng.shuffle(plan)
        due: dict[str, dict[int, float]] = {"stalwart": {}, "rq": {}}
        rq_queue = rq.Queue(RQ_QUEUE, connection=connection)
        origin = time.perf_counter()
        for i, (kind, n, delay) in enumerate(plan):
            wait = origin + i * 3.0 / len(plan) - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            if kind == "stalwart":
                handle = probe_jobs.StartedInProcess.enqueue_in(delay, connection=connection, kind=kind, n=n)
                assert handle.due_at is not None
                due[kind][n] = handle.due_at
            else:
                due[kind][n] = time.time() + delay
                rq_queue.enqueue_in(timedelta(seconds=delay), probes.started, kind, n)
        _await(lambda: all(connection.hlen(probes.STARTED + k) == jobs for k in due), "every delayed job", 60)
        late: dict[str, list[float]] = {}
        for kind, dues in due.items():
            started = connection.hgetall(probes.STARTED + kind)
            late[kind] = [(float(started[str(n).encode()]) - at) * 1000 for n, at in dues.items()]
        return late
    finally:
        _processes.stop(workers)


def idle_commands(url: str, home: Path) -> dict[str, float]:
    """Redis commands per second sent by idle workers."""
    connection = redis.Redis.from_url(url)
    rates: dict[str, float] = {}
    setups = {
        "stalwart, 1 worker": lambda: [_stalwart(url, home, "idle-0")],
        "rq --with-scheduler, 1 worker": lambda: [
            _processes.rq_worker("rq", "idle-rq", url, home, with_scheduler=True)
        ],
        "stalwart, 3 workers (per worker)": lambda: [_stalwart(url, home, f"idle-{n}") for n in range(3)],
    }
    for name, start in setups.items():
        connection.flushdb()
        workers = start()
        try:
            _processes.wait_registered(connection, workers)
            time.sleep(3.0)  # past start-up (registration, first rounds)
            connection.config_resetstat()
            time.sleep(10.0)
            stats = connection.info("commandstats")
            calls = sum(int(v["calls"]) for v in stats.values()) - 1  # the INFO itself
            rates[name] = calls / 10.0 / len(workers)
        finally:
            _processes.stop(workers)
    return rates


def _stalwart(url: str, home: Path, queue: str) -> _processes.WorkerProcess:
    return _processes.stalwart_worker("stalwart", queue, "tests.benchmarks.trivial", url, home)


def bulk_enqueue(url: str, rounds: int) -> dict[str, float]:
    """Median jobs enqueued per second, by kind."""
    connection = redis.Redis.from_url(url)
    rates: dict[str, list[float]] = {"stalwart": [], "rq": []}
    rq_queue = rq.Queue("bench-bulk-rq", connection=connection, serializer=JSONSerializer)
    for _ in range(rounds):
        for kind in ("stalwart", "rq"):
            connection.flushdb()
            began = time.perf_counter()
            for start in range(0, BULK, BATCH):
                if kind == "stalwart":
                    Noop.enqueue_many([{"n": n} for n in range(start, start + BATCH)], connection=connection)
                else:
                    rq_queue.enqueue_many(
                        [rq.Queue.prepare_data(plain_noop, (n,)) for n in range(start, start + BATCH)]
                    )
            rates[kind].append(BULK / (time.perf_counter() - began))
    return {kind: statistics.median(values) for kind, values in rates.items()}


def single_enqueue(url: str, rounds: int, jobs: int = 2_000) -> dict[str, float]:
    """Median jobs enqueued per second one call at a time, by kind."""
    connection = redis.Redis.from_url(url)
    rates: dict[str, list[float]] = {"stalwart": [], "rq": []}
    rq_queue = rq.Queue("bench-single-rq", connection=connection, serializer=JSONSerializer)
    for _ in range(rounds):
        for kind in ("stalwart", "rq"):
            connection.flushdb()
            began = time.perf_counter()
            for n in range(jobs):
                if kind == "stalwart":
                    Noop.enqueue(connection=connection, n=n)
                else:
                    rq_queue.enqueue(plain_noop, n)
            rates[kind].append(jobs / (time.perf_counter() - began))
    return {kind: statistics.median(values) for kind, values in rates.items()}


def _await(predicate: object, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:.0f} s for {what}")
        time.sleep(0.02)


def _percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    early = sum(v < 0 for v in values)
    return f"{statistics.median(values):.1f} | {p99:.1f} | {max(values):.1f} | {min(values):.1f} | {early}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100, help="delayed jobs per kind (default 100)")
    parser.add_argument("--rounds", type=int, default=3, help="bulk enqueue rounds (default 3)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="stalwart-bench-time-"))
    server = EmbeddedRedis(home)
    url = server.start()
    try:
        print(f"rq {rq.__version__}, {os.cpu_count()} cores\n")
        late = delayed_lateness(url, home, args.jobs)
        print(f"Delayed jobs ({args.jobs} per kind), lateness in ms: start - due (negative is early)\n")
        print("| kind | p50 | p99 | max | min | early |\n|---|---:|---:|---:|---:|---:|")
        for kind, values in late.items():
            print(f"| {kind} | {_percentiles(values)} |")
        idle = idle_commands(url, home)
        print("\nIdle Redis commands per second\n\n| workers | commands/s |\n|---|---:|")
        for name, rate in idle.items():
            print(f"| {name} | {rate:.1f} |")
        bulk = bulk_enqueue(url, args.rounds)
        print(f"\nBulk enqueue, {BULK:,} jobs in batches of {BATCH:,}, median of {args.rounds} rounds\n")
        print("| kind | jobs/s |\n|---|---:|")
        for kind, rate in bulk.items():
            print(f"| {kind} | {rate:,.0f} |")
        print(f"\nstalwart / RQ: {bulk['stalwart'] / bulk['rq']:.2f}")
        single = single_enqueue(url, args.rounds)
        print(f"\nOne enqueue at a time, 2,000 jobs, median of {args.rounds} rounds\n")
        print("| kind | jobs/s |\n|---|---:|")
        for kind, rate in single.items():
            print(f"| {kind} | {rate:,.0f} |")
        print(f"\nstalwart / RQ: {single['stalwart'] / single['rq']:.2f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
