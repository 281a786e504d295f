"""The worker: forking isolation, burst draining of scheduled jobs, request ids across jobs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from jobs import Classification, DeadLetterQueue, Status, Worker, request_context
from jobs.model import payload
from jobs.rq_adapter.envelope import ENTRY_POINT
from jobs.rq_adapter.handle import JobHandle
from tests.sample_jobs import CountsFrozenObjects, KillsItsWorkHorse, RecordsRequestId, TouchFile


def test_a_killed_work_horse_is_dead_lettered_as_abandoned_and_the_worker_carries_on(
    connection: redis.Redis, tmp_path: Path
) -> None:
    # Given a job that SIGKILLs its own work-horse mid-job, and a job queued after it
    doomed = KillsItsWorkHorse.enqueue(connection=connection, path=str(tmp_path / "started"))
    after = TouchFile.enqueue(connection=connection, path=str(tmp_path / "after"))

    Worker(["default"], connection=connection, mode="fork").work(burst=True)

    assert (tmp_path / "started").read_text() == "started\n"
    assert doomed.status() is Status.DEAD_LETTERED
    entry = DeadLetterQueue(connection).get(doomed.id)
    assert (entry.classification, entry.job, entry.attempts) == (
        Classification.ABANDONED,
        "tests.KillsItsWorkHorse",
        1,
    )
    assert "(signal 9)" in entry.error_message
    assert entry.message.endswith("verify its side effect before replaying it.")
    assert connection.lrange("horse:dead", 0, -1) == [f"{doomed.id}:abandoned".encode()]  # its hook ran
    assert after.status() is Status.SUCCEEDED


def test_burst_waits_for_scheduled_jobs_before_it_exits(connection: redis.Redis, tmp_path: Path) -> None:
    # Given a job scheduled one second from now, and nothing queued
    queue = Queue("default", connection=connection, serializer=JSONSerializer)
    body = payload.build(TouchFile, {"path": str(tmp_path / "later")}, "req-later")
    rq_job = queue.create_job(ENTRY_POINT, kwargs=body, description=TouchFile.name)
    queue.schedule_job(rq_job, datetime.now(timezone.utc) + timedelta(seconds=1))
    handle = JobHandle(str(rq_job.id), TouchFile.name, connection)
    assert handle.status() is Status.SCHEDULED

    # When a burst worker runs, it does not exit before the job has run
    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)

    assert handle.status() is Status.SUCCEEDED
    assert (tmp_path / "later").read_text() == "ran\n"


def test_the_request_id_is_restored_around_perform_and_inherited_by_child_jobs(
    connection: redis.Redis,
) -> None:
    with request_context("req-123"):
        parent = RecordsRequestId.enqueue(connection=connection, spawn_child=True)

    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)

    result = parent.result()
    assert (result["request_id"], result["current"]) == ("req-123", "req-123")
    child = JobHandle(result["child"], RecordsRequestId.name, connection)
    assert child.result()["request_id"] == "req-123"


def test_jobs_are_taken_only_from_the_worker_queues(connection: redis.Redis, tmp_path: Path) -> None:
    from tests.sample_jobs import ChargeCard

    billing = ChargeCard.enqueue(connection=connection, customer_id=1, card="ok")
    other = TouchFile.enqueue(connection=connection, path=str(tmp_path / "x"))

    Worker(["billing"], connection=connection, mode="inprocess").work(burst=True)

    assert (billing.status(), other.status()) == (Status.SUCCEEDED, Status.QUEUED)


def test_jobs_run_with_the_start_up_heap_kept_out_of_garbage_collection(connection: redis.Redis) -> None:
    # Otherwise a work-horse can run a full collection of everything it inherited before its job
    # starts (tens of ms), and so can the next few: the forking worker's p99 latency (README).
    import gc

    try:
        for mode in ("fork", "inprocess"):
            handle = CountsFrozenObjects.enqueue(connection=connection)
            Worker(["default"], connection=connection, mode=mode).work(burst=True)  # type: ignore[arg-type]
            assert handle.result() > 1000, mode
    finally:
        gc.unfreeze()  # Worker.work froze this test process's heap
