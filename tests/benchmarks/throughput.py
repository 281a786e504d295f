"""Throughput: plain RQ's workers against stalwart's, on the same trivial jobs and the same Redis.

    python -m tests.benchmarks.throughput [--jobs 800] [--rounds 4] [--processes 1 2] [--pair in-process fork]

Each kind of worker drains the queue in burst mode, as 1 and as 2 worker
processes at once (--processes): forked from this process, all started at the
same moment once each is ready, and timed from that moment until the last one
exits. The kinds are interleaved: each round enqueues jobs/rounds jobs for every
kind and process count and drains them, in an order that alternates between
rounds, so drift in the machine's speed hits every kind alike. Only the drain is
timed; enqueueing is not. Redis commands are counted from INFO commandstats
around each drain.

The last column times the same drains up to the last job's end (RQ's ended_at)
instead of the last exit: a plain RQ burst worker's exit sometimes waits a whole
second for RQ's pubsub thread (``unsubscribe`` joins it with a 1 s timeout, and it
can be back in a 60 s read by then), which is noise on a drain of about a second.
stalwart's workers stop that thread before unsubscribing, so they do not wait.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.synchronize import Barrier, Event

import redis
import rq
from rq.registry import FinishedJobRegistry
from rq.worker import SimpleWorker

from jobs import EmbeddedRedis, Worker
from jobs.runtime.worker import Mode
from jobs.telemetry import logs
from tests.benchmarks.trivial import Noop, plain_noop

_PLAIN: dict[str, type[rq.worker.BaseWorker]] = {
    "rq SimpleWorker": SimpleWorker,
    "rq Worker (fork)": rq.Worker,
}
_OURS: dict[str, Mode] = {"stalwart in-process": "inprocess", "stalwart fork": "fork"}
# Each plain RQ worker and stalwart's worker of the same kind, under the name --pair takes.
PAIRS = {
    "in-process": ("rq SimpleWorker", "stalwart in-process"),
    "fork": ("rq Worker (fork)", "stalwart fork"),
}


@dataclass
class Tally:
    jobs: int = 0
    seconds: float = 0.0  # from the start until the last worker process exited
    busy_seconds: float = 0.0  # from the start until the last job ended
    commands: int = 0
    samples: list[float] = field(default_factory=list)
    busy_samples: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds

    @property
    def busy_rate(self) -> float:
        return self.jobs / self.busy_seconds

    @property
    def commands_per_job(self) -> float:
        return self.commands / self.jobs


def _commands(connection: redis.Redis) -> int:
    stats = connection.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


def _work(url: str, kind: str) -> None:
    """Drain the queue with one worker of ``kind`` (in a process of its own)."""
    connection = redis.Redis.from_url(url)
    if kind in _PLAIN:
        # Plain RQ as it runs by default: its worker logs every job at INFO.
        logging.getLogger("rq.worker").setLevel(logging.NOTSET)
        queue = rq.Queue("default", connection=connection)
        _PLAIN[kind]([queue], connection=connection).work(burst=True, with_scheduler=True)
    else:
        Worker(["default"], connection=connection, mode=_OURS[kind]).work(burst=True)


def _worker_process(url: str, kind: str, ready: Barrier, go: Event) -> None:
    ready.wait()
    go.wait()
    _work(url, kind)


def _run_processes(
    url: str, kind: str, processes: int, on_start: Callable[[], object]
) -> tuple[float, float]:
    """Start ``processes`` workers of ``kind`` together, once all are ready.

    Returns the seconds until all exited and the wall-clock time of the start.
    """
    context = multiprocessing.get_context("fork")
    ready, go = context.Barrier(processes + 1), context.Event()
    children = [
        context.Process(target=_worker_process, args=(url, kind, ready, go), name=f"{kind} {i}")
        for i in range(processes)
    ]
    try:
        for child in children:
            child.start()
        ready.wait(timeout=30)
        on_start()
        start, started_at = time.perf_counter(), time.time()
        go.set()
        for child in children:
            child.join()
        elapsed = time.perf_counter() - start
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
                child.join(10)
            if child.is_alive():
                child.kill()
                child.join()
    failed = [child.exitcode for child in children if child.exitcode != 0]
    assert not failed, f"{kind}: worker processes exited with {failed}"
    return elapsed, started_at


def _last_job_ended(connection: redis.Redis, n: int) -> float:
    """The wall-clock time at which the last of the ``n`` finished jobs ended (RQ's ended_at)."""
    ids = FinishedJobRegistry("default", connection=connection).get_job_ids()
    assert len(ids) == n, f"{len(ids)} of {n} jobs finished"
    with connection.pipeline(transaction=False) as pipeline:
        for job_id in ids:
            pipeline.hget(f"rq:job:{job_id}", "ended_at")
        ended = pipeline.execute()
    return max(datetime.fromisoformat(e.decode()).timestamp() for e in ended)


def _drain(connection: redis.Redis, url: str, kind: str, processes: int, n: int, tally: Tally) -> None:
    connection.flushdb()
    enqueue = _enqueue_plain if kind in _PLAIN else _enqueue_ours
    enqueue(connection, n)
    elapsed, started_at = _run_processes(url, kind, processes, on_start=connection.config_resetstat)
    tally.commands += _commands(connection)
    assert connection.llen("rq:queue:default") == 0, "the workers left jobs behind"
    tally.jobs += n
    tally.seconds += elapsed
    busy = _last_job_ended(connection, n) - started_at
    tally.busy_seconds += busy
    tally.busy_samples.append(n / busy)
    tally.samples.append(n / elapsed)


def _enqueue_plain(connection: redis.Redis, n: int) -> None:
    queue = rq.Queue("default", connection=connection)
    for i in range(n):
        queue.enqueue(plain_noop, i)


def _enqueue_ours(connection: redis.Redis, n: int) -> None:
    for i in range(n):
        Noop.enqueue(connection=connection, n=i)


def run(jobs: int, rounds: int, processes: list[int], pairs: list[str]) -> dict[tuple[str, int], Tally]:
    home = tempfile.mkdtemp(prefix="stalwart-bench-")
    server = EmbeddedRedis(home)
    url = server.start()
    connection = redis.Redis.from_url(url)
    logs.configure("INFO", stream=open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the run
    kinds = [kind for pair in pairs for kind in PAIRS[pair]]
    runs = [(kind, count) for count in processes for kind in kinds]
    tallies = {run: Tally() for run in runs}
    per_round = jobs // rounds
    try:
        for r in range(rounds):
            for kind, count in runs if r % 2 == 0 else reversed(runs):
                _drain(connection, url, kind, count, per_round, tallies[kind, count])
    finally:
        server.stop()
    return tallies


def _spread(ours: list[float], base: list[float]) -> tuple[str, str]:
    """The range of the per-round ratios, and their median."""
    ratios = sorted(x / y for x, y in zip(ours, base, strict=True))
    return f"{ratios[0]:.2f} to {ratios[-1]:.2f}", f"median {statistics.median(ratios):.2f}"


def report(tallies: dict[tuple[str, int], Tally]) -> str:
    lines = [
        "| worker | processes | jobs | jobs/s | Redis commands/job | stalwart / rq | per-round ratios "
        "| vs 1 process | jobs/s to the last job's end (stalwart / rq; per-round ratios) |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for count in sorted({count for _, count in tallies}):
        for base, ours in PAIRS.values():
            if (base, count) not in tallies:
                continue
            b, o = tallies[base, count], tallies[ours, count]
            span, median = _spread(o.samples, b.samples)
            spread = f"{span} ({median})"
            for kind, tally, compared in (
                (base, b, " | "),
                (ours, o, f"{o.rate / b.rate:.2f} | {spread}"),
            ):
                single = tallies.get((kind, 1))
                scaling = f"{tally.rate / single.rate:.2f}x" if single is not None and count != 1 else ""
                busy = f"{tally.busy_rate:.1f}"
                if kind == ours:
                    span, median = _spread(o.busy_samples, b.busy_samples)
                    busy += f" ({o.busy_rate / b.busy_rate:.2f}; rounds {span}, {median})"
                lines.append(
                    f"| {kind} | {count} | {tally.jobs} | {tally.rate:.1f} | {tally.commands_per_job:.1f} "
                    f"| {compared} | {scaling} | {busy} |"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--jobs", type=int, default=800, help="jobs per worker kind and process count (default 800)"
    )
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    parser.add_argument(
        "--processes",
        type=int,
        nargs="+",
        default=[1, 2],
        help="worker processes draining the queue at once, one run per number (default: 1 2)",
    )
    parser.add_argument(
        "--pair",
        dest="pairs",
        choices=list(PAIRS),
        action="append",
        help="which pair of workers to run (repeatable; default: both)",
    )
    args = parser.parse_args()
    pairs = args.pairs or list(PAIRS)
    print(
        f"rq {rq.__version__}, {os.cpu_count()} cores; {args.jobs} jobs per kind and process count, "
        f"in {args.rounds} rounds; worker processes: {', '.join(map(str, args.processes))}\n"
    )
    print(report(run(args.jobs, args.rounds, args.processes, pairs)))


if __name__ == "__main__":
    main()
