"""Retry scheduling accuracy: how late a retry runs after its backoff, stalwart against plain RQ.

    python -m tests.benchmarks.retry_accuracy [--per-delay 3] [--rounds 2] [--spread 2.5]

For each delay d of 1 to 10 s, --per-delay jobs of each kind fail their first
attempt and succeed on the second: stalwart's with a declared transient error and
``backoff = Fixed(d)``, plain RQ's enqueued with ``Retry(max=1, interval=d)``. The
jobs of both kinds are enqueued in a shuffled order, evenly over --spread seconds,
so their attempts end at every fraction of a second. One long-lived forking worker
process per kind runs them, each with its scheduler: `stalwart worker` (whose
scheduler thread leads when it is alone) and `rq worker --with-scheduler`, on
queues of their own, started afresh each round: RQ's scheduler polls once a
second at a phase fixed when it started, and that phase alone moves every
lateness in a round by up to 1 s.

Lateness = start of attempt 2 - (end of attempt 1 + d), both time.time() taken
inside the job: attempt 1's end is noted right before it raises, so the worker's
own handling of the failure counts as lateness. A negative lateness means the
retry ran before its backoff had passed. Expected: stalwart keeps the due time to
the microsecond and its scheduler sleeps until it: a few milliseconds late (the
failure's own bookkeeping, then the move and the dequeue). RQ truncates the due
time to the whole second and polls once a second: from 1 s early to 1 s late.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
import rq
from rq import Retry
from rq.scheduler import SCHEDULER_LOCKING_KEY_TEMPLATE

from jobs import EmbeddedRedis, _keys
from tests.benchmarks import _processes, probe_jobs, probes
from tests.benchmarks._processes import WorkerProcess

KINDS = ("stalwart", "rq")
STALWART_QUEUE = probe_jobs.FailsOnce.queue
RQ_QUEUE = "bench-retry-rq"


@dataclass
class Probe:
    kind: str  # "stalwart" or "rq"
    delay_s: int
    n: int
    lateness_ms: float | None = None


@dataclass
class Lateness:
    by_delay: dict[int, list[float]] = field(default_factory=dict)

    def add(self, delay_s: int, lateness_ms: float) -> None:
        self.by_delay.setdefault(delay_s, []).append(lateness_ms)

    def all(self) -> list[float]:
        return [x for values in self.by_delay.values() for x in values]


def _await_schedulers(connection: redis.Redis, queues: list[str], timeout_s: float = 30.0) -> None:
    """Return once RQ's scheduler holds the lock of every queue and stalwart's leads."""
    deadline = time.monotonic() + timeout_s
    locks = [SCHEDULER_LOCKING_KEY_TEMPLATE % q for q in queues]
    while not all(connection.exists(key) for key in [*locks, _keys.scheduler_leader()]):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no scheduler took the queues {queues} within {timeout_s:.0f} s")
        time.sleep(0.05)


def _await_second_attempts(connection: redis.Redis, probes_by_kind: dict[str, int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        left = {k: n - connection.hlen(probes.SECOND_STARTED + k) for k, n in probes_by_kind.items()}
        if not any(left.values()):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"second attempts still missing after {timeout_s:.0f} s: {left}")
        time.sleep(0.05)


def _one_round(connection: redis.Redis, probes_: list[Probe], spread_s: float) -> None:
    """Enqueue ``probes_`` evenly over ``spread_s`` and wait until each has had its second attempt."""
    rq_queue = rq.Queue(RQ_QUEUE, connection=connection)
    origin = time.perf_counter()
    for i, probe in enumerate(probes_):
        delay = origin + i * spread_s / len(probes_) - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        if probe.kind == "stalwart":
            probe_jobs.FAILS_ONCE[probe.delay_s].enqueue(connection=connection, kind="stalwart", n=probe.n)
        else:
            rq_queue.enqueue(probes.fails_once, "rq", probe.n, retry=Retry(max=1, interval=probe.delay_s))
    counts = {kind: sum(p.kind == kind for p in probes_) for kind in KINDS}
    _await_second_attempts(connection, counts, timeout_s=max(probe_jobs.RETRY_DELAYS_S) + 30)
    for kind in KINDS:
        ended = connection.hgetall(probes.FIRST_ENDED + kind)
        second = connection.hgetall(probes.SECOND_STARTED + kind)
        for probe in (p for p in probes_ if p.kind == kind):
            key = str(probe.n).encode()
            probe.lateness_ms = (float(second[key]) - (float(ended[key]) + probe.delay_s)) * 1000


def run(per_delay: int, spread_s: float, rounds: int, seed: int = 7) -> dict[str, Lateness]:
    home = Path(tempfile.mkdtemp(prefix="stalwart-bench-retry-"))
    server = EmbeddedRedis(home)
    url = server.start()
    connection = redis.Redis.from_url(url)
    results = {kind: Lateness() for kind in KINDS}
    workers: list[WorkerProcess] = []
    try:
        for r in range(rounds):
            # Fresh workers (and Redis contents) each round: a scheduler looks at a fixed phase of
            # the second, set when it started, and that phase moves the lateness by up to 1 s.
            connection.flushdb()
            probes_ = [
                Probe(kind, d, n)
                for kind in KINDS
                for n, d in enumerate(d for d in probe_jobs.RETRY_DELAYS_S for _ in range(per_delay))
            ]
            random.Random(seed + r).shuffle(probes_)
            workers = []
            workers.append(
                _processes.stalwart_worker("stalwart", STALWART_QUEUE, probe_jobs.__name__, url, home)
            )
            workers.append(_processes.rq_worker("rq", RQ_QUEUE, url, home, with_scheduler=True))
            _processes.wait_registered(connection, workers)
            _await_schedulers(connection, [RQ_QUEUE])
            _one_round(connection, probes_, spread_s)
            _processes.stop(workers)
            for probe in probes_:
                assert probe.lateness_ms is not None
                results[probe.kind].add(probe.delay_s, probe.lateness_ms)
    finally:
        _processes.stop(workers)
        server.stop()
    return results


def _cells(values: list[float]) -> str:
    early = sum(v < 0 for v in values)
    return f"{statistics.median(values):.0f} | {min(values):.0f} | {max(values):.0f} | {early}"


def report(results: dict[str, Lateness]) -> str:
    ours, plain = results["stalwart"], results["rq"]
    lines = [
        "| backoff | jobs per kind | stalwart p50 ms | min | max | early | rq p50 ms | min | max | early |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for delay in sorted(ours.by_delay):
        lines.append(
            f"| {delay} s | {len(ours.by_delay[delay])} | {_cells(ours.by_delay[delay])} "
            f"| {_cells(plain.by_delay[delay])} |"
        )
    lines.append(f"| all | {len(ours.all())} | {_cells(ours.all())} | {_cells(plain.all())} |")
    return "\n".join(lines)


def _warn_if_early(results: dict[str, Lateness]) -> None:
    early = [x for x in results["stalwart"].all() if x < 0]
    if early:
        message = (
            f"\n!!! BUG: {len(early)} stalwart retries ran BEFORE their backoff had passed "
            f"(earliest {min(early):.0f} ms early); stalwart must never retry early !!!"
        )
        print(message)
        print(message, file=sys.stderr)
    plain_early = [x for x in results["rq"].all() if x < 0]
    if plain_early:
        print(
            f"\nplain RQ ran {len(plain_early)} of {len(results['rq'].all())} retries before their interval "
            f"had passed (earliest {min(plain_early):.0f} ms early): its scheduled registry truncates "
            "the due time to the whole second."
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-delay", type=int, default=3, help="jobs per delay, kind and round (default 3)")
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds, each with freshly started workers (default 2)"
    )
    parser.add_argument(
        "--spread", type=float, default=2.5, help="seconds over which the jobs are enqueued (default 2.5)"
    )
    args = parser.parse_args()
    delays = probe_jobs.RETRY_DELAYS_S
    print(
        f"rq {rq.__version__}, {os.cpu_count()} cores; delays {delays[0]} to {delays[-1]} s, "
        f"{args.per_delay} jobs per delay and kind in each of {args.rounds} rounds, enqueued over "
        f"{args.spread:g} s; one forking worker process per kind, with its scheduler, started afresh "
        "each round\n"
    )
    print("Lateness of the second attempt: its start - (end of the first + backoff); negative is early.\n")
    results = run(args.per_delay, args.spread, args.rounds)
    print(report(results))
    _warn_if_early(results)


if __name__ == "__main__":
    main()
