"""jobs.testing: run what is queued in-process, retries without waiting, and say how each job ended."""

from __future__ import annotations

import signal
import threading

import pytest
import redis

from jobs import DeadLetterQueue, Job, Status, connect, testing
from jobs.demo.gateway import Gateway
from jobs.model.outcome import Classification
from tests.sample_jobs import (
    ChargeBehindCircuit,
    ChargeCard,
    ChargeFee,
    ChargeFeeIdempotently,
    ChargeWithRealBackoff,
    CountsWidgets,
    FailsWithASecret,
    Recorder,
)


class EnqueuesAReceipt(Job):
    """Enqueues another job from inside perform, through connect()."""

    name = "tests.testing.EnqueuesAReceipt"

    def perform(self, customer_id: int) -> str:
        CountsWidgets.enqueue(widgets=customer_id)
        connect().set(f"receipt:{customer_id}", "queued")
        return "ok"


def test_retries_run_at_once_and_every_ending_is_reported(fake: redis.Redis) -> None:
    gateway = Gateway(fake)
    gateway.script(1, "refuse", "refuse", "ok")
    gateway.script(2, "refuse", "refuse", "refuse")
    ChargeWithRealBackoff.enqueue(connection=fake, customer_id=1)
    ChargeWithRealBackoff.enqueue(connection=fake, customer_id=2)
    ChargeCard.enqueue(connection=fake, customer_id=42, card="declined")
    FailsWithASecret.enqueue(connection=fake, customer_id=3, api_token="t0k3n")

    run = testing.run_queued(fake)

    paid, refused = run.of(ChargeWithRealBackoff)
    (charge,) = gateway.ledger()
    assert (paid.kwargs, paid.status, paid.attempts, paid.result) == (
        {"customer_id": 1},
        Status.SUCCEEDED,
        3,
        charge["code"],
    )
    assert charge["customer_id"] == 1
    assert paid.retried and [f["outcome"] for f in paid.failures] == ["retrying", "retrying"]
    assert (refused.status, refused.attempts, refused.result) == (Status.DEAD_LETTERED, 3, None)
    assert refused.dead_letter is not None
    assert refused.dead_letter.classification == Classification.EXHAUSTED
    assert refused.dead_letter.error_type == "GatewayRefused"

    declined = run.one(ChargeCard)  # on queue "billing": every queue is drained
    assert declined.status is Status.NEGATIVE and declined.negative is not None
    assert declined.negative.reason == "card_declined" and declined.attempts == 1
    assert run.one(FailsWithASecret).dead_letter is not None

    # The backoff after the second refusal (1.2 s before jitter) was skipped, not waited.
    assert run.skipped_wait_s > 0.5
    assert run.rounds == 3
    assert run.count(Status.DEAD_LETTERED) == 2
    assert run.count(Status.SUCCEEDED, ChargeWithRealBackoff) == 1


def test_alerts_and_statistics_of_the_run_are_captured(fake: redis.Redis) -> None:
    FailsWithASecret.enqueue(connection=fake, customer_id=3, api_token="t0k3n")
    CountsWidgets.enqueue(connection=fake, widgets=5)
    ChargeCard.enqueue(connection=fake, customer_id=42, card="declined")

    run = testing.run_queued(fake)

    assert [a.title for a in run.alerts] == [
        "tests.FailsWithASecret dead-lettered (non_retryable): PermissionError"
    ]
    assert "t0k3n" not in run.alerts[0].to_json()
    assert run.stat(CountsWidgets, "succeeded") == 1
    assert run.stat("app", "tests.widgets.made") == 5
    assert run.stat(ChargeCard, "negative.card_declined") == 1
    assert run.stat(FailsWithASecret, "dead_lettered.non_retryable") == 1
    assert testing.alerts(fake) == run.alerts  # nothing delivered them: still in the outbox

    # A second run reports only its own alerts and counts.
    CountsWidgets.enqueue(connection=fake, widgets=2)
    second = testing.run_queued(fake)
    assert second.alerts == []
    assert second.stat(CountsWidgets, "succeeded") == 1 and second.stat("app", "tests.widgets.made") == 2


def test_job_code_that_connects_by_itself_gets_the_runs_redis(fake: redis.Redis) -> None:
    EnqueuesAReceipt.enqueue(connection=fake, customer_id=7)

    run = testing.run_queued(fake)

    assert [r.job for r in run.jobs] == [EnqueuesAReceipt.name, CountsWidgets.name]
    assert run.one(CountsWidgets).result == 7
    assert fake.get("receipt:7") == b"queued"


def test_a_replay_from_the_dead_letter_queue_runs_in_the_next_run(fake: redis.Redis) -> None:
    Recorder.enqueue(connection=fake, order_id=5)
    first = testing.run_queued(fake)
    entry = first.one(Recorder).dead_letter
    assert entry is not None and fake.lrange("recorder:dead", 0, -1) == [entry.id.encode()]

    fake.set("recorder:fixed", "yes")
    replay_id = DeadLetterQueue(fake).replay(entry.id, by="test")
    second = testing.run_queued(fake)

    assert [(r.id, r.status, r.result) for r in second.jobs] == [(replay_id, Status.SUCCEEDED, "done-5")]
    assert DeadLetterQueue(fake).get(entry.id).status == "resolved"


def test_an_ambiguous_timeout_is_retried_only_when_the_job_is_idempotent(fake: redis.Redis) -> None:
    gateway = Gateway(fake)
    gateway.script(1, "timeout_after", "ok")
    gateway.script(2, "timeout_after", "ok")
    ChargeFee.enqueue(connection=fake, customer_id=1)
    ChargeFeeIdempotently.enqueue(connection=fake, customer_id=2)

    run = testing.run_queued(fake)

    unsafe, safe = run.one(ChargeFee), run.one(ChargeFeeIdempotently)
    assert unsafe.status is Status.DEAD_LETTERED and unsafe.dead_letter is not None
    assert unsafe.dead_letter.classification == Classification.AMBIGUOUS
    assert (safe.status, safe.attempts) == (Status.SUCCEEDED, 2)
    assert (gateway.charges(1), gateway.charges(2)) == (1, 1)


def test_a_circuit_that_stays_open_ends_the_run_with_a_clear_error(fake: redis.Redis) -> None:
    for customer in range(4):
        Gateway(fake).script(customer, *["refuse"] * 10)
        ChargeBehindCircuit.enqueue(connection=fake, customer_id=customer)

    with pytest.raises(testing.RunawayJobs, match=r"still waiting on \['default'\] after 5 rounds"):
        testing.run_queued(fake, max_rounds=5)


def test_an_empty_queue_is_an_empty_run(fake: redis.Redis) -> None:
    run = testing.run_queued(fake)
    assert (run.jobs, run.alerts, run.stats, run.rounds) == ([], [], {}, 0)


def test_the_test_runners_signal_handlers_are_given_back(fake: redis.Redis) -> None:
    def mine(signum: int, frame: object) -> None:
        raise AssertionError("not called")

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        CountsWidgets.enqueue(connection=fake, widgets=1)
        testing.run_queued(fake)
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_it_runs_off_the_main_thread(fake: redis.Redis) -> None:
    CountsWidgets.enqueue(connection=fake, widgets=3)
    results: list[testing.Run] = []
    thread = threading.Thread(target=lambda: results.append(testing.run_queued(fake)))
    thread.start()
    thread.join()
    assert [r.result for r in results[0].jobs] == [3]


def test_it_runs_on_a_real_server_too(connection: redis.Redis) -> None:
    Gateway(connection).script(9, "refuse", "ok")
    ChargeWithRealBackoff.enqueue(connection=connection, customer_id=9)
    run = testing.run_queued(connection)
    assert [(r.status, r.attempts) for r in run.jobs] == [(Status.SUCCEEDED, 2)]
