"""Chaos: charge customers through a faulty gateway while workers are killed and Redis restarts.

    python -m tests.chaos.run [--jobs 1000] [--seed 7]

The payment gateway simulator (jobs.demo.gateway) refuses 10% of calls, times
out 5% (half of those after charging), garbles 2% of its answers and declines
10% of cards; which ones is decided by the seed. Two forking
worker processes drain the queue; every few seconds one of them is SIGKILLed
and started again. Along the way Redis fills up (``noeviction``: every write
refused) for a few seconds, a worker and its work-horse are SIGSTOPped for longer
than the heartbeat TTL (so another worker settles its job) and then continued,
and Redis is restarted once. At the end every job must be in exactly one of
succeeded, negative or the dead-letter queue (a job that succeeded has no entry
still inviting a replay), and no customer may have been charged twice.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import redis

from jobs import DeadLetterQueue, EmbeddedRedis, JobHandle, Status
from jobs.demo.gateway import Faults, Gateway
from tests.chaos.jobs import ChaosCharge

REPO = Path(__file__).resolve().parents[2]
HEARTBEAT_TTL_S = 3
FINAL = {Status.SUCCEEDED, Status.NEGATIVE, Status.DEAD_LETTERED}


@dataclass
class Report:
    jobs: int
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    dead_lettered: Counter[str] = field(default_factory=Counter)
    retried_jobs: int = 0
    worker_kills: int = 0
    worker_stalls: int = 0
    supervisor_restarts: int = 0
    redis_restarts: int = 0
    redis_full_s: float = 0.0
    charges: int = 0
    double_charges: int = 0
    lost: int = 0
    two_states: int = 0

    def lines(self) -> list[str]:
        return [
            f"{self.jobs} jobs in {self.seconds:.1f} s; {self.worker_kills} workers SIGKILLed, "
            f"{self.worker_stalls} SIGSTOPped past the heartbeat TTL, Redis full for {self.redis_full_s:.0f} s, "
            f"{self.redis_restarts} Redis restart, {self.supervisor_restarts} workers restarted after exiting",
            "outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())),
            "dead-lettered by classification: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.dead_lettered.items())),
            f"jobs retried at least once: {self.retried_jobs}",
            f"charges on the gateway's ledger: {self.charges}; customers charged twice: {self.double_charges}",
            f"jobs lost (in no final state): {self.lost}; "
            f"jobs that ended but whose dead-letter entry still invites a replay: {self.two_states}",
        ]


class Workers:
    def __init__(self, env: dict[str, str], logs: Path, options: tuple[str, ...] = ()) -> None:
        self.env, self.logs, self.count, self.options = env, logs, 0, options
        self.processes = [self.start(), self.start()]

    def start(self) -> subprocess.Popen[bytes]:
        self.count += 1
        with (self.logs / f"worker-{self.count}.log").open("wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "jobs.cli", "worker", "--import", "tests.chaos.jobs", *self.options],
                env=self.env,
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def supervise(self) -> int:
        """Start again any worker that exited (as systemd would); returns how many."""
        restarted = 0
        for index, process in enumerate(self.processes):
            if process.poll() is not None:
                self.processes[index] = self.start()
                restarted += 1
        return restarted

    def stall_one(self, rng: random.Random, seconds: float) -> None:
        """SIGSTOP a worker and its work-horse for ``seconds`` (a VM paused, a process swapped out)."""
        process = self.processes[rng.randrange(len(self.processes))]
        stopped = [process.pid, *_children(process.pid)]
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        time.sleep(seconds)
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def kill_one(self, rng: random.Random) -> None:
        index = rng.randrange(len(self.processes))
        if "--processes" in self.options and rng.random() < 0.5:
            # One process of a pool, which its parent replaces.
            children = _children(self.processes[index].pid)
            if children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(rng.choice(children), signal.SIGKILL)
                return
        self.processes[index].kill()
        self.processes[index].wait(10)
        self.processes[index] = self.start()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def run(
    jobs: int = 1000,
    seed: int = 7,
    kill_every_s: tuple[float, float] = (2.0, 4.0),
    timeout_s: float = 300.0,
    home: Path | None = None,
    worker_options: tuple[str, ...] = (),
) -> Report:
    """Run the chaos scenario and return what happened; ``worker_options`` go to every ``stalwart worker``
    (``--processes 2 --threads 2``: pools of threads)."""
    rng = random.Random(seed)
    home = home or Path(tempfile.mkdtemp(prefix="stalwart-chaos-"))
    server = EmbeddedRedis(home / "redis")
    url = server.start()
    port = server.port
    env = dict(
        os.environ,
        REDIS_URL=url,
        PYTHONPATH=str(REPO),
        STALWART_HEARTBEAT_INTERVAL_S="1",
        STALWART_HEARTBEAT_TTL_S=str(HEARTBEAT_TTL_S),
    )
    connection = redis.Redis.from_url(url)
    report = Report(jobs)
    Gateway(connection).configure(
        Faults(
            refuse=0.10, timeout_before=0.025, timeout_after=0.025, garble=0.02, decline=0.10, seed=str(seed)
        )
    )
    handles = [ChaosCharge.enqueue(connection=connection, customer_id=c) for c in range(jobs)]
    started = time.monotonic()
    workers = Workers(env, home, worker_options)
    try:
        next_kill = time.monotonic() + rng.uniform(*kill_every_s)
        restarted = filled = stalled = False
        while True:
            done = _count_final(connection, handles)
            if done == jobs:
                break
            if time.monotonic() - started > timeout_s:
                break
            if not filled and done >= jobs // 4:
                report.redis_full_s += _fill_redis(connection, seconds=3.0)
                filled = True
            if not stalled and done >= (jobs * 2) // 3:
                workers.stall_one(rng, seconds=HEARTBEAT_TTL_S + 3)
                report.worker_stalls += 1
                stalled = True
            if not restarted and done >= jobs // 2:
                server.stop()  # a graceful restart: the append-only file is flushed first
                time.sleep(1)
                server.start(port=port)
                restarted = True
                report.redis_restarts += 1
            report.supervisor_restarts += workers.supervise()
            if time.monotonic() >= next_kill:
                workers.kill_one(rng)
                report.worker_kills += 1
                next_kill = time.monotonic() + rng.uniform(*kill_every_s)
            time.sleep(0.2)
        report.seconds = time.monotonic() - started
    finally:
        workers.stop()
    try:
        _tally(connection, handles, report)
    finally:
        server.stop()
    return report


def _fill_redis(connection: redis.Redis, seconds: float) -> float:
    """Make Redis refuse every write that needs memory (``noeviction`` at the memory in use) for a while."""
    used = int(connection.info("memory")["used_memory"])
    connection.config_set("maxmemory-policy", "noeviction")
    connection.config_set("maxmemory", used)
    try:
        time.sleep(seconds)
    finally:
        connection.config_set("maxmemory", 0)
    return seconds


def _children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (a worker's work-horse and scheduler), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _count_final(connection: redis.Redis, handles: list[JobHandle]) -> int:
    try:
        return sum(1 for h in handles if h.status() in FINAL)
    except redis.ConnectionError:
        return 0  # Redis is restarting


def _tally(connection: redis.Redis, handles: list[JobHandle], report: Report) -> None:
    dlq = DeadLetterQueue(connection)
    entries = {e.id: e for e in dlq.list()}
    for handle in handles:
        status = handle.status()
        report.outcomes[status.value] += 1
        entry = entries.get(handle.id)
        if status is Status.DEAD_LETTERED:
            report.dead_lettered[str(entries[handle.id].classification)] += 1
        elif entry is not None and entry.status in ("dead", "replayed"):
            report.two_states += 1
        if status not in FINAL:
            report.lost += 1
        attempts = int(connection.hget(f"rq:job:{handle.id}", "stalwart_attempt") or 0)
        report.retried_jobs += attempts > 1
    ledger = Gateway(connection).charges_per_customer()
    report.charges = sum(ledger.values())
    report.double_charges = sum(1 for n in ledger.values() if n > 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--worker-options",
        default="",
        help="options for every worker, e.g. '--processes 2 --threads 2' (default: forking workers)",
    )
    args = parser.parse_args()
    report = run(args.jobs, args.seed, worker_options=tuple(args.worker_options.split()))
    print("\n".join(report.lines()))
    if (
        report.lost
        or report.double_charges
        or report.two_states
        or report.outcomes.get("dead_lettered", 0) != sum(report.dead_lettered.values())
    ):
        sys.exit(1)


if __name__ == "__main__":
    main()
