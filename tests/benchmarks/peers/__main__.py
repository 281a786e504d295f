"""Throughput of RQ, Dramatiq, Celery, huey and stalwart, side by side, from one Redis, in one run.

    python -m tests.benchmarks.peers [--jobs 2000] [--rounds 3] [--count-jobs 500] [--only NAME] [--write]
    python -m tests.benchmarks.peers --io [--jobs 1000] [--write]

Every row (``rows.py``) drains the same trivial job: N jobs enqueued first, then
its workers started, timed from the first job's end to the last's (``drain.py``
says how). Rounds are interleaved, in an order that alternates between rounds;
the table gives each row's median jobs/s, its Redis commands per job (median of
the rounds) and its round trips per job (from a separate, smaller run through a
counting proxy). The peers run from ``.venv-peers`` (made on the first run),
stalwart from this virtualenv. A stalwart row whose options ``stalwart worker``
does not accept is skipped, saying so. ``--io``: 1,000 jobs that each sleep
0.1 s, on stalwart with 50 threads and on Dramatiq with 50 threads, instead.
``--write`` also writes the figures into ``docs/benchmarks-peers.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import redis

from jobs import EmbeddedRedis
from tests.benchmarks.peers import environment, report
from tests.benchmarks.peers.drain import JobKind, Servers, drain
from tests.benchmarks.peers.proxy import CountingProxy
from tests.benchmarks.peers.report import Result
from tests.benchmarks.peers.rows import IO, THROUGHPUT, Row


@contextlib.contextmanager
def _servers() -> Iterator[tuple[Servers, EmbeddedRedis]]:
    """The frameworks' Redis and the marks' Redis (without persistence: it only counts), both embedded."""
    main = EmbeddedRedis(tempfile.mkdtemp(prefix="stalwart-peers-redis-"))
    side = EmbeddedRedis(tempfile.mkdtemp(prefix="stalwart-peers-marks-"))
    url, marks_url = main.start(), side.start()
    try:
        marks = redis.Redis.from_url(marks_url)
        marks.config_set("appendonly", "no")
        marks.config_set("save", "")
        logs = Path(tempfile.mkdtemp(prefix="stalwart-peers-logs-"))
        print(f"workers' logs in {logs}", file=sys.stderr)
        yield Servers(url, redis.Redis.from_url(url), marks_url, marks, logs), main
    finally:
        side.stop()
        main.stop()


def _skip_reason(row: Row, options: set[str]) -> str | None:
    if row.framework != "stalwart":
        return None
    missing = [flag for flag in row.flags() if flag not in options]
    return f"stalwart worker does not accept {', '.join(missing)}" if missing else None


def run(rows: list[Row], job: JobKind, jobs: int, rounds: int, count_jobs: int) -> tuple[list[Result], str]:
    """Every row's results (skipped ones saying why), and the Redis server's version."""
    options = environment.stalwart_options()
    results = [Result(row, skipped=_skip_reason(row, options)) for row in rows]
    for result in results:
        if result.skipped is not None:
            print(f"skipped: {result.row.name}: {result.skipped}", file=sys.stderr)
    measured = [r for r in results if r.skipped is None]
    with _servers() as (servers, server):
        for r in range(rounds):
            for result in measured if r % 2 == 0 else list(reversed(measured)):
                d = drain(servers, result.row, job, jobs)
                result.rates.append(d.rate)
                result.commands.append(d.commands_per_job)
                print(
                    f"round {r + 1}: {result.row.name}: {d.rate:,.0f} jobs/s, "
                    f"{d.commands_per_job:.1f} commands/job",
                    file=sys.stderr,
                )
        if count_jobs:
            for result in measured:
                assert server.port is not None
                with CountingProxy("127.0.0.1", server.port) as proxy:
                    d = drain(servers, result.row, job, count_jobs, proxy=proxy, idle_s=1.0)
                result.round_trips = d.round_trips_per_job
                result.idle_round_trips_s, result.idle_commands_s = d.idle_round_trips_s, d.idle_commands_s
                print(
                    f"counted: {result.row.name}: {d.round_trips_per_job:.1f} round trips/job, "
                    f"idle {d.idle_round_trips_s:.0f} round trips/s",
                    file=sys.stderr,
                )
        redis_version = str(servers.connection.info("server")["redis_version"])
    return results, redis_version


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, help="jobs per measurement (default 2000; 1000 with --io)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--count-jobs",
        type=int,
        default=500,
        help="jobs in each row's run through the round-trip counting proxy (default 500; 0: no such run)",
    )
    parser.add_argument("--io", action="store_true", help="the I/O-bound benchmark instead (0.1 s sleeps)")
    parser.add_argument(
        "--only", action="append", metavar="TEXT", help="only the rows whose name contains TEXT (repeatable)"
    )
    parser.add_argument(
        "--write", action="store_true", help="also write the figures to docs/benchmarks-peers.md"
    )
    args = parser.parse_args()
    rows = list(IO if args.io else THROUGHPUT)
    if args.only:
        rows = [row for row in rows if any(text.lower() in row.name.lower() for text in args.only)]
    if not rows:
        parser.error("no row matches --only")
    jobs = args.jobs or (1000 if args.io else 2000)
    job: JobKind = "sleeps" if args.io else "noop"
    environment.ensure_peers()
    versions = environment.peer_versions()
    machine = environment.machine()
    print(f"{machine}; {jobs} jobs per measurement, {args.rounds} rounds\n", file=sys.stderr)
    results, redis_version = run(rows, job, jobs, args.rounds, 0 if args.io else args.count_jobs)
    kind = "io" if args.io else "throughput"
    command = "python -m tests.benchmarks.peers " + shlex.join(sys.argv[1:])
    setup = report.setup_line(machine, versions, redis_version, command.strip())
    text = report.section_text(kind, results, setup)
    print(text)
    if args.write:
        print(f"\nwritten to {report.write(kind, text)}", file=sys.stderr)


if __name__ == "__main__":
    main()
