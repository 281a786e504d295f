"""Many `stalwart worker` processes on one Redis, as in production: every job runs once, deploys lose nothing.

A single worker's warm and cold ends are in test_worker_death.py; these add the fleet.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import redis
from rq import Worker as RQWorker

from jobs import Classification, DeadLetterQueue, JobHandle, Status, _keys
from jobs.rq_adapter.handle import FINAL, statuses
from tests.sample_jobs import RecordsEachRun, WaitsForKey, WaitsForKeyElsewhere
from tests.workers import Workers, wait_for

JOBS = 300
FAILS_FIRST = set(range(0, JOBS, 10))  # 30 jobs whose first run is refused, then retried


@pytest.fixture
def workers(subprocess_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(subprocess_env, tmp_path)
    yield pool
    pool.kill_all()


def wait_until_final(connection: redis.Redis, handles: Sequence[JobHandle], timeout_s: float) -> None:
    """Wait until every job has ended (succeeded, negative or dead-lettered)."""
    ids = [h.id for h in handles]
    deadline = time.monotonic() + timeout_s
    while True:
        now = statuses(connection, ids)
        if all(s in FINAL for s in now):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not all jobs ended within {timeout_s} s: {Counter(now)}")
        time.sleep(0.1)


def runs_by_worker(connection: redis.Redis, worker_pids: set[int]) -> dict[int, list[int]]:
    """Which worker ran each recorded run: the job's own pid (in-process) or its parent's (a work-horse)."""
    by_worker: dict[int, list[int]] = {}
    for raw in connection.lrange("runs:by", 0, -1):
        number, pid, parent = json.loads(raw)
        (worker,) = {pid, parent} & worker_pids
        by_worker.setdefault(worker, []).append(number)
    return by_worker


def test_four_workers_run_every_job_exactly_once_and_all_stop_cleanly_on_sigterm(
    connection: redis.Redis, workers: Workers
) -> None:
    # Given four workers, two forking and two in-process, all taking jobs from the same queue
    fleet = [workers.start(), workers.start("--in-process"), workers.start(), workers.start("--in-process")]
    wait_for(lambda: RQWorker.count(connection=connection) == 4)

    # When 300 jobs are enqueued, 30 of which are refused on their first run (a declared transient error)
    handles = [RecordsEachRun.enqueue(number=n, fail_first=n in FAILS_FIRST) for n in range(JOBS)]
    wait_until_final(connection, handles, timeout_s=180)

    # Then every job succeeded with its own result, after exactly one run, or two for the refused ones
    assert [h.status() for h in handles] == [Status.SUCCEEDED] * JOBS
    assert [h.result() for h in handles] == list(range(JOBS))
    runs = {int(k): int(v) for k, v in connection.hgetall("runs:count").items()}
    assert runs == {n: 2 if n in FAILS_FIRST else 1 for n in range(JOBS)}
    attempts = [int(connection.hget(f"rq:job:{h.id}", "stalwart_attempt") or 0) for h in handles]
    assert attempts == [2 if n in FAILS_FIRST else 1 for n in range(JOBS)]
    assert len(DeadLetterQueue(connection)) == 0
    # and the work was shared: every run came from one of the four, forking and in-process workers alike
    by_worker = runs_by_worker(connection, {p.pid for p in fleet})
    assert sum(len(numbers) for numbers in by_worker.values()) == JOBS + len(FAILS_FIRST)
    took = {w: len(n) for w, n in by_worker.items()}
    forking, in_process = {fleet[0].pid, fleet[2].pid}, {fleet[1].pid, fleet[3].pid}
    assert took.keys() & forking and took.keys() & in_process, f"runs per worker pid: {took}"

    # When every worker is sent SIGTERM, Then each stops on its own, with exit code 0 (a warm shutdown)
    for process in fleet:
        process.send_signal(signal.SIGTERM)
    assert [process.wait(30) for process in fleet] == [0, 0, 0, 0]
    assert RQWorker.count(connection=connection) == 0  # each one deregistered itself


def test_a_rolling_deploy_finishes_the_running_job_while_the_new_worker_takes_new_ones(
    connection: redis.Redis, workers: Workers
) -> None:
    # Given an old worker in the middle of a job that takes a while
    old = workers.start()
    long_job = WaitsForKey.enqueue(key="deploy:release")
    wait_for(lambda: connection.exists("deploy:release:started"))

    # When the new worker starts and the old one is sent SIGTERM
    new = workers.start("--in-process")
    old.send_signal(signal.SIGTERM)

    # Then new jobs are run by the new worker while the old one is still finishing its job
    handles = [RecordsEachRun.enqueue(number=n) for n in range(5)]
    wait_until_final(connection, handles, timeout_s=60)
    assert [h.status() for h in handles] == [Status.SUCCEEDED] * 5
    assert runs_by_worker(connection, {old.pid, new.pid}) == {new.pid: [0, 1, 2, 3, 4]}
    assert (long_job.status(), old.poll()) == (Status.STARTED, None)

    # When the long job can finish, Then it succeeds after one run, and the old worker exits 0
    connection.rpush("deploy:release", "go")
    assert old.wait(30) == 0
    assert (long_job.status(), long_job.result()) == (Status.SUCCEEDED, "released")
    assert connection.get("deploy:release:runs") == b"1"

    # and the new worker carries on
    later = RecordsEachRun.enqueue(number=5)
    assert later.wait(timeout_s=30) is Status.SUCCEEDED
    new.send_signal(signal.SIGTERM)
    assert new.wait(30) == 0


def test_when_the_worker_running_the_scheduler_is_killed_another_takes_scheduling_over(
    connection: redis.Redis, workers: Workers
) -> None:
    # Given two workers, the first of which leads the scheduling (a lease of 2 s, heartbeats every second)
    workers.env.update(
        STALWART_HEARTBEAT_INTERVAL_S="1", STALWART_HEARTBEAT_TTL_S="3", STALWART_SCHEDULER_LEASE_S="2"
    )
    holder = workers.start()
    wait_for(lambda: connection.exists(_keys.scheduler_leader()))
    first_leader = connection.get(_keys.scheduler_leader())
    survivor = workers.start("--in-process")
    wait_for(lambda: RQWorker.count(connection=connection) == 2)

    # When the leader is SIGKILLed (its scheduler dies with it), and a job then needs a retry
    holder.kill()
    holder.wait(10)
    handle = RecordsEachRun.enqueue(number=1, fail_first=True)

    # Then the survivor takes the lease once it lapses, and the retry runs
    assert handle.wait(timeout_s=60) is Status.SUCCEEDED
    assert connection.hget("runs:count", "1") == b"2"
    assert connection.get(_keys.scheduler_leader()) not in (None, first_leader)
    log = (workers.logs / "worker-1.log").read_text()
    assert "this worker's scheduler leads: it moves due jobs to their queues" in log
    assert runs_by_worker(connection, {holder.pid, survivor.pid}) == {survivor.pid: [1, 1]}


def test_a_dead_workers_job_is_settled_while_workers_of_other_queues_run(
    connection: redis.Redis, workers: Workers
) -> None:
    # Given a worker of the default queue, and one of another queue running a job (heartbeats every second)
    workers.env.update(STALWART_HEARTBEAT_INTERVAL_S="1", STALWART_HEARTBEAT_TTL_S="3")
    workers.start("--queue", "default")  # (with no --queue it would serve every queue its jobs use)
    wait_for(lambda: connection.keys("stalwart:reaper*") != [])  # its reaper is at work
    doomed = workers.start("--queue", "elsewhere")
    handle = WaitsForKeyElsewhere.enqueue(key="elsewhere:release")
    wait_for(lambda: connection.exists("elsewhere:release:started"))

    # When that worker is SIGKILLed and another worker of its queue starts
    doomed.kill()
    doomed.wait(10)
    workers.start("--queue", "elsewhere")

    # Then the job is settled, though the default queue's older worker takes its reaper round every time
    assert handle.wait(timeout_s=30) is Status.DEAD_LETTERED
    entry = DeadLetterQueue(connection).get(handle.id)
    assert entry.classification is Classification.ABANDONED
    assert entry.history[0]["error_message"] == "its worker stopped sending heartbeats for over 3 s"
    assert connection.get("elsewhere:release:runs") == b"1"
