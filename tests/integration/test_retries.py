"""Declared retries on a real worker and a real Redis, against the payment gateway simulator."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.serializers import JSONSerializer

from jobs import Classification, DeadLetterQueue, Job, JobHandle, Status, Worker, _keys
from jobs.demo.gateway import Gateway
from jobs.rq_adapter.job_format import SafeRQJob
from jobs.rq_adapter.schedule import lead_and_move
from jobs.runtime.rq_worker import InProcessWorker
from tests import sample_jobs as sj


@dataclass(frozen=True)
class Case:
    """One row: a job, the gateway's answers to its successive calls, and the expected ending."""

    title: str
    job: type[Job]
    script: tuple[str, ...]
    status: Status
    attempts: int
    charges: int
    classification: Classification | None = None
    mail_down: bool = False


CASES = [
    Case("transient then success", sj.ChargeFee, ("refuse", "ok"), Status.SUCCEEDED, 2, 1),
    Case(
        "exhausted after exactly max_attempts",
        sj.ChargeFee,
        ("refuse",) * 5,
        Status.DEAD_LETTERED,
        3,
        0,
        Classification.EXHAUSTED,
    ),
    Case("a decline is a negative, not retried", sj.ChargeFee, ("decline", "ok"), Status.NEGATIVE, 1, 0),
    Case(
        "undeclared error fails after one attempt",
        sj.ChargeWithPerTypeBudgets,
        ("timeout_before", "ok"),
        Status.DEAD_LETTERED,
        1,
        0,
        Classification.NON_RETRYABLE,
    ),
    Case(
        "a wrapped transient error is still retried",
        sj.ChargeWrappedInContext,
        ("refuse", "refuse", "ok"),
        Status.SUCCEEDED,
        3,
        1,
    ),
    Case(
        "subclasses of a declared type are retried",
        sj.ChargeOnBroadErrors,
        ("refuse", "rate_limited", "ok"),
        Status.SUCCEEDED,
        3,
        1,
    ),
    Case(
        "scoped transient() retries its own block",
        sj.ChargeThenMail,
        ("refuse", "ok"),
        Status.SUCCEEDED,
        2,
        1,
    ),
    Case(
        "scoped transient() does not cover the mailer after the charge",
        sj.ChargeThenMail,
        ("ok", "ok"),
        Status.DEAD_LETTERED,
        1,
        1,
        Classification.NON_RETRYABLE,
        mail_down=True,
    ),
    Case(
        "ambiguous and not idempotent: dead-lettered after one attempt, charged once",
        sj.ChargeFee,
        ("timeout_after", "ok", "ok"),
        Status.DEAD_LETTERED,
        1,
        1,
        Classification.AMBIGUOUS,
    ),
    Case(
        "ambiguous and not idempotent, timed out before charging: still not retried",
        sj.ChargeFee,
        ("timeout_before", "ok"),
        Status.DEAD_LETTERED,
        1,
        0,
        Classification.AMBIGUOUS,
    ),
    Case(
        "ambiguous and idempotent: retried, the gateway deduplicates by key",
        sj.ChargeFeeIdempotently,
        ("timeout_after", "timeout_after", "ok"),
        Status.SUCCEEDED,
        3,
        1,
    ),
    Case(
        "per-type budget: refusals get 2 attempts",
        sj.ChargeWithPerTypeBudgets,
        ("refuse", "refuse", "ok"),
        Status.DEAD_LETTERED,
        2,
        0,
        Classification.EXHAUSTED,
    ),
    Case(
        "per-type budget: rate limits get 4 of their own",
        sj.ChargeWithPerTypeBudgets,
        ("rate_limited", "refuse", "rate_limited", "rate_limited", "ok"),
        Status.SUCCEEDED,
        5,
        1,
    ),
]


@pytest.mark.parametrize("mode", ["inprocess", "fork"])
def test_each_declared_failure_ends_as_declared(connection: redis.Redis, mode: str) -> None:
    # Given one customer per case, each with its scripted gateway answers
    gateway = Gateway(connection)
    handles: list[tuple[Case, int, JobHandle]] = []
    for customer_id, case in enumerate(CASES, start=1):
        gateway.script(customer_id, *case.script)
        if case.mail_down:
            connection.rpush(f"mailer:script:{customer_id}", "mail_down")
        handles.append((case, customer_id, case.job.enqueue(connection=connection, customer_id=customer_id)))

    # When a burst worker drains the queue, retries included
    Worker(["default"], connection=connection, mode=mode).work(burst=True)  # type: ignore[arg-type]

    # Then every job ended as its case says, after exactly the expected attempts and charges
    dlq = DeadLetterQueue(connection)
    actual = []
    expected = []
    for case, customer_id, handle in handles:
        attempts = int(connection.hget(f"rq:job:{handle.id}", "stalwart_attempt") or 0)
        classification = dlq.get(handle.id).classification if dlq.exists(handle.id) else None
        actual.append((case.title, handle.status(), attempts, gateway.charges(customer_id), classification))
        expected.append((case.title, case.status, case.attempts, case.charges, case.classification))
    assert actual == expected


def test_a_dead_letter_entry_keeps_every_attempt_and_the_rendered_failure(connection: redis.Redis) -> None:
    Gateway(connection).script(7, "refuse", "refuse", "refuse")
    handle = sj.ChargeFee.enqueue(connection=connection, customer_id=7)

    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)

    entry = DeadLetterQueue(connection).get(handle.id)
    assert [(a["number"], a["outcome"], a["error_type"], a["budget"]) for a in entry.history] == [
        (1, "retrying", "GatewayRefused", "*"),
        (2, "retrying", "GatewayRefused", "*"),
        (3, "exhausted", "GatewayRefused", "*"),
    ]
    assert all(a["traceback"].startswith("Traceback") and a["pid"] > 0 for a in entry.history)
    assert entry.attempts == 3
    assert entry.idempotency_key == sj.ChargeFee.idempotency_key_for(customer_id=7)
    assert entry.message == (
        f"tests.ChargeFee (job {handle.id}, attempt 3/3) failed while charging customer 7 the monthly fee: "
        "GatewayRefused: gateway refused the connection for customer 7. "
        "Gave up: 3 of 3 attempts allowed for this job failed. "
        "Remediation: Check the gateway's status page, then replay."
    )


def test_an_ambiguous_failure_says_to_verify_before_replaying(connection: redis.Redis) -> None:
    Gateway(connection).script(8, "timeout_after")
    handle = sj.ChargeFee.enqueue(connection=connection, customer_id=8)

    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)

    entry = DeadLetterQueue(connection).get(handle.id)
    assert (
        "Not retried: GatewayTimeout is ambiguous (the operation may have taken effect) and the job is not "
        "idempotent. Verify whether the side effect happened before replaying it." in entry.message
    )


def test_the_idempotency_key_is_the_same_on_every_attempt(connection: redis.Redis) -> None:
    gateway = Gateway(connection)
    gateway.script(9, "timeout_after", "timeout_after", "ok")
    handle = sj.ChargeFeeIdempotently.enqueue(connection=connection, customer_id=9)

    Worker(["default"], connection=connection, mode="fork").work(burst=True)

    key = sj.ChargeFeeIdempotently.idempotency_key_for(customer_id=9)
    # One charge, made with the job's key, and its code is the job's result.
    assert [(e["customer_id"], e["key"], e["code"]) for e in gateway.ledger()] == [(9, key, handle.result())]
    assert connection.hkeys("gateway:keys") == [key.encode()]


def test_retries_wait_their_backoff_and_log_why(
    connection: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    gateway = Gateway(connection)
    gateway.script(10, "refuse", "refuse", "ok")
    handle = sj.ChargeWithRealBackoff.enqueue(connection=connection, customer_id=10)

    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)

    assert [(e["customer_id"], e["code"]) for e in gateway.ledger()] == [(10, handle.result())]
    retries = [r for r in caplog.records if r.__dict__.get("outcome") == "retrying"]
    assert [(r.levelno, r.__dict__["classification"], r.__dict__["error_type"]) for r in retries] == [
        (logging.WARNING, "transient", "GatewayRefused")
    ] * 2
    backoff = sj.ChargeWithRealBackoff.backoff
    for n, record in enumerate(retries, start=1):
        low, high = backoff.bounds(n)
        assert low <= record.__dict__["retry_in_s"] <= high
    # Each retry started no earlier than its backoff after the failure it follows.
    starts = [r.created for r in caplog.records if r.__dict__.get("outcome") == "started"]
    ends = [r.created for r in retries]
    for n, (ended, next_start) in enumerate(zip(ends, starts[1:], strict=True), start=1):
        assert next_start - ended >= retries[n - 1].__dict__["retry_in_s"]


def _run_one_job(connection: redis.Redis, queue: Queue) -> None:
    """One pass of an in-process worker that stops after one job (no burst loop, no scheduler)."""
    InProcessWorker(
        [queue],
        connection=connection,
        serializer=JSONSerializer,
        job_class=SafeRQJob,
        disable_default_exception_handler=True,
    ).work(burst=True, max_jobs=1)


def test_a_job_being_retried_shows_as_scheduled(connection: redis.Redis) -> None:
    Gateway(connection).script(11, "refuse", "ok")
    handle = sj.ChargeWithRealBackoff.enqueue(connection=connection, customer_id=11)

    # One pass without the burst loop: the first attempt fails and is rescheduled.
    queue = Queue("default", connection=connection, serializer=JSONSerializer)
    before = datetime.now().timestamp()
    _run_one_job(connection, queue)

    assert handle.status() is Status.SCHEDULED
    (score,) = [s for _, s in connection.zrange(queue.scheduled_job_registry.key, 0, -1, withscores=True)]
    # Due no sooner than the shortest backoff after the attempt, to the microsecond (RQ kept whole seconds
    # and truncated them), and in the scheduler's set with the same score.
    shortest, _ = sj.ChargeWithRealBackoff.backoff.bounds(1)
    assert not score.is_integer() and score >= before + shortest
    assert connection.zscore(_keys.schedule(), handle.id) == score


@pytest.mark.parametrize("mode", ["inprocess", "fork"])
def test_a_gateway_that_times_out_after_charging_never_gets_a_second_charge_from_a_job_that_is_not_idempotent(
    connection: redis.Redis, mode: str
) -> None:
    # The exercise the article leaves open: a timeout is not a refusal.
    gateway = Gateway(connection)
    customers = range(100, 120)
    for customer_id in customers:
        gateway.script(customer_id, "timeout_after", "ok", "ok")
        sj.ChargeFee.enqueue(connection=connection, customer_id=customer_id)

    Worker(["default"], connection=connection, mode=mode).work(burst=True)  # type: ignore[arg-type]

    assert [gateway.charges(c) for c in customers] == [1] * 20
    entries = DeadLetterQueue(connection).list()
    assert sorted(e.kwargs["customer_id"] for e in entries) == list(customers)
    assert {e.classification for e in entries} == {Classification.AMBIGUOUS}


@pytest.mark.parametrize(
    ("job", "runs", "classification"),
    [
        (sj.RunsPastItsTimeout, 1, Classification.AMBIGUOUS),
        (sj.RunsPastItsTimeoutIdempotently, 2, Classification.EXHAUSTED),
    ],
)
def test_a_job_cut_off_at_its_timeout_is_ambiguous_retried_only_if_idempotent(
    connection: redis.Redis, tmp_path: Path, job: type[Job], runs: int, classification: Classification
) -> None:
    path = tmp_path / "runs"
    handle = job.enqueue(connection=connection, path=str(path))

    Worker(["default"], connection=connection, mode="fork").work(burst=True)

    entry = DeadLetterQueue(connection).get(handle.id)
    assert (entry.classification, entry.error_type) == (classification, "TimeLimitExceeded")
    assert path.read_text() == "started\n" * runs


def test_a_retry_that_comes_due_goes_before_the_backlog(connection: redis.Redis) -> None:
    Gateway(connection).script(12, "refuse", "ok")
    retried = sj.ChargeWithRealBackoff.enqueue(connection=connection, customer_id=12)
    backlog = [sj.Noop.enqueue(connection=connection).id for _ in range(5)]
    queue = Queue("default", connection=connection, serializer=JSONSerializer)
    _run_one_job(connection, queue)
    assert retried.status() is Status.SCHEDULED and queue.job_ids == backlog

    # The backoff has passed (moved into the past rather than waited), and the scheduler moves it.
    connection.zadd(queue.scheduled_job_registry.key, {retried.id: 1})
    connection.zadd(_keys.schedule(), {retried.id: 1})
    assert lead_and_move(connection).moved == 1

    assert queue.job_ids == [retried.id, *backlog]
