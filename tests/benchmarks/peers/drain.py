"""One measurement: enqueue N jobs for one row, start its workers, time the drain, stop them.

The jobs are enqueued before any worker starts (not timed). The clock is the
jobs' own: each job counts its end in the marks server (``tests.benchmarks.marks``)
and the first and the last write the time they ended, so the window runs from
the first job's end to the last's, and the rate is the N - 1 jobs that ended in
it over its length: neither the workers' start-up (imports, connecting,
registering) nor their shutdown is in it, nor the harness's polling interval.

Redis commands are counted from ``INFO commandstats`` on the frameworks' server
(every command but INFO, which only the harness sends), read once the harness
sees the first job end (polling every 5 ms) and again once the last one has,
and divided by the jobs that ended between the two reads. The harness polls the
marks server, not that one, so nothing of its own is in the count. Round trips
are counted the same way, by a ``CountingProxy`` the workers connect through,
in a separate, smaller run: it slows them, so no rate is taken from that run.
Both counts include whatever else the workers send while draining (heartbeats,
scheduler polls); the counting run also measures those alone, with the same
workers idle for a second once the queue is empty.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import redis

from tests.benchmarks import marks
from tests.benchmarks._processes import ROOT, WorkerProcess, stop
from tests.benchmarks.peers.environment import OURS_BIN, PEERS_BIN
from tests.benchmarks.peers.proxy import CountingProxy
from tests.benchmarks.peers.rows import Row
from tests.benchmarks.trivial import Noop, Sleeps

JobKind = Literal["noop", "sleeps"]
POLL_S = 0.005
# Sinks and exporters the caller's environment may name: a benchmark must not talk to them.
_UNSET = ("SENTRY_DSN", "STALWART_ALERT_COMMAND", "STATSD_HOST", "STATSD_PORT")


@dataclass
class Servers:
    """The Redis server every framework uses, the marks' own server, and where the workers' logs go."""

    url: str
    connection: redis.Redis
    marks_url: str
    marks: redis.Redis
    logs: Path


@dataclass
class Drain:
    jobs: int
    seconds: float
    rate: float
    commands_per_job: float
    round_trips_per_job: float | None = None
    idle_commands_s: float | None = None
    idle_round_trips_s: float | None = None


def commands(connection: redis.Redis) -> int:
    """Every command the server has run since its start (or FLUSHALL's neighbour, CONFIG RESETSTAT), but INFO."""
    stats = connection.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


def enqueue(servers: Servers, row: Row, job: JobKind, n: int) -> None:
    if row.framework == "stalwart":
        kind = Noop if job == "noop" else Sleeps
        for start in range(0, n, 500):
            calls = [{"n": i} for i in range(start, min(n, start + 500))]
            kind.enqueue_many(calls, connection=servers.connection)
        return
    subprocess.run(
        [str(PEERS_BIN / "python"), "-m", "tests.benchmarks.peers_apps.enqueue", row.framework, job, str(n)],
        cwd=ROOT,
        env=_environment(servers.url, servers, n),
        check=True,
    )


def _environment(url: str, servers: Servers, n: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _UNSET}
    env.update(
        REDIS_URL=url,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        **{marks.URL_ENV: servers.marks_url, marks.EXPECTED_ENV: str(n)},
    )
    return env


def start(servers: Servers, row: Row, url: str, n: int) -> list[WorkerProcess]:
    """Start the row's worker processes (each the leader of a session of its own), logging to files."""
    env = _environment(url, servers, n)
    slug = "".join(c if c.isalnum() else "-" for c in row.name.lower())
    workers = []
    for i in range(row.copies):
        log_path = servers.logs / f"{slug}-{i}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                row.command(str(PEERS_BIN), str(OURS_BIN), url, i),
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        workers.append(WorkerProcess(row.name, "default", process, log_path))
    return workers


def _wait_for(servers: Servers, key: str, workers: list[WorkerProcess], deadline: float) -> None:
    """Poll the marks server every 5 ms until ``key`` exists; fail if a worker exits or time runs out."""
    while not servers.marks.exists(key):
        for worker in workers:
            if worker.process.poll() is not None:
                raise RuntimeError(
                    f"{worker.kind}: a worker exited with {worker.process.returncode}:\n{worker.log_tail()}"
                )
        if time.monotonic() > deadline:
            ended = servers.marks.get(marks.ENDED)
            raise TimeoutError(
                f"{workers[0].kind}: {key} not set in time ({ended!r} jobs ended):\n{workers[0].log_tail()}"
            )
        time.sleep(POLL_S)


def _float(connection: redis.Redis, key: str) -> float:
    value = connection.get(key)
    assert value is not None, f"{key} is not set"
    return float(value)


def drain(
    servers: Servers, row: Row, job: JobKind, n: int, proxy: CountingProxy | None = None, idle_s: float = 0.0
) -> Drain:
    """Enqueue ``n`` jobs, start the row's workers (through ``proxy`` if given), measure, stop them."""
    servers.connection.flushall()
    servers.marks.flushall()
    enqueue(servers, row, job, n)
    workers = start(servers, row, proxy.url if proxy is not None else servers.url, n)
    try:
        # Generous: start-up, then the slowest row (a fork per job) at 10 jobs/s.
        deadline = time.monotonic() + 60 + n / 10
        _wait_for(servers, marks.FIRST_END, workers, deadline)
        ended_before = int(servers.marks.get(marks.ENDED) or 0)
        commands_at_first, trips_at_first = commands(servers.connection), _trips(proxy)
        ended_after = int(servers.marks.get(marks.ENDED) or 0)
        counted_from = (ended_before + ended_after) / 2
        if n - counted_from < 10:
            raise RuntimeError(f"{row.name}: {n} jobs are too few to count: {ended_after} ended at once")
        _wait_for(servers, marks.LAST_END, workers, deadline)
        commands_at_last, trips_at_last = commands(servers.connection), _trips(proxy)
        idle_commands, idle_trips = 0, 0
        if idle_s:
            time.sleep(idle_s)
            idle_commands = commands(servers.connection) - commands_at_last
            idle_trips = _trips(proxy) - trips_at_last
    finally:
        stop(workers, timeout_s=5.0)
    ended = int(servers.marks.get(marks.ENDED) or 0)
    assert ended == n, f"{row.name}: {ended} of {n} jobs ended"
    last = _float(servers.marks, marks.LAST_END)
    if job == "noop":
        seconds = last - _float(servers.marks, marks.FIRST_END)
        rate = (n - 1) / seconds
    else:
        seconds = last - _float(servers.marks, marks.FIRST_START)
        rate = n / seconds
    counted = n - counted_from
    result = Drain(n, seconds, rate, (commands_at_last - commands_at_first) / counted)
    if proxy is not None:
        result.round_trips_per_job = (trips_at_last - trips_at_first) / counted
    if idle_s:
        result.idle_commands_s = idle_commands / idle_s
        result.idle_round_trips_s = idle_trips / idle_s if proxy is not None else None
    return result


def _trips(proxy: CountingProxy | None) -> int:
    return proxy.round_trips if proxy is not None else 0
