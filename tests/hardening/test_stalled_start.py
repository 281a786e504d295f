"""A worker that stalls between registering a job's execution and starting it, for longer than the heartbeat
TTL, must not start the job when it wakes: the reaper has given that attempt up and puts the job back on its
queue. Before the fix the worker marked the job started anyway, in no registry: killed then, the job stayed
``started`` for ever, where no reaper looks (``make chaos`` lost one job of 1,000 that way, its worker
SIGSTOPped at that point and SIGKILLed soon after it was continued).

The worker here is stalwart's real in-process worker on a real Redis, driven step by step through RQ's own
stages (dequeue, register the execution, perform), so the stall falls exactly between two of them; the
reaper runs its real rounds, with the clock moved past the TTL instead of waiting it out.
"""

from __future__ import annotations

import time

import redis
from rq.job import Job as RQJob
from rq.queue import Queue
from rq.serializers import JSONSerializer

from jobs import JobHandle, Status, settings
from jobs.rq_adapter.job_format import SafeRQJob
from jobs.runtime.reaper import reap
from jobs.runtime.rq_worker import InProcessWorker
from tests.sample_jobs import Add


def worker(connection: redis.Redis, queue: Queue) -> InProcessWorker:
    return InProcessWorker(
        [queue],
        connection=connection,
        serializer=JSONSerializer,
        job_class=SafeRQJob,
        disable_default_exception_handler=True,
    )


def dequeued(connection: redis.Redis, a: int, b: int) -> tuple[JobHandle, Queue, InProcessWorker, RQJob]:
    """An ``Add`` job, taken from its queue by a worker that has done nothing more with it yet."""
    handle = Add.enqueue(connection=connection, a=a, b=b)
    queue = Queue(Add.queue, connection=connection, serializer=JSONSerializer)
    taker = worker(connection, queue)
    taken = taker.dequeue_job_and_maintain_ttl(timeout=1)
    assert taken is not None
    return handle, queue, taker, taken[0]


def test_a_worker_that_stalled_before_starting_its_job_leaves_it_to_the_queue_and_it_runs_once(
    connection: redis.Redis,
) -> None:
    # Given a job that a worker dequeued and whose execution it registered, before it stalled
    handle, queue, stalled, job = dequeued(connection, 2, 3)
    execution = stalled.prepare_execution(job)

    # When its heartbeat lapses, so the reaper gives the attempt up (the job never started), and only then
    # the worker wakes and goes on to perform the job
    ttl = settings.current().heartbeat_ttl_s
    later = time.time() + ttl + 1
    reap(connection, [queue.name], now=later)
    assert connection.zcard(queue.started_job_registry.key) == 0
    ran = stalled.perform_job(job, queue, execution)

    # Then it does not start it: nothing ran, and the job is still waiting in the queue's intermediate list
    assert ran is False
    assert handle.status() is Status.QUEUED
    assert connection.hget(job.key, "started_at") in (None, b"")
    assert connection.lrange(queue.intermediate_queue_key, 0, -1) == [job.id.encode()]

    # And the reaper puts it back on its queue a TTL later, where a worker runs it: once, to the end
    assert reap(connection, [queue.name], now=later) == {}  # first seen, in its grace period
    assert reap(connection, [queue.name], now=later + ttl + 1) == {job.id: "requeued"}
    worker(connection, queue).work(burst=True, max_jobs=1)
    assert handle.status() is Status.SUCCEEDED
    assert handle.result() == 5
    assert connection.hget(job.key, "stalwart_attempt") == b"1"


def test_a_worker_that_stalled_before_registering_its_job_does_not_run_it_beside_the_queue(
    connection: redis.Redis,
) -> None:
    # Given a job that a worker dequeued, then stalled before registering its execution, for so long that
    # the reaper put the job back on its queue
    handle, queue, stalled, job = dequeued(connection, 1, 1)
    ttl = settings.current().heartbeat_ttl_s
    later = time.time() + ttl + 1
    assert reap(connection, [queue.name], now=later) == {}
    assert reap(connection, [queue.name], now=later + ttl + 1) == {job.id: "requeued"}

    # When the worker wakes, registers the execution and goes on to perform the job
    execution = stalled.prepare_execution(job)
    ran = stalled.perform_job(job, queue, execution)

    # Then it does not run it (the copy on the queue is the one that runs), and drops its execution
    assert ran is False
    assert handle.status() is Status.QUEUED
    assert connection.lrange(queue.key, 0, -1) == [job.id.encode()]
    assert connection.zcard(queue.started_job_registry.key) == 0
    worker(connection, queue).work(burst=True)
    assert handle.status() is Status.SUCCEEDED
    assert handle.result() == 2
    assert connection.hget(job.key, "stalwart_attempt") == b"1"


def test_a_heartbeat_before_the_start_never_deletes_the_job(connection: redis.Redis) -> None:
    # Given a job taken by a worker whose execution is registered, not yet started: its hash, as stalwart
    # enqueues it, has no last_heartbeat field (RQ's empty fields are left out)
    handle, queue, slow, job = dequeued(connection, 4, 5)
    execution = slow.prepare_execution(job)
    assert connection.hexists(job.key, "last_heartbeat") == 0

    # When its heartbeat is renewed before the start (a work-horse slow to start, the reaper thread's beat
    # between taking the job and starting it)
    slow.maintain_heartbeats(job, execution)

    # Then the job is still there (RQ's own renewal deleted a hash whose last_heartbeat field it added),
    # and it runs to its end
    assert connection.exists(job.key) == 1
    assert slow.perform_job(job, queue, execution) is True
    assert (handle.status(), handle.result()) == (Status.SUCCEEDED, 9)


def test_a_heartbeat_after_the_job_is_gone_does_not_recreate_its_hash(connection: redis.Redis) -> None:
    # Given a running job whose hash was deleted (a result_ttl of 0, say, or by hand)
    _, _, slow, job = dequeued(connection, 1, 2)
    execution = slow.prepare_execution(job)
    connection.delete(job.key)

    # When its heartbeat is renewed, no hash holding only a heartbeat appears
    slow.maintain_heartbeats(job, execution)

    assert connection.exists(job.key) == 0
