"""Fleet-wide limits with real worker processes on a real Redis: several workers, one limit.

The jobs (tests/limits_jobs.py) record their runs with Redis's clock; the limits are checked from those
records, not from the limiter's own state.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
import redis
from rq import Worker as RQWorker

from jobs import Status
from tests.limits_jobs import RUNS, HoldsTheGatewaySlot, NeedsTheGatewaySlot, ThreePerSecond, TwoAtOnce
from tests.workers import Workers, wait_for

JOBS = 10
# How much later than its admission a job may record its own start (the steps between the two: a few
# milliseconds; generous for two shared cores).
START_SLACK_S = 0.05


def runs(connection: redis.Redis) -> list[list[float]]:
    return [json.loads(raw) for raw in connection.lrange(RUNS, 0, -1)]


def snoozes_logged(workers: Workers) -> int:
    return sum(workers.log_of(n).read_text().count("job snoozed") for n in range(len(workers.started)))


def most_in_any_window(starts: list[float], per_s: float) -> int:
    """The most starts in any window [t, t + per_s) (a busiest window begins at some start)."""
    return max(sum(1 for s in starts if t <= s < t + per_s) for t in starts)


def start_fleet(connection: redis.Redis, workers: Workers) -> None:
    workers.start("--import", "tests.limits_jobs", "--queue", "limits")
    workers.start("--import", "tests.limits_jobs", "--queue", "limits", "--in-process")
    workers.start("--import", "tests.limits_jobs", "--queue", "limits")
    wait_for(lambda: RQWorker.count(connection=connection) == 3)


def test_a_concurrency_limit_of_two_is_never_exceeded_by_three_workers(
    connection: redis.Redis, workers: Workers
) -> None:
    # Given three workers (two forking, one in-process) on one queue
    start_fleet(connection, workers)

    # When ten jobs limited to two at once are enqueued
    handles = [TwoAtOnce.enqueue(connection=connection, number=n) for n in range(JOBS)]
    wait_for(lambda: connection.llen(RUNS) == JOBS, timeout_s=60)

    # Then each ran exactly once, and at no moment were more than two running
    recorded = runs(connection)
    assert sorted(number for number, _, _ in recorded) == list(range(JOBS))
    overlap = max(sum(1 for _, s, e in recorded if s <= start < e) for _, start, _ in recorded)
    assert overlap <= 2, f"{overlap} ran at once: {sorted((s, e) for _, s, e in recorded)}"
    wait_for(lambda: all(h.status() is Status.SUCCEEDED for h in handles))
    # and the limit did turn jobs away (the third worker found both slots taken), without using attempts
    assert snoozes_logged(workers) > 0
    attempts = [connection.hget(f"rq:job:{h.id}", "stalwart_attempt") for h in handles]
    assert attempts == [b"1"] * JOBS
    # and every slot was given back as its job ended
    assert connection.zcard("stalwart:limit:tests.limits.TwoAtOnce:running") == 0


def test_a_rate_limit_holds_in_every_window(connection: redis.Redis, workers: Workers) -> None:
    # Given three workers on one queue
    start_fleet(connection, workers)

    # When ten jobs limited to three starts per second are enqueued
    handles = [ThreePerSecond.enqueue(connection=connection, number=n) for n in range(JOBS)]
    wait_for(lambda: connection.llen(RUNS) == JOBS, timeout_s=60)

    # Then each ran once, and no window of one second holds more than three admissions
    recorded = runs(connection)
    assert Counter(number for number, _, _ in recorded) == Counter(range(JOBS))
    admitted = sorted(admission for _, _, admission in recorded)
    assert most_in_any_window(admitted, 1.0) == 3, admitted
    # nor more than three of the starts the jobs recorded themselves (a start lags its admission a little)
    started = sorted(start for _, start, _ in recorded)
    assert all(0 <= start - admission < START_SLACK_S for _, start, admission in recorded), recorded
    assert most_in_any_window(started, 1.0 - START_SLACK_S) <= 3, started
    wait_for(lambda: all(h.status() is Status.SUCCEEDED for h in handles))
    assert snoozes_logged(workers) > 0
    attempts = [connection.hget(f"rq:job:{h.id}", "stalwart_attempt") for h in handles]
    assert attempts == [b"1"] * JOBS


@pytest.mark.parametrize("mode", [(), ("--in-process",)], ids=["forking", "in-process"])
def test_a_worker_killed_while_holding_a_slot_gives_it_back_within_the_heartbeat_ttl(
    connection: redis.Redis, workers: Workers, mode: tuple[str, ...]
) -> None:
    holders = "stalwart:limit:tests.gateway:running"
    # Given a worker running the one job allowed to hold the gateway's only slot
    doomed = workers.start("--import", "tests.limits_jobs", "--queue", "limits-hold", *mode)
    held = HoldsTheGatewaySlot.enqueue(connection=connection, release="tests:limits:release")
    wait_for(lambda: connection.llen(RUNS) == 1)
    ((member, first_expiry),) = connection.zrange(holders, 0, -1, withscores=True)
    assert member.decode().startswith(f"{held.id}:")
    # whose heartbeats keep renewing the slot
    wait_for(lambda: (connection.zscore(holders, member) or 0) > first_expiry)

    # and another worker with a job that needs the same slot, turned away while it is held
    workers.start("--import", "tests.limits_jobs", "--queue", "limits-next")
    waiting = NeedsTheGatewaySlot.enqueue(connection=connection)
    wait_for(lambda: snoozes_logged(workers) > 0)

    # When the holder's worker is SIGKILLed
    doomed.kill()
    doomed.wait(10)
    lapses = connection.zscore(holders, member)
    assert lapses is not None  # nobody gave it back: it lapses with the dead worker's heartbeats

    # Then the waiting job gets the slot once it lapsed (a heartbeat TTL at most after the last renewal)
    assert waiting.wait(timeout_s=20) is Status.SUCCEEDED
    ((_, next_started),) = [r for r in runs(connection) if r[0] == "next"]
    assert next_started >= lapses
    assert connection.zrange(holders, 0, -1) == []  # its own slot given back as it ended
