"""A batch of jobs that ends every way a job can (the statistics and metrics tests count it)."""

from __future__ import annotations

import redis

from jobs import Worker
from jobs.demo.gateway import Gateway
from tests.sample_jobs import Add, ChargeCard, ChargeFee, CountsWidgets, SaveReport


def run_a_mixed_batch(connection: redis.Redis) -> None:
    """Two successes, a negative, a retry then success, a dead letter, and a job counting its own event."""
    Gateway(connection).script(1, "refuse", "ok")
    Add.enqueue(connection=connection, a=1, b=2)
    Add.enqueue(connection=connection, a=3, b=4)
    ChargeCard.enqueue(connection=connection, customer_id=7, card="declined")
    ChargeFee.enqueue(connection=connection, customer_id=1)  # refused once, then charged
    SaveReport.enqueue(connection=connection, month="2026-06")
    CountsWidgets.enqueue(connection=connection, widgets=5)
    Worker(["default", "billing"], connection=connection, mode="inprocess").work(burst=True)
