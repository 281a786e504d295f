"""Unique jobs (one at a time per idempotency key) and ``enqueue_many`` (all or nothing), on a real Redis."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import redis

from jobs import EnqueueError, PayloadError, Status, Worker, _keys
from tests.sample_jobs import Add
from tests.time_jobs import Export, UniqueFails
from tests.workers import REPO


def test_a_unique_job_already_queued_is_not_enqueued_again(connection: redis.Redis) -> None:
    first = Export.enqueue(connection=connection, customer_id=42)
    again = Export.enqueue(connection=connection, customer_id=42)
    other = Export.enqueue(connection=connection, customer_id=7)

    assert (again.id, again.deduplicated, first.deduplicated) == (first.id, True, False)
    assert other.id != first.id and not other.deduplicated
    assert connection.lrange("rq:queue:default", 0, -1) == [first.id.encode(), other.id.encode()]
    assert "deduplicated=True" in repr(again)


def test_a_unique_job_scheduled_for_later_blocks_a_new_one_until_it_has_run(connection: redis.Redis) -> None:
    later = Export.enqueue_in(600, connection=connection, customer_id=42)
    now = Export.enqueue(connection=connection, customer_id=42)
    assert (now.id, now.deduplicated, now.status()) == (later.id, True, Status.SCHEDULED)


def test_a_finished_or_dead_lettered_unique_job_no_longer_blocks_a_new_one(connection: redis.Redis) -> None:
    # Given a unique job that succeeded and one that was dead-lettered
    done = Export.enqueue(connection=connection, customer_id=1)
    dead = UniqueFails.enqueue(connection=connection, customer_id=2)
    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)
    assert (done.status(), dead.status()) == (Status.SUCCEEDED, Status.DEAD_LETTERED)

    # Then their claims are gone, and the same jobs enqueue anew
    assert connection.keys(_keys.unique("*", "*")) == []
    again, retry = (
        Export.enqueue(connection=connection, customer_id=1),
        UniqueFails.enqueue(connection=connection, customer_id=2),
    )
    assert (again.deduplicated, retry.deduplicated) == (False, False)
    assert again.id != done.id and retry.id != dead.id


def test_a_stale_claim_whose_job_is_gone_does_not_block(connection: redis.Redis) -> None:
    # Given a claim left by a job whose hash was deleted by hand (no end was ever recorded)
    first = Export.enqueue(connection=connection, customer_id=9)
    connection.delete(f"rq:job:{first.id}")

    second = Export.enqueue(connection=connection, customer_id=9)

    assert (second.deduplicated, second.id != first.id) == (False, True)


def test_two_processes_enqueueing_a_unique_job_at_once_get_one_job(
    connection: redis.Redis, redis_url: str
) -> None:
    # Given eight producer processes released together (they wait for a key to appear)
    script = (
        "import redis, sys\n"
        "from tests.time_jobs import Export\n"
        "c = redis.Redis.from_url(sys.argv[1])\n"
        "while not c.exists('go'): pass\n"
        "h = Export.enqueue(connection=c, customer_id=5)\n"
        "print(h.id, h.deduplicated)\n"
    )
    producers = [
        subprocess.Popen(
            [sys.executable, "-c", script, redis_url], cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    connection.set("go", 1)
    answers = [p.communicate(timeout=60)[0].split() for p in producers]

    # Then one job was enqueued, and seven were told it already was
    assert len({job_id for job_id, _ in answers}) == 1
    assert sorted(dedup for _, dedup in answers) == ["False"] + ["True"] * 7
    assert connection.llen("rq:queue:default") == 1


def test_enqueue_many_enqueues_every_job_in_order(connection: redis.Redis) -> None:
    handles = Add.enqueue_many([{"a": n, "b": 1} for n in range(50)], connection=connection)

    assert connection.lrange("rq:queue:default", 0, -1) == [h.id.encode() for h in handles]
    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)
    assert [h.result() for h in handles] == [n + 1 for n in range(50)]


def test_enqueue_many_with_one_bad_payload_names_it_and_enqueues_nothing(connection: redis.Redis) -> None:
    calls = [{"a": 1, "b": 2}, {"a": 3, "b": 4}, {"a": "five", "b": 6}, {"a": 7, "b": 8}]

    with pytest.raises(PayloadError) as caught:
        Add.enqueue_many(calls, connection=connection)

    assert caught.value.index == 2
    assert str(caught.value).startswith("cannot enqueue tests.Add: payload 2 (counted from 0): argument 'a'")
    assert str(caught.value).endswith("; nothing was enqueued")
    assert connection.keys("*") == []


def test_enqueue_many_into_a_full_redis_writes_nothing_at_all(connection: redis.Redis) -> None:
    # Given a Redis with room for a few jobs, not for a thousand
    Add.enqueue(connection=connection, a=0, b=0)
    used = int(connection.info("memory")["used_memory"])
    connection.config_set("maxmemory", used + 64 * 1024)
    try:
        with pytest.raises(redis.ResponseError, match="OOM command not allowed"):
            Add.enqueue_many([{"a": n, "b": n} for n in range(1000)], connection=connection)
    finally:
        connection.config_set("maxmemory", 0)

    # (The script's first write is refused when Redis is full, so it never starts writing.)
    assert connection.llen("rq:queue:default") == 1
    assert len(connection.keys("rq:job:*")) == 1


def test_enqueue_many_with_unique_jobs_keeps_one_per_key(connection: redis.Redis) -> None:
    handles = Export.enqueue_many(
        [{"customer_id": 1}, {"customer_id": 2}, {"customer_id": 1}], connection=connection
    )

    assert [h.deduplicated for h in handles] == [False, False, True]
    assert handles[2].id == handles[0].id
    assert connection.llen("rq:queue:default") == 2


def test_enqueue_many_when_redis_is_gone_says_nothing_or_all_was_written(redis_url: str) -> None:
    gone = redis.Redis(port=1, socket_connect_timeout=0.5)
    with pytest.raises(EnqueueError, match=r"^could not enqueue 2 tests.Add jobs: Redis did not answer"):
        Add.enqueue_many([{"a": 1, "b": 1}, {"a": 2, "b": 2}], connection=gone)


def test_unique_claims_survive_concurrent_threads_too(connection: redis.Redis, redis_url: str) -> None:
    barrier = threading.Barrier(6)
    results: list[tuple[str, bool]] = []

    def produce() -> None:
        client = redis.Redis.from_url(redis_url)
        barrier.wait()
        handle = Export.enqueue(connection=client, customer_id=77)
        results.append((handle.id, handle.deduplicated))

    threads = [threading.Thread(target=produce) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len({i for i, _ in results}) == 1
    assert sorted(d for _, d in results) == [False] + [True] * 5
