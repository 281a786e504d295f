"""The worker's restart of RQ's loop: the wait before a restart grows while loops keep failing, and starts
again from 1 s after a loop that worked (issue 11: it never came back down outside burst mode)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from jobs import Worker
from jobs.runtime import worker as worker_module


@dataclass
class LoopThatEnded:
    """Stands for RQ's worker: its loop has ended, and nobody asked it to stop."""

    _stop_requested: bool = False
    _shutdown_requested_date: None = None
    outage: None = None


def waits_between_loops(monkeypatch: pytest.MonkeyPatch, fake: redis.Redis, loops: list[bool]) -> list[float]:
    """Run the worker's outer loop over RQ loops that end after running jobs (True) or none (False), each
    at once; returns the waits before each restart."""
    ended: Iterator[bool] = iter(loops)
    waits: list[float] = []

    def stop_after_the_last(_worker: object, seconds: float) -> bool:
        waits.append(seconds)
        return len(waits) == len(loops)

    worker = Worker(["default"], connection=fake, mode="inprocess")
    monkeypatch.setattr(worker, "_rq_worker", LoopThatEnded)
    monkeypatch.setattr(worker, "_run", lambda _rq, _burst: next(ended))
    monkeypatch.setattr(worker_module.Worker, "_stop_requested_during", staticmethod(stop_after_the_last))
    worker._loop(burst=False)
    return waits


def test_the_wait_before_restarting_a_failing_loop_doubles(
    monkeypatch: pytest.MonkeyPatch, fake: redis.Redis
) -> None:
    assert waits_between_loops(monkeypatch, fake, [False, False, False, False]) == [1.0, 2.0, 4.0, 8.0]


def test_a_loop_that_ran_jobs_before_it_ended_is_restarted_after_1_s_again(
    monkeypatch: pytest.MonkeyPatch, fake: redis.Redis
) -> None:
    assert waits_between_loops(monkeypatch, fake, [False, False, True, False]) == [1.0, 2.0, 1.0, 2.0]
