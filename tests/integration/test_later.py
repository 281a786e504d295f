"""Jobs that run later (``enqueue_in``/``enqueue_at``), retries on time, and the scheduler that moves them.

Times are Redis's clock throughout: due times are kept in it, and the jobs note their starts in it
(tests/time_jobs.py), so "never early" is checked on one clock. No test measures how late a job is:
that is the benchmark's (tests/benchmarks/lateness.py).
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
import redis
from rq import Queue
from rq.serializers import JSONSerializer

from jobs import PayloadError, Status, _keys, testing
from jobs.rq_adapter.schedule import lead_and_move, redis_time
from jobs.runtime.scheduler import Scheduler
from tests.time_jobs import NotesStart, RetriesAfterBackoff, starts
from tests.workers import Workers, wait_for

TIME_JOBS = ("--import", "tests.time_jobs")


def test_a_job_enqueued_for_later_is_scheduled_until_due(connection: redis.Redis) -> None:
    before = redis_time(connection)
    handle = NotesStart.enqueue_in(timedelta(minutes=10), connection=connection, label="later")

    # Due ten minutes from Redis's now, to the microsecond, in RQ's registry and in the scheduler's set
    assert handle.status() is Status.SCHEDULED
    assert handle.due_at is not None and before + 600 <= handle.due_at <= redis_time(connection) + 600
    registry = Queue("default", connection=connection, serializer=JSONSerializer).scheduled_job_registry
    assert registry.get_job_ids() == [handle.id]
    assert connection.zscore(registry.key, handle.id) == pytest.approx(handle.due_at, abs=1e-6)
    assert connection.zscore(_keys.schedule(), handle.id) == pytest.approx(handle.due_at, abs=1e-6)
    assert connection.llen("rq:queue:default") == 0

    # A scheduler finds nothing due, and says when the next job is
    found = lead_and_move(connection)
    assert (found.moved, found.next_due) == (0, pytest.approx(handle.due_at, abs=1e-6))
    assert handle.status() is Status.SCHEDULED


def test_enqueue_at_takes_an_aware_time_and_a_past_one_means_now(connection: redis.Redis) -> None:
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    later = NotesStart.enqueue_at(when, connection=connection, label="at")
    assert later.due_at == pytest.approx(when.timestamp(), abs=1e-6)
    assert later.status() is Status.SCHEDULED

    past = NotesStart.enqueue_at(datetime(2020, 1, 1, tzinfo=timezone.utc), connection=connection, label="p")
    assert (past.status(), past.due_at) == (Status.QUEUED, None)
    assert connection.lrange("rq:queue:default", 0, -1) == [past.id.encode()]


def test_a_naive_time_or_a_bad_delay_is_refused_with_a_clear_error_and_nothing_is_enqueued(
    connection: redis.Redis,
) -> None:
    with pytest.raises(
        ValueError, match=r"^when must be an aware datetime \(with a time zone\), got the naive"
    ):
        NotesStart.enqueue_at(datetime(2030, 1, 1, 3, 0), connection=connection, label="x")
    with pytest.raises(
        ValueError, match=r"^delay must not be negative, got -1; use enqueue\(\) to run it now$"
    ):
        NotesStart.enqueue_in(-1, connection=connection, label="x")
    with pytest.raises(TypeError, match=r"^delay must be a timedelta or a number of seconds, got 'soon'$"):
        NotesStart.enqueue_in("soon", connection=connection, label="x")  # type: ignore[arg-type]
    # The payload checks are enqueue's
    with pytest.raises(PayloadError, match=r"argument 'label' of tests\.time\.NotesStart "):
        NotesStart.enqueue_in(5, connection=connection, label=3)
    assert connection.keys("*") == []


def test_delayed_jobs_never_start_before_they_are_due_with_several_workers(
    connection: redis.Redis, workers: Workers
) -> None:
    # Given three workers (two forking, one in-process)
    for options in ((), ("--in-process",), ()):
        workers.start(*TIME_JOBS, *options)

    # When twenty jobs are enqueued for 0.1 to 1.6 s from now
    handles = {
        f"job-{n}": NotesStart.enqueue_in(0.1 + (n % 7) * 0.25, connection=connection, label=f"job-{n}")
        for n in range(20)
    }

    # Then each ran once, never before its due time (both on Redis's clock)
    wait_for(lambda: all(h.status() is Status.SUCCEEDED for h in handles.values()))
    started = starts()
    assert sorted(label for label, _ in started) == sorted(handles)
    early = {label: handles[label].due_at - at for label, at in started if at < (handles[label].due_at or 0)}
    assert early == {}


def test_a_retry_never_starts_before_its_backoff_has_passed(
    connection: redis.Redis, workers: Workers
) -> None:
    # Given two workers, and jobs whose first two attempts are refused (retried 0.3 s after each)
    workers.start(*TIME_JOBS)
    workers.start(*TIME_JOBS, "--in-process")
    handles = [RetriesAfterBackoff.enqueue(connection=connection, label=f"r{n}", fails=2) for n in range(6)]

    # Then every job succeeded at its third attempt, each retry starting 0.3 s or more after the failure
    wait_for(lambda: all(h.status() is Status.SUCCEEDED for h in handles))
    failed: dict[str, list[float]] = {}
    for raw in connection.lrange("failed", 0, -1):
        label, at = json.loads(raw)
        failed.setdefault(label, []).append(at)
    runs: dict[str, list[float]] = {}
    for label, at in starts():
        runs.setdefault(label, []).append(at)
    for label, times in runs.items():
        assert len(times) == 3, label
        for failure, retry in zip(failed[label], times[1:], strict=True):
            assert retry - failure >= 0.3, (label, retry - failure)


def test_the_leader_wakes_for_an_earlier_job_without_waiting_for_its_next_round(
    connection: redis.Redis, workers: Workers
) -> None:
    # Given a worker whose scheduler renews its lease only every 12 s (a 60 s lease), idle, with a job due
    # in an hour: it sleeps until its next round
    workers.env["STALWART_SCHEDULER_LEASE_S"] = "60"
    workers.start(*TIME_JOBS)
    wait_for(lambda: connection.exists(_keys.scheduler_leader()))
    NotesStart.enqueue_in(3600, connection=connection, label="in an hour")

    # When a job due in 0.2 s is enqueued
    handle = NotesStart.enqueue_in(0.2, connection=connection, label="soon")

    # Then it runs well before the leader's next round (10 s: a liveness bound, not a measurement)
    wait_for(lambda: handle.status() is Status.SUCCEEDED, timeout_s=10)


def test_of_several_schedulers_one_leads_and_each_due_job_is_moved_once(connection: redis.Redis) -> None:
    # Given three schedulers on one Redis (three workers' threads)
    schedulers = [Scheduler(connection, f"worker-{n}") for n in range(3)]
    handles = [
        NotesStart.enqueue_in(0.05 * (n % 5 + 1), connection=connection, label=f"m{n}") for n in range(40)
    ]
    for scheduler in schedulers:
        scheduler.start()
    try:
        # When the jobs come due, every one of them is moved to the queue once
        wait_for(lambda: connection.llen("rq:queue:default") == 40)
    finally:
        for scheduler in schedulers:
            scheduler.stop()

    # Then by one scheduler: the leader; the others moved nothing
    assert sorted(s.moved for s in schedulers) == [0, 0, 40]
    assert sorted(connection.lrange("rq:queue:default", 0, -1)) == sorted(h.id.encode() for h in handles)
    assert {h.status() for h in handles} == {Status.QUEUED}
    assert connection.zcard(_keys.schedule()) == 0
    # A leader that stops gives its lease up: the next one need not wait for it to lapse
    assert connection.exists(_keys.scheduler_leader()) == 0


def test_a_scheduler_without_the_lease_moves_nothing(connection: redis.Redis) -> None:
    # Given a job already due, and the lease held by another scheduler
    handle = NotesStart.enqueue_in(0.05, connection=connection, label="due")
    connection.set(_keys.scheduler_leader(), "someone-else", px=5000)
    wait_for(lambda: redis_time(connection) > (handle.due_at or 0))

    # When this one runs its round
    found = lead_and_move(connection, "mine", 5)

    # Then it learns who leads for how long, and the job stays for the leader to move
    assert (found.leading, found.moved) == (False, 0)
    assert 0 < found.lease_left_s <= 5
    assert connection.zrange(_keys.schedule(), 0, -1) == [handle.id.encode()]


def test_jobs_testing_runs_jobs_due_later_at_once_and_reports_the_wait_it_skipped(fake: redis.Redis) -> None:
    NotesStart.enqueue_in(timedelta(minutes=30), connection=fake, label="reminder")

    run = testing.run_queued(fake)

    assert [(j.job, j.status) for j in run.jobs] == [(NotesStart.name, Status.SUCCEEDED)]
    assert 29 * 60 < run.skipped_wait_s <= 30 * 60


def test_enqueues_from_many_threads_at_once_each_get_their_job(
    connection: redis.Redis, redis_url: str
) -> None:
    # (The put script is atomic: concurrent producers never see each other's half-written jobs.)
    barrier = threading.Barrier(8)
    ids: list[str] = []

    def produce(n: int) -> None:
        client = redis.Redis.from_url(redis_url)
        barrier.wait()
        ids.extend(NotesStart.enqueue_in(0.5, connection=client, label=f"t{n}").id for _ in range(5))

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(set(ids)) == 40
    assert connection.zcard(_keys.schedule()) == 40
