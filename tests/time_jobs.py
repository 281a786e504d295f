"""Jobs for the time tests: each notes when it started, on Redis's clock (the one due times are kept in)."""

from __future__ import annotations

import json

from jobs import Job
from jobs.connection import connect
from jobs.rq_adapter.schedule import redis_time
from resilience import Fixed


def note_start(label: str) -> float:
    """Append ``[label, Redis's time]`` to the list ``starts``; returns that time."""
    connection = connect()
    started = redis_time(connection)
    connection.rpush("starts", json.dumps([label, started]))
    return started


def starts() -> list[tuple[str, float]]:
    """Every start noted, in order."""
    return [tuple(json.loads(raw)) for raw in connect().lrange("starts", 0, -1)]  # type: ignore[misc]


class NotesStart(Job):
    """Notes its start under ``label``."""

    name = "tests.time.NotesStart"

    def perform(self, label: str) -> str:
        note_start(label)
        return label


class RetriesAfterBackoff(Job):
    """Notes each start; the first ``fails`` attempts are refused (transient), retried 0.3 s later."""

    name = "tests.time.RetriesAfterBackoff"
    retry_on = (ConnectionRefusedError,)
    backoff = Fixed(0.3)
    max_attempts = 5

    def perform(self, label: str, fails: int = 1) -> int:
        note_start(label)
        runs = connect().hincrby("runs", label, 1)
        if runs <= fails:
            # The end of the failed attempt, on Redis's clock: the retry is due 0.3 s after it, or later.
            connect().rpush("failed", json.dumps([label, redis_time(connect())]))
            raise ConnectionRefusedError(f"attempt {runs} of {label} is refused")
        return runs


class Export(Job):
    """A unique job: while one export of a customer is queued, scheduled or running, no second one."""

    name = "tests.time.Export"
    unique = True

    def perform(self, customer_id: int) -> int:
        note_start(f"export-{customer_id}")
        return customer_id


class UniqueFails(Job):
    """A unique job that always fails for good (dead-lettered at once)."""

    name = "tests.time.UniqueFails"
    unique = True
    max_attempts = 1

    def perform(self, customer_id: int) -> None:
        raise ValueError(f"export {customer_id} cannot be built")
