"""Throughput: plain RQ's workers against stalwart's, on the same trivial jobs and the same Redis.

    python -m tests.benchmarks.throughput [--jobs 2000] [--rounds 8]

The kinds are interleaved: each round enqueues jobs/rounds jobs for every kind
and drains them with that kind's worker in burst mode, so drift in the machine's
speed hits every kind alike. Only the drain is timed; enqueueing is not.
Redis commands are counted from INFO commandstats around each drain.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
import rq
from rq.worker import SimpleWorker

from jobs import EmbeddedRedis, Worker, logs
from tests.benchmarks.trivial import Noop, plain_noop


@dataclass
class Tally:
    jobs: int = 0
    seconds: float = 0.0
    commands: int = 0
    samples: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds

    @property
    def commands_per_job(self) -> float:
        return self.commands / self.jobs


def _commands(connection: redis.Redis) -> int:
    stats = connection.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


def _drain(
    connection: redis.Redis, enqueue: Callable[[int], None], drain: Callable[[], None], n: int, tally: Tally
) -> None:
    connection.flushdb()
    for i in range(n):
        enqueue(i)
    connection.config_resetstat()
    start = time.perf_counter()
    drain()
    elapsed = time.perf_counter() - start
    tally.commands += _commands(connection)
    assert connection.llen("rq:queue:default") == 0, "the worker left jobs behind"
    tally.jobs += n
    tally.seconds += elapsed
    tally.samples.append(n / elapsed)


def run(jobs: int, rounds: int) -> dict[str, Tally]:
    home = tempfile.mkdtemp(prefix="stalwart-bench-")
    server = EmbeddedRedis(home)
    url = server.start()
    connection = redis.Redis.from_url(url)
    logs.configure("INFO", stream=open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the run
    plain_queue = rq.Queue("default", connection=connection)

    def plain(worker_cls: type[rq.worker.BaseWorker]) -> Callable[[], None]:
        def drain() -> None:
            # Plain RQ as it runs by default: its worker logs every job at INFO.
            logging.getLogger("rq.worker").setLevel(logging.NOTSET)
            worker_cls([plain_queue], connection=connection).work(burst=True, with_scheduler=True)

        return drain

    def ours(mode: str) -> Callable[[], None]:
        return lambda: Worker(["default"], connection=connection, mode=mode).work(burst=True)  # type: ignore[arg-type]

    def enqueue_plain(i: int) -> None:
        plain_queue.enqueue(plain_noop, i)

    def enqueue_ours(i: int) -> None:
        Noop.enqueue(connection=connection, n=i)

    kinds: dict[str, tuple[Callable[[int], None], Callable[[], None]]] = {
        "rq SimpleWorker": (enqueue_plain, plain(SimpleWorker)),
        "stalwart in-process": (enqueue_ours, ours("inprocess")),
        "rq Worker (fork)": (enqueue_plain, plain(rq.Worker)),
        "stalwart fork": (enqueue_ours, ours("fork")),
    }
    tallies = {kind: Tally() for kind in kinds}
    per_round = jobs // rounds
    try:
        for r in range(rounds):
            order = list(kinds) if r % 2 == 0 else list(reversed(kinds))
            for kind in order:
                enqueue, drain = kinds[kind]
                _drain(connection, enqueue, drain, per_round, tallies[kind])
    finally:
        server.stop()
    return tallies


def report(tallies: dict[str, Tally]) -> str:
    pairs = [("rq SimpleWorker", "stalwart in-process"), ("rq Worker (fork)", "stalwart fork")]
    lines = [
        "| worker | jobs | jobs/s | Redis commands/job | stalwart / rq | per-round ratios |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for base, ours in pairs:
        b, o = tallies[base], tallies[ours]
        ratios = sorted(x / y for x, y in zip(o.samples, b.samples, strict=True))
        spread = f"{ratios[0]:.2f} to {ratios[-1]:.2f} (median {statistics.median(ratios):.2f})"
        lines.append(f"| {base} | {b.jobs} | {b.rate:.1f} | {b.commands_per_job:.1f} | | |")
        lines.append(
            f"| {ours} | {o.jobs} | {o.rate:.1f} | {o.commands_per_job:.1f} | {o.rate / b.rate:.2f} | {spread} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per worker kind (default 2000)")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds (default 8)")
    args = parser.parse_args()
    print(f"rq {rq.__version__}, {os.cpu_count()} cores; {args.jobs} jobs per kind in {args.rounds} rounds\n")
    print(report(run(args.jobs, args.rounds)))


if __name__ == "__main__":
    main()
