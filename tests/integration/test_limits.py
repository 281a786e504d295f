"""Fleet-wide limits' Lua scripts on a real Redis, on Redis's own clock (so no time is passed in)."""

from __future__ import annotations

import logging

import pytest
import redis

from jobs import Job, Status
from jobs.rq_adapter.enqueue import queue
from jobs.runtime import limits
from jobs.runtime.testing_worker import RecordingWorker


def half_a_second(low: float, high: float) -> float:
    """A jitter that always draws 0.5 s."""
    return 0.5


class TwoAtOnce(Job):
    name = "tests.limit_scripts.TwoAtOnce"
    max_concurrency = 2

    def perform(self) -> None: ...


class ThreePerSecond(Job):
    name = "tests.limit_scripts.ThreePerSecond"
    rate_limit = (3, 1.0)

    def perform(self) -> None: ...


class SharesTwoAtOnce(Job):
    name = "tests.limit_scripts.SharesTwoAtOnce"
    max_concurrency = 2
    limit_key = "tests.limit_scripts.TwoAtOnce"

    def perform(self) -> None: ...


def holders(connection: redis.Redis) -> list[bytes]:
    return sorted(connection.zrange("stalwart:limit:tests.limit_scripts.TwoAtOnce:running", 0, -1))


def test_a_concurrency_limit_admits_up_to_n_and_refuses_the_next(connection: redis.Redis) -> None:
    admitted = [limits.acquire(connection, TwoAtOnce, f"job{i}:x", jitter=half_a_second) for i in range(3)]

    assert [a.allowed for a in admitted] == [True, True, False]
    assert (admitted[2].concurrency_full, admitted[2].retry_in_s) == (True, 0.5)
    assert holders(connection) == [b"job0:x", b"job1:x"]
    # The slot lapses one heartbeat TTL from now unless renewed, and the key with it.
    ttl = connection.pttl("stalwart:limit:tests.limit_scripts.TwoAtOnce:running")
    assert 14_000 < ttl <= 15_000


def test_the_concurrency_wait_is_drawn_between_the_bounds(connection: redis.Redis) -> None:
    limits.acquire(connection, TwoAtOnce, "a:x")
    limits.acquire(connection, TwoAtOnce, "b:x")
    waits = {limits.acquire(connection, TwoAtOnce, "c:x").retry_in_s for _ in range(20)}

    assert all(0.2 <= wait <= 1.0 for wait in waits) and len(waits) > 1


def test_a_holder_asking_again_is_admitted_again_without_taking_another_slot(connection: redis.Redis) -> None:
    # (a script re-sent after a dropped connection must not lock its own job out)
    assert limits.acquire(connection, TwoAtOnce, "a:x").allowed
    assert limits.acquire(connection, TwoAtOnce, "b:x").allowed
    assert limits.acquire(connection, TwoAtOnce, "a:x").allowed
    assert holders(connection) == [b"a:x", b"b:x"]


def test_releasing_a_slot_admits_the_next(connection: redis.Redis) -> None:
    limits.acquire(connection, TwoAtOnce, "a:x")
    limits.acquire(connection, TwoAtOnce, "b:x")
    assert not limits.acquire(connection, TwoAtOnce, "c:x").allowed

    held = limits.slot(TwoAtOnce.name, "a", "x")
    assert held == ("stalwart:limit:tests.limit_scripts.TwoAtOnce:running", "a:x")
    with connection.pipeline() as pipeline:
        limits.release(pipeline, held)
        pipeline.execute()

    assert limits.acquire(connection, TwoAtOnce, "c:x").allowed
    assert holders(connection) == [b"b:x", b"c:x"]


def test_an_expired_holder_frees_its_slot_and_cannot_be_renewed_once_taken(connection: redis.Redis) -> None:
    key = "stalwart:limit:tests.limit_scripts.TwoAtOnce:running"
    limits.acquire(connection, TwoAtOnce, "alive:x")
    # Given a holder whose heartbeats lapsed a moment ago (its worker died)
    connection.zadd(key, {"dead:x": 1.0})
    assert limits.acquire(connection, TwoAtOnce, "next:x").allowed
    assert holders(connection) == [b"alive:x", b"next:x"]

    assert limits.renew(connection, (key, "dead:x")) is False
    assert holders(connection) == [b"alive:x", b"next:x"]


def test_renewing_a_held_slot_pushes_its_expiry_to_a_ttl_from_now(connection: redis.Redis) -> None:
    key = "stalwart:limit:tests.limit_scripts.TwoAtOnce:running"
    limits.acquire(connection, TwoAtOnce, "a:x")
    (seconds, micros) = connection.time()
    connection.zadd(key, {"a:x": seconds + 1}, xx=True)  # about to lapse

    assert limits.renew(connection, (key, "a:x")) is True
    score = connection.zscore(key, "a:x")
    assert score is not None and seconds + micros / 1e6 + 14 < score <= seconds + 16


def test_jobs_naming_one_limit_key_share_its_slots(connection: redis.Redis) -> None:
    assert limits.acquire(connection, TwoAtOnce, "a:x").allowed
    assert limits.acquire(connection, SharesTwoAtOnce, "b:x").allowed
    assert not limits.acquire(connection, SharesTwoAtOnce, "c:x").allowed
    assert limits.slot(SharesTwoAtOnce.name, "b", "x") == (
        "stalwart:limit:tests.limit_scripts.TwoAtOnce:running",
        "b:x",
    )


def test_a_job_without_limits_is_always_admitted_and_holds_nothing(connection: redis.Redis) -> None:
    class Unlimited(Job):
        name = "tests.limit_scripts.Unlimited"

        def perform(self) -> None: ...

    assert limits.acquire(connection, Unlimited, "a:x").allowed
    assert limits.slot(Unlimited.name, "a", "x") is None
    assert limits.slot("tests.limit_scripts.NoSuchJob", "a", "x") is None
    assert connection.keys("stalwart:limit:*") == []


def test_a_rate_limit_refuses_the_n_plus_first_start_until_the_oldest_leaves_the_window(
    connection: redis.Redis,
) -> None:
    key = "stalwart:limit:tests.limit_scripts.ThreePerSecond:starts"
    (seconds, micros) = connection.time()
    now = seconds + micros / 1e6
    # Given three starts 0.9, 0.6 and 0.3 s ago (written as the script writes them)
    connection.zadd(key, {"s1:x": now - 0.9, "s2:x": now - 0.6, "s3:x": now - 0.3})

    refused = limits.acquire(connection, ThreePerSecond, "s4:x")

    # Then the fourth waits until the first is a full second old: about 0.1 s (Redis's clock moved on a bit)
    assert (refused.allowed, refused.concurrency_full) == (False, False)
    assert 0.0 < refused.retry_in_s <= 0.1
    # And nothing was recorded for a refused start
    assert connection.zcard(key) == 3


def test_the_rate_window_is_sliding_not_aligned(connection: redis.Redis) -> None:
    key = "stalwart:limit:tests.limit_scripts.ThreePerSecond:starts"
    (seconds, micros) = connection.time()
    now = seconds + micros / 1e6
    # Given starts 1.2 s ago (outside any window that includes now) and 0.5, 0.4 s ago
    connection.zadd(key, {"old:x": now - 1.2, "s2:x": now - 0.5, "s3:x": now - 0.4})

    # Then one more start fits, and the next must wait until the 0.5 s old start leaves: about 0.5 s
    assert limits.acquire(connection, ThreePerSecond, "s4:x").allowed
    refused = limits.acquire(connection, ThreePerSecond, "s5:x")
    assert not refused.allowed
    assert 0.4 < refused.retry_in_s <= 0.5
    # The start that left the window is dropped; the key lapses a window after the last start
    assert sorted(connection.zrange(key, 0, -1)) == [b"s2:x", b"s3:x", b"s4:x"]
    assert 900 < connection.pttl(key) <= 1000


@pytest.mark.parametrize("rate_first", [True, False])
def test_a_start_refused_by_either_limit_takes_neither(connection: redis.Redis, rate_first: bool) -> None:
    class Both(Job):
        name = "tests.limit_scripts.Both"
        max_concurrency = 1
        rate_limit = (1, 10.0)

        def perform(self) -> None: ...

    running = "stalwart:limit:tests.limit_scripts.Both:running"
    starts = "stalwart:limit:tests.limit_scripts.Both:starts"
    assert limits.acquire(connection, Both, "a:x").allowed
    if rate_first:
        connection.delete(running)  # only the rate is exhausted
    else:
        connection.delete(starts)  # only the slot is taken

    refused = limits.acquire(connection, Both, "b:x")

    assert not refused.allowed
    assert refused.concurrency_full is (not rate_first)
    assert connection.zscore(running, "b:x") is None and connection.zscore(starts, "b:x") is None
    if rate_first:
        assert 9.9 < refused.retry_in_s <= 10.0


class OnePerMinute(Job):
    name = "tests.limit_scripts.OnePerMinute"
    queue = "limits-snooze"
    rate_limit = (1, 60.0)
    max_concurrency = 1

    def perform(self) -> str:
        return "ran"


def run_one_round(connection: redis.Redis) -> None:
    """One in-process pass over the queue, as jobs.testing runs it (no scheduler: a snoozed job stays put)."""
    queues = [queue("limits-snooze", connection)]
    RecordingWorker(queues, connection, {}).work(burst=True, with_scheduler=False, logging_level=None)


@pytest.mark.parametrize("full", ["rate", "concurrency"])
def test_a_job_over_its_limit_is_snoozed_without_using_an_attempt_and_says_why(
    connection: redis.Redis, caplog: pytest.LogCaptureFixture, full: str
) -> None:
    # Given a limit another worker has used up
    (seconds, _) = connection.time()
    if full == "rate":
        connection.zadd("stalwart:limit:tests.limit_scripts.OnePerMinute:starts", {"other:x": seconds - 10})
        why, least, most = "1 started in the last 60 s (rate_limit); snoozed for ", 49.0, 50.0
    else:
        connection.zadd("stalwart:limit:tests.limit_scripts.OnePerMinute:running", {"other:x": seconds + 100})
        why, least, most = "1 already running (max_concurrency); snoozed for ", 0.2, 1.0

    # When a worker takes the job
    handle = OnePerMinute.enqueue(connection=connection)
    with caplog.at_level(logging.INFO, logger="stalwart.worker"):
        run_one_round(connection)

    # Then it did not run, used no attempt, and waits in the scheduled registry for the limit
    assert handle.status() is Status.SCHEDULED
    fields = connection.hmget(f"rq:job:{handle.id}", ["stalwart_attempt", "stalwart_outcome"])
    assert fields == [b"0", b"scheduled"]
    snoozed = [r for r in caplog.records if r.getMessage().startswith("job snoozed")]
    assert len(snoozed) == 1 and snoozed[0].levelno == logging.INFO
    assert (
        f"job snoozed: tests.limit_scripts.OnePerMinute (job {handle.id}) is over its limit: {why}"
        in snoozed[0].getMessage()
    )
    assert least <= snoozed[0].retry_in_s <= most  # type: ignore[attr-defined]
    # and took neither a start nor a slot
    limit = "stalwart:limit:tests.limit_scripts.OnePerMinute"
    taken = connection.zrange(f"{limit}:starts", 0, -1) + connection.zrange(f"{limit}:running", 0, -1)
    assert taken == [b"other:x"]
