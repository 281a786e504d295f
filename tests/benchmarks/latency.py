"""Enqueue-to-start latency at a light steady load: plain RQ's workers against stalwart's.

    python -m tests.benchmarks.latency [--rate 20] [--seconds 10] [--rounds 4]

One long-lived worker process per kind, each on its own queue, started as a person
starts them (`rq worker`, `rq worker --worker-class rq.worker.SimpleWorker`,
`stalwart worker`, `stalwart worker --in-process`), registered and warmed up by a
few unmeasured jobs, idle before the first measured one. This process enqueues
--rate jobs a second to one kind at a time, in --rounds interleaved rounds whose
order alternates, --seconds per kind in all, and waits for a round's jobs to start
before the next round. Each job (``probes.started``, run by stalwart's through
``probe_jobs``) stores time.time() taken first thing in the job in a Redis hash;
the enqueue time is taken right before the enqueue call, so the latency includes
that call (shown on its own too). Workers log as they do by default, to files;
they are stopped with SIGTERM.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis
import rq

from jobs import EmbeddedRedis
from tests.benchmarks import _processes, probe_jobs, probes
from tests.benchmarks._processes import WorkerProcess

WARM_UP_JOBS = 5


@dataclass
class Kind:
    label: str
    key: str
    start: Callable[[str, Path], WorkerProcess]
    enqueue: Callable[[int], object]
    latencies_ms: list[float] = field(default_factory=list)
    enqueue_calls_ms: list[float] = field(default_factory=list)


def _plain(label: str, key: str, connection: redis.Redis, simple: bool) -> Kind:
    queue = rq.Queue(f"bench-latency-{key}", connection=connection)

    def start(url: str, logs: Path) -> WorkerProcess:
        return _processes.rq_worker(key, queue.name, url, logs, simple=simple)

    return Kind(label, key, start, lambda n: queue.enqueue(probes.started, key, n))


def _ours(
    label: str, key: str, connection: redis.Redis, job: type[probe_jobs.Started], in_process: bool
) -> Kind:
    def start(url: str, logs: Path) -> WorkerProcess:
        return _processes.stalwart_worker(
            key, job.queue, probe_jobs.__name__, url, logs, in_process=in_process
        )

    return Kind(label, key, start, lambda n: job.enqueue(connection=connection, kind=key, n=n))


def _kinds(connection: redis.Redis) -> list[Kind]:
    return [
        _plain("rq SimpleWorker", "rq-simple", connection, simple=True),
        _ours(
            "stalwart in-process",
            "stalwart-inprocess",
            connection,
            probe_jobs.StartedInProcess,
            in_process=True,
        ),
        _plain("rq Worker (fork)", "rq-fork", connection, simple=False),
        _ours("stalwart fork", "stalwart-fork", connection, probe_jobs.StartedFork, in_process=False),
    ]


def _await_starts(connection: redis.Redis, kind: Kind, count: int, timeout_s: float = 30.0) -> None:
    """Return once ``count`` jobs of ``kind`` have recorded their start."""
    deadline = time.monotonic() + timeout_s
    while connection.hlen(probes.STARTED + kind.key) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{kind.label}: only {connection.hlen(probes.STARTED + kind.key)} of {count} jobs started "
                f"within {timeout_s:.0f} s"
            )
        time.sleep(0.01)


def _paced(kind: Kind, first: int, count: int, rate: float) -> dict[int, float]:
    """Enqueue jobs ``first``.. at ``rate`` a second; returns each job's enqueue time."""
    enqueued: dict[int, float] = {}
    origin = time.perf_counter()
    for i in range(count):
        delay = origin + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        n = first + i
        enqueued[n] = time.time()
        kind.enqueue(n)
        kind.enqueue_calls_ms.append((time.time() - enqueued[n]) * 1000)
    return enqueued


def run(rate: float, seconds: float, rounds: int) -> list[Kind]:
    home = Path(tempfile.mkdtemp(prefix="stalwart-bench-latency-"))
    server = EmbeddedRedis(home)
    url = server.start()
    connection = redis.Redis.from_url(url)
    kinds = _kinds(connection)
    workers: list[WorkerProcess] = []
    per_round = max(1, round(rate * seconds / rounds))
    try:
        for kind in kinds:
            workers.append(kind.start(url, home))
        _processes.wait_registered(connection, workers)
        for kind in kinds:
            # The first jobs pay for imports and connections; they are not measured.
            _paced(kind, -WARM_UP_JOBS, WARM_UP_JOBS, rate)
            _await_starts(connection, kind, WARM_UP_JOBS)
            connection.delete(probes.STARTED + kind.key)
            kind.enqueue_calls_ms.clear()
        for r in range(rounds):
            for kind in kinds if r % 2 == 0 else reversed(kinds):
                enqueued = _paced(kind, r * per_round, per_round, rate)
                _await_starts(connection, kind, (r + 1) * per_round)
                starts = connection.hmget(probes.STARTED + kind.key, [str(n) for n in enqueued])
                for at, started in zip(enqueued.values(), starts, strict=True):
                    kind.latencies_ms.append((float(started or "nan") - at) * 1000)
    finally:
        _processes.stop(workers)
        server.stop()
    return kinds


def _percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


def report(kinds: list[Kind]) -> str:
    by_label = {kind.label: kind for kind in kinds}
    pairs = [("rq SimpleWorker", "stalwart in-process"), ("rq Worker (fork)", "stalwart fork")]
    lines = [
        "| worker | jobs | p50 ms | p99 ms | max ms | stalwart p50 - rq p50 | enqueue call p50 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for base, ours in pairs:
        base_p50 = statistics.median(by_label[base].latencies_ms)
        for label in (base, ours):
            kind = by_label[label]
            p50 = statistics.median(kind.latencies_ms)
            diff = f"{p50 - base_p50:+.1f} ms" if label == ours else ""
            lines.append(
                f"| {label} | {len(kind.latencies_ms)} | {p50:.1f} | {_percentile(kind.latencies_ms, 99):.1f} "
                f"| {max(kind.latencies_ms):.1f} | {diff} | {statistics.median(kind.enqueue_calls_ms):.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=20, help="jobs per second (default 20)")
    parser.add_argument("--seconds", type=float, default=10, help="seconds of load per kind (default 10)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    args = parser.parse_args()
    print(
        f"rq {rq.__version__}, {os.cpu_count()} cores; {args.rate:g} jobs/s for {args.seconds:g} s per kind, "
        f"in {args.rounds} interleaved rounds, one idle worker process per kind\n"
    )
    print(report(run(args.rate, args.seconds, args.rounds)))


if __name__ == "__main__":
    main()
