"""Concurrency inside a worker: ``--threads N`` and a pre-forked pool (``--processes N``), with every
guarantee of a single worker: jobs run at once, time limits, warm and cold stops with several jobs in
flight, a process that dies mid-job, a process replaced after its share of jobs."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import redis

from jobs import Classification, DeadLetterQueue, Status
from tests.sample_jobs import BusyPastItsTimeout, KillsItsWorkHorseEveryTime, Noop, WaitsForKey
from tests.workers import Workers, wait_for


def _started(connection: redis.Redis, keys: list[str]) -> bool:
    return all(connection.exists(f"{key}:started") for key in keys)


def _release(connection: redis.Redis, keys: list[str]) -> None:
    for key in keys:
        connection.rpush(key, "go")


def test_threads_run_jobs_at_once(connection: redis.Redis, workers: Workers) -> None:
    # Given a worker with 4 threads
    workers.start("--threads", "4")

    # When 4 jobs that each wait to be released are enqueued
    keys = [f"threads:{n}" for n in range(4)]
    handles = [WaitsForKey.enqueue(connection=connection, key=key) for key in keys]

    # Then all 4 are running at once, in the worker's one process, and each ends once released
    wait_for(lambda: _started(connection, keys))
    assert len({connection.get(f"{key}:started") for key in keys}) == 1
    _release(connection, keys)
    assert [h.wait(timeout_s=30) for h in handles] == [Status.SUCCEEDED] * 4
    assert [h.result() for h in handles] == ["released"] * 4


def test_a_thread_past_its_timeout_is_interrupted(connection: redis.Redis, workers: Workers) -> None:
    # Given a worker with 2 threads, one of them running a job past its 1 s timeout
    workers.start("--threads", "2")
    late = BusyPastItsTimeout.enqueue(connection=connection, key="busy")

    # When another job comes meanwhile
    wait_for(lambda: connection.exists("busy:started"))
    other = Noop.enqueue(connection=connection)

    # Then the other runs at once on the other thread, and the late one is stopped at its time limit
    assert other.wait(timeout_s=30) is Status.SUCCEEDED
    assert late.wait(timeout_s=30) is Status.DEAD_LETTERED
    entry = DeadLetterQueue(connection).get(late.id)
    assert entry.error_type == "TimeLimitExceeded"
    assert entry.classification is Classification.AMBIGUOUS


def test_a_warm_stop_finishes_every_job_in_flight(connection: redis.Redis, workers: Workers) -> None:
    # Given a worker with 3 threads, all busy, and a fourth job waiting
    worker = workers.start("--threads", "3")
    keys = [f"warm:{n}" for n in range(3)]
    running = [WaitsForKey.enqueue(connection=connection, key=key) for key in keys]
    wait_for(lambda: _started(connection, keys))
    waiting = Noop.enqueue(connection=connection)

    # When it is sent SIGTERM, then the running jobs are released
    worker.send_signal(signal.SIGTERM)
    wait_for(lambda: "warm shutdown" in workers.log_of(0).read_text())
    _release(connection, keys)

    # Then the 3 jobs end as they would have, the worker exits 0, and the fourth job was not taken
    assert worker.wait(30) == 0
    assert [h.status() for h in running] == [Status.SUCCEEDED] * 3
    assert waiting.status() is Status.QUEUED


@pytest.mark.parametrize(("options", "jobs"), [(("--threads", "2"), 2), (("--in-process",), 1)])
def test_a_cold_stop_settles_every_job_in_flight(
    connection: redis.Redis, workers: Workers, options: tuple[str, ...], jobs: int
) -> None:
    # Given a worker running as many jobs as it can at once (2 threads; or one, in-process)
    worker = workers.start(*options)
    keys = [f"cold:{n}" for n in range(jobs)]
    handles = [WaitsForKey.enqueue(connection=connection, key=key) for key in keys]
    wait_for(lambda: _started(connection, keys))

    # When it is sent SIGTERM, and again (RQ's rule: a second signal within 1 s is the same request)
    worker.send_signal(signal.SIGTERM)
    wait_for(lambda: "warm shutdown" in workers.log_of(0).read_text())
    time.sleep(1.1)
    worker.send_signal(signal.SIGTERM)

    # Then it exits without waiting for them, and both are settled as abandoned at once: not a death
    assert worker.wait(30) == 0
    assert [h.status() for h in handles] == [Status.DEAD_LETTERED] * jobs
    for handle in handles:
        entry = DeadLetterQueue(connection).get(handle.id)
        assert entry.classification is Classification.ABANDONED
        assert entry.history[-1]["error_message"] == (
            "its worker was stopped by a second stop signal (a cold shutdown)"
        )
        assert connection.hget(f"rq:job:{handle.id}", "stalwart_kills") in (None, b"0")


def test_a_pool_process_that_dies_takes_only_its_job_and_is_replaced(
    connection: redis.Redis, workers: Workers, tmp_path: Path
) -> None:
    # Given a pool of 2 processes, one running a long job
    pool = workers.start("--processes", "2")
    long_job = WaitsForKey.enqueue(connection=connection, key="pool:long")
    wait_for(lambda: connection.exists("pool:long:started"))

    # When a job SIGKILLs the process running it, each time (idempotent: retried until the kill limit)
    path = tmp_path / "kills"
    killer = KillsItsWorkHorseEveryTime.enqueue(connection=connection, path=str(path))

    # Then the parent settles each death at once and starts another process; after the kill limit the
    # job is poison, and the long job, in the other process, never noticed
    assert killer.wait(timeout_s=60) is Status.DEAD_LETTERED
    entry = DeadLetterQueue(connection).get(killer.id)
    assert entry.classification is Classification.POISON
    assert [a["outcome"] for a in entry.history][:1] == ["abandoned"]
    assert all("its worker process was killed by SIGKILL" in a["error_message"] for a in entry.history)
    assert long_job.status() is Status.STARTED
    connection.rpush("pool:long", "go")
    assert long_job.wait(timeout_s=30) is Status.SUCCEEDED
    after = Noop.enqueue(connection=connection)
    assert after.wait(timeout_s=30) is Status.SUCCEEDED
    assert pool.poll() is None
    log = workers.log_of(0).read_text()
    assert log.count("was killed by SIGKILL; the 1 job(s) it was running were settled as abandoned") == len(
        entry.history
    )


def test_a_pool_process_is_replaced_after_its_share_of_jobs(
    connection: redis.Redis, workers: Workers
) -> None:
    # Given a pool of 1 process that is replaced after every 2 jobs
    pool = workers.start("--processes", "1", "--max-jobs-per-child", "2")

    # When 6 jobs, each noting the process that ran it, run one after another
    keys = [f"recycle:{n}" for n in range(6)]
    pids = []
    for key in keys:
        handle = WaitsForKey.enqueue(connection=connection, key=key)
        wait_for(lambda key=key: connection.exists(f"{key}:started"))
        pids.append(int(connection.get(f"{key}:started") or 0))
        connection.rpush(key, "go")
        assert handle.wait(timeout_s=30) is Status.SUCCEEDED

    # Then each process ran 2 of them, three processes in all, none of them the parent, none still running
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4] == pids[5] != pids[0]
    assert pool.pid not in pids
    wait_for(lambda: _gone(pids[0]) and _gone(pids[2]))
    assert pool.poll() is None


def test_a_pool_stops_warm_with_jobs_in_flight(connection: redis.Redis, workers: Workers) -> None:
    # Given a pool of 2 processes of 2 threads, running 4 jobs
    pool = workers.start("--processes", "2", "--threads", "2")
    keys = [f"poolwarm:{n}" for n in range(4)]
    handles = [WaitsForKey.enqueue(connection=connection, key=key) for key in keys]
    wait_for(lambda: _started(connection, keys))

    # When the pool is sent SIGTERM, then the jobs are released
    pool.send_signal(signal.SIGTERM)
    wait_for(lambda: workers.log_of(0).read_text().count("warm shutdown") == 2)
    _release(connection, keys)

    # Then every job ends as it would have, and the pool exits 0 after its processes
    assert pool.wait(30) == 0
    assert [h.status() for h in handles] == [Status.SUCCEEDED] * 4
    assert "worker pool stopped: SIGTERM" in workers.log_of(0).read_text()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
