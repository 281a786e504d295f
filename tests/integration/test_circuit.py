"""CircuitBreaker on a real Redis (its state changes are Lua scripts), with time passed in."""

from __future__ import annotations

import logging

import pytest
import redis

from resilience import CircuitBreaker, CircuitOpen


class GatewayDown(ConnectionError):
    pass


def breaker(connection: redis.Redis, **options: object) -> CircuitBreaker:
    settings = {"failure_threshold": 3, "reset_after_s": 30.0, "on": (GatewayDown,), **options}
    return CircuitBreaker("payment-gateway", connection, **settings)  # type: ignore[arg-type]


def test_it_opens_after_the_threshold_of_declared_failures_only(
    connection: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    circuit = breaker(connection)
    assert circuit.record_failure(ValueError("a bug of ours, not the gateway's"), now=100) is False
    assert [circuit.record_failure(GatewayDown("refused"), now=100 + i) for i in range(3)] == [
        False,
        False,
        True,
    ]
    assert circuit.state() == "open"
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "circuit 'payment-gateway' opened after 3 failures (last: GatewayDown: refused); next trial in 30 s"
    ]


def test_a_success_resets_the_count_of_consecutive_failures(connection: redis.Redis) -> None:
    circuit = breaker(connection)
    circuit.record_failure(GatewayDown(), now=1)
    circuit.record_failure(GatewayDown(), now=2)
    circuit.record_success()
    assert circuit.record_failure(GatewayDown(), now=3) is False
    assert circuit.state() == "closed"


def test_while_open_calls_are_refused_with_the_time_to_the_next_trial(connection: redis.Redis) -> None:
    circuit = breaker(connection)
    for _ in range(3):
        circuit.record_failure(GatewayDown(), now=1000)

    admission = circuit.admit(now=1012)
    assert (admission.allowed, admission.state, admission.retry_in_s) == (False, "open", 18.0)
    assert str(CircuitOpen("payment-gateway", admission.retry_in_s)) == (
        "circuit 'payment-gateway' is open; next trial in 18.0 s"
    )


def test_half_open_lets_exactly_one_trial_through_and_its_outcome_decides(connection: redis.Redis) -> None:
    circuit = breaker(connection)
    other_process = breaker(connection)  # the same name: the same shared state
    for _ in range(3):
        circuit.record_failure(GatewayDown(), now=1000)

    first = circuit.admit(now=1031)
    second = other_process.admit(now=1031)
    assert (first.allowed, first.state) == (True, "half_open")
    assert (second.allowed, second.state) == (False, "half_open")

    # The trial fails: open again, for another reset period from now.
    assert circuit.record_failure(GatewayDown(), now=1032) is True
    assert circuit.admit(now=1040).allowed is False
    # The next trial succeeds: closed for everyone.
    assert other_process.admit(now=1063).allowed is True
    assert other_process.record_success() is True
    assert (circuit.state(), circuit.admit(now=1064).allowed) == ("closed", True)


def test_call_refuses_while_open_and_records_outcomes(connection: redis.Redis) -> None:
    clock = [5000.0]
    circuit = breaker(connection, clock=lambda: clock[0])

    def down() -> None:
        raise GatewayDown("refused")

    for _ in range(3):
        with pytest.raises(GatewayDown):
            circuit.call(down)
    with pytest.raises(CircuitOpen, match=r"circuit 'payment-gateway' is open; next trial in 30.0 s"):
        circuit.call(lambda: "never called")
    clock[0] += 31
    assert circuit.call(lambda: "ok") == "ok"
    assert circuit.state() == "closed"
