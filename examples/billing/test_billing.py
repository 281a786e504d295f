"""The billing example's behaviour, run in-process with jobs.testing: no worker, no real waiting."""

from __future__ import annotations

import redis

from jobs import Classification, DeadLetterQueue, Status, testing
from jobs.demo.billing import ChargeMonthlyFee, Invoices
from jobs.demo.enqueue import enqueue_month
from jobs.demo.gateway import Faults, Gateway
from jobs.demo.reconcile import reconcile

MONTH = "2026-11"


def charge(connection: redis.Redis, customer: int, amount_cents: int = 1900) -> None:
    ChargeMonthlyFee.enqueue(
        connection=connection, customer_id=customer, month=MONTH, amount_cents=amount_cents
    )


def test_a_declined_card_is_a_negative_outcome_not_a_failure(fake: redis.Redis) -> None:
    Gateway(fake).configure(Faults(decline=1.0))
    charge(fake, 4)

    run = testing.run_queued(fake)

    declined = run.one(ChargeMonthlyFee)
    assert (declined.status, declined.attempts) == (Status.NEGATIVE, 1)
    assert declined.negative is not None and declined.negative.reason == "card_expired"
    assert Invoices(fake).of(MONTH) == {4: "declined:card_expired"}
    assert Gateway(fake).ledger() == [] and run.alerts == []
    assert run.stat(ChargeMonthlyFee, "negative.card_expired") == 1


def test_timeouts_after_charging_are_retried_and_charge_once(fake: redis.Redis) -> None:
    gateway = Gateway(fake)
    gateway.configure(Faults(timeout_after=1.0))  # every call charges, then times out
    charge(fake, 7)

    dead = testing.run_queued(fake).one(ChargeMonthlyFee)

    assert (dead.status, dead.attempts) == (Status.DEAD_LETTERED, 4)
    assert [f["error_type"] for f in dead.failures] == ["GatewayTimeout"] * 4
    assert dead.dead_letter is not None and dead.dead_letter.classification == Classification.EXHAUSTED
    # Four attempts, one charge: every retry carried the same key.
    assert gateway.charges_per_customer() == {7: 1}
    assert reconcile(MONTH, [7], fake).charged_without_invoice == [7]

    gateway.configure(Faults())  # the gateway answers again: the replay finds the charge, makes none
    DeadLetterQueue(fake).replay(dead.id, by="test")
    paid = testing.run_queued(fake).one(ChargeMonthlyFee)

    assert paid.status is Status.SUCCEEDED and paid.result == gateway.ledger()[0]["code"]
    assert gateway.charges_per_customer() == {7: 1}
    assert reconcile(MONTH, [7], fake).ok


def test_an_outage_exhausts_the_retries_and_a_replay_after_it_pays(fake: redis.Redis) -> None:
    gateway = Gateway(fake)
    gateway.down()
    charge(fake, 3)

    dead = testing.run_queued(fake).one(ChargeMonthlyFee)

    assert (dead.status, dead.attempts) == (Status.DEAD_LETTERED, ChargeMonthlyFee.max_attempts)
    assert dead.dead_letter is not None
    assert (dead.dead_letter.classification, dead.dead_letter.error_type) == (
        Classification.EXHAUSTED,
        "GatewayUnavailable",
    )
    assert "charging customer 3 the 2026-11 fee of 19.00" in dead.dead_letter.message
    assert gateway.ledger() == []

    gateway.up()
    DeadLetterQueue(fake).replay_all(job=ChargeMonthlyFee.name, error_type="GatewayUnavailable", by="test")
    replayed = testing.run_queued(fake).one(ChargeMonthlyFee)

    assert replayed.status is Status.SUCCEEDED
    assert gateway.charges_per_customer() == {3: 1}
    assert DeadLetterQueue(fake).get(dead.id).status == "resolved"


def test_a_bad_amount_is_dead_lettered_at_once_and_replayed_with_the_fix(fake: redis.Redis) -> None:
    charge(fake, 5, amount_cents=0)

    dead = testing.run_queued(fake).one(ChargeMonthlyFee)

    assert (dead.status, dead.attempts) == (Status.DEAD_LETTERED, 1)
    assert dead.dead_letter is not None and dead.dead_letter.classification == Classification.NON_RETRYABLE
    assert "amount must be a positive number of cents, got 0" in dead.dead_letter.message

    fixed = {"customer_id": 5, "month": MONTH, "amount_cents": 1900}
    DeadLetterQueue(fake).replay(dead.id, kwargs=fixed, by="test")
    paid = testing.run_queued(fake).one(ChargeMonthlyFee)

    assert (paid.status, paid.kwargs) == (Status.SUCCEEDED, fixed)
    assert [(e["customer_id"], e["amount_cents"], e["key"]) for e in Gateway(fake).ledger()] == [
        (5, 1900, "fee:5:2026-11")
    ]


def test_a_month_under_every_fault_reconciles_with_the_ledger(fake: redis.Redis) -> None:
    gateway = Gateway(fake)
    gateway.configure(Faults(refuse=0.1, timeout_before=0.05, timeout_after=0.1, garble=0.05, decline=0.1))
    enqueue_month(MONTH, range(1, 201), connection=fake)

    run = testing.run_queued(fake)

    assert len(run.jobs) == 200
    assert run.count(Status.SUCCEEDED) + run.count(Status.NEGATIVE) + run.count(Status.DEAD_LETTERED) == 200
    assert sum(1 for r in run.jobs if r.retried) > 20  # the faults were real
    assert run.count(Status.NEGATIVE) > 10
    result = reconcile(MONTH, range(1, 201), fake)
    dead = sorted(r.kwargs["customer_id"] for r in run.jobs if r.status is Status.DEAD_LETTERED)
    # Jobs that ran out of attempts have no invoice yet, and a timeout after charging may have moved
    # their money: the reconciliation shows exactly those, and nothing else.
    assert result.missing == dead
    assert set(result.charged_without_invoice) <= set(dead)
    assert (result.charged_twice, result.paid_without_charge) == ([], [])

    gateway.configure(Faults())
    DeadLetterQueue(fake).replay_all(job=ChargeMonthlyFee.name, by="test")
    testing.run_queued(fake)

    final = reconcile(MONTH, range(1, 201), fake)
    assert final.ok and final.charges == final.paid
    assert final.paid + sum(final.declined.values()) == 200


def test_the_month_runs_the_same_on_a_real_server(connection: redis.Redis) -> None:
    Gateway(connection).configure(Faults(refuse=0.2, timeout_after=0.2, decline=0.1))
    enqueue_month(MONTH, range(1, 31), connection=connection)

    run = testing.run_queued(connection)

    assert len(run.jobs) == 30
    Gateway(connection).configure(Faults())
    DeadLetterQueue(connection).replay_all(job=ChargeMonthlyFee.name, by="test")
    testing.run_queued(connection)

    result = reconcile(MONTH, range(1, 31), connection)
    assert result.ok and result.customers == 30
    assert result.charges == result.paid == 30 - sum(result.declined.values())
