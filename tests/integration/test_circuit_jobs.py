"""Jobs behind a circuit breaker, with forking workers: the circuit's state is shared through Redis."""

from __future__ import annotations

import json

import redis

from jobs import Classification, DeadLetterQueue, Status, Worker
from jobs.demo.gateway import Gateway
from resilience import CircuitBreaker
from tests.sample_jobs import ChargeBehindCircuit, ChargeBehindCircuitBriefly


def test_an_open_circuit_snoozes_jobs_without_using_their_attempts(connection: redis.Redis) -> None:
    # Given a job whose two refusals, in separate work-horse processes, opened the shared circuit
    gateway = Gateway(connection)
    gateway.script(1, "refuse", "refuse")
    first = ChargeBehindCircuit.enqueue(connection=connection, customer_id=1)
    Worker(["default"], connection=connection, mode="fork").work(burst=True)
    assert first.status() is Status.DEAD_LETTERED  # exhausted: 2 of 2 attempts were refused
    assert CircuitBreaker("test-gateway", connection).state() == "open"
    alerts = [json.loads(a)["title"] for a in connection.lrange("stalwart:alerts:outbox", 0, -1)]
    assert alerts.count("circuit 'test-gateway' opened") == 1

    # When more jobs arrive while it is open
    others = [ChargeBehindCircuit.enqueue(connection=connection, customer_id=c) for c in (2, 3)]
    Worker(["default"], connection=connection, mode="fork").work(burst=True)

    # Then they were snoozed (not failed, no attempt used) until a trial closed the circuit, and ran once
    assert [h.status() for h in others] == [Status.SUCCEEDED, Status.SUCCEEDED]
    for handle in others:
        fields = connection.hmget(f"rq:job:{handle.id}", ["stalwart_attempt", "stalwart_snoozed_since"])
        assert fields == [b"1", b""]  # one attempt; a snooze happened and was cleared when it ran
        assert json.loads(connection.hget(f"rq:job:{handle.id}", "stalwart_history") or "[]") == []
    assert [gateway.charges(c) for c in (2, 3)] == [1, 1]
    assert CircuitBreaker("test-gateway", connection).state() == "closed"


def test_a_job_that_waits_longer_than_give_up_after_is_dead_lettered_exhausted(
    connection: redis.Redis,
) -> None:
    circuit = CircuitBreaker("test-gateway", connection, failure_threshold=1, reset_after_s=30)
    circuit.record_failure(ConnectionRefusedError("down"))
    handle = ChargeBehindCircuitBriefly.enqueue(connection=connection, customer_id=9)

    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)

    entry = DeadLetterQueue(connection).get(handle.id)
    assert (entry.classification, entry.error_type) == (Classification.EXHAUSTED, "CircuitOpen")
    assert "to close (give_up_after_s = 0); it never ran in that time" in entry.message
    assert Gateway(connection).charges(9) == 0
