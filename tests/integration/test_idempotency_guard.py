"""IdempotencyGuard on a real Redis: a side effect at most once, and honest about the uncertain case."""

from __future__ import annotations

import pytest
import redis

from jobs import Status, Worker
from resilience import IdempotencyGuard, Kind, SideEffectUncertain, classify
from tests.sample_jobs import WelcomeThenSync


def test_the_guarded_block_runs_once_per_key(connection: redis.Redis) -> None:
    guard = IdempotencyGuard(connection)
    ran = []
    for _ in range(3):
        with guard.once("mail:1") as first:
            if first:
                ran.append(1)
    assert ran == [1]


def test_an_error_that_proves_nothing_happened_frees_the_key(connection: redis.Redis) -> None:
    guard = IdempotencyGuard(connection)
    with pytest.raises(ConnectionRefusedError), guard.once("mail:2", release_on=(ConnectionRefusedError,)):
        raise ConnectionRefusedError("mail server refused")
    with guard.once("mail:2") as first:
        assert first is True


def test_an_interrupted_side_effect_is_uncertain_until_a_person_decides(connection: redis.Redis) -> None:
    guard = IdempotencyGuard(connection)
    with pytest.raises(TimeoutError), guard.once("mail:3", release_on=(ConnectionRefusedError,)):
        raise TimeoutError("mail server did not answer")

    with pytest.raises(SideEffectUncertain) as caught, guard.once("mail:3"):
        pass
    assert classify(caught.value) is Kind.AMBIGUOUS
    assert "may or may not have happened. Verify it, then clear the key" in str(caught.value)

    guard.mark_done("mail:3")
    with guard.once("mail:3") as first:
        assert first is False
    assert guard.clear("mail:3") is True
    with guard.once("mail:3") as first:
        assert first is True


def test_a_retried_job_does_not_repeat_the_side_effect_it_already_made(connection: redis.Redis) -> None:
    handle = WelcomeThenSync.enqueue(connection=connection, user_id=5)

    Worker(["default"], connection=connection, mode="fork").work(burst=True)

    assert handle.status() is Status.SUCCEEDED
    assert connection.hget(f"rq:job:{handle.id}", "stalwart_attempt") == b"2"
    assert connection.lrange("mailer:sent", 0, -1) == [b"5:welcome"]  # one mail for two attempts
