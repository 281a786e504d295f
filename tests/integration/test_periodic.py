"""Periodic jobs on a real Redis: each tick enqueued exactly once whoever ticks, missed ticks as catch_up
says, one alert for late ticks, and the runs' ends recorded, by real workers too.

Time is moved with ``tick(now=...)``; each job's ``start`` (when it was first published) is set to a
chosen instant, so which ticks are due is known exactly.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

import pytest
import redis

from jobs import Job, Status, _keys
from jobs.model.periodic import spec_of, tick_job_id
from jobs.rq_adapter.handle import JobHandle
from jobs.runtime import periodic
from jobs.testing import alerts, run_queued
from tests.periodic_jobs import GO, Broken, Declined, EverySecond, Heartbeat, Nightly
from tests.workers import REPO, wait_for

# A Monday at midnight UTC: every_s ticks (minutes, hours) fall on it.
S = 1_795_996_800.0


def start_at(connection: redis.Redis, job: type[Job], start: float) -> None:
    """Publish ``job`` and say it was first seen at ``start``."""
    periodic.publish(connection, [job])
    connection.hset(_keys.periodic_state(job.name), "start", round(start * 1000))


def queued(connection: redis.Redis, queue: str) -> list[str]:
    return [raw.decode() for raw in connection.lrange(f"rq:queue:{queue}", 0, -1)]


def ids(job: type[Job], ticks: list[float]) -> list[str]:
    return [tick_job_id(job.name, t) for t in ticks]


def test_a_published_job_starts_when_first_seen_and_its_first_tick_is_the_next_one(
    connection: redis.Redis,
) -> None:
    periodic.publish(connection, [Heartbeat, Noop])
    start = periodic.states(connection, [Heartbeat.name])[Heartbeat.name].start
    assert start is not None and abs(start - periodic.redis_now(connection)) < 60
    periodic.publish(connection, [Heartbeat])  # another worker, later: the start stays
    assert periodic.states(connection, [Heartbeat.name])[Heartbeat.name].start == start
    assert [s.name for s in periodic.specs(connection)] == [Heartbeat.name]  # not the plain job

    first = Heartbeat.every_s * (start // 60 + 1)
    assert periodic.tick(connection, now=start) == first  # nothing before the deployment's next tick
    assert queued(connection, "periodic") == []
    assert periodic.tick(connection, now=first) == first + 60
    assert queued(connection, "periodic") == ids(Heartbeat, [first])
    assert periodic.tick(connection, now=first + 1) == first + 60  # the same tick is not enqueued again
    assert queued(connection, "periodic") == ids(Heartbeat, [first])
    assert connection.sismember("rq:queues", "rq:queue:periodic")


class Noop(Job):
    name = "tests.periodic.NotPeriodic"

    def perform(self) -> None: ...


def test_concurrent_tickers_enqueue_every_tick_exactly_once(connection: redis.Redis, redis_url: str) -> None:
    # Given a job ticking every second, and four processes ticking it over the same 300 seconds at once
    start_at(connection, EverySecond, S)
    tickers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.periodic_jobs", redis_url, str(S), "300", "--wait"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(4)
    ]
    wait_for(lambda: connection.client_list().__len__() >= 5)  # all four connected, waiting to start
    connection.rpush(GO, *range(4))
    # When they are done
    assert [p.wait(120) for p in tickers] == [0, 0, 0, 0]
    # Then each of the 300 ticks is on the queue once, in order
    assert queued(connection, "periodic-load") == ids(EverySecond, [S + i for i in range(1, 301)])
    assert periodic.states(connection, [EverySecond.name])[EverySecond.name].last_tick == S + 300


def test_two_schedulers_that_read_the_same_state_enqueue_a_tick_once(
    connection: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two schedulers that both read the job's state before either ticked (a leader handing over)
    start_at(connection, HourlyAll, S)
    stale = periodic.states(connection, [HourlyAll.name])
    monkeypatch.setattr(periodic, "states", lambda *_: stale)
    # When both tick the three hours each found due
    periodic.tick(connection, now=S + 3 * 3600)
    periodic.tick(connection, now=S + 3 * 3600)
    # Then each tick is one job, queued once
    assert queued(connection, "periodic") == ids(HourlyAll, [S + h * 3600 for h in (1, 2, 3)])
    assert connection.zcard(_keys.periodic_pending(HourlyAll.name)) == 3


def test_a_ticker_killed_mid_round_neither_loses_nor_duplicates_a_tick(
    connection: redis.Redis, redis_url: str
) -> None:
    # Given a process ticking 3,000 seconds of an every-second job, SIGKILLed partway
    start_at(connection, EverySecond, S)
    ticker = subprocess.Popen(
        [sys.executable, "-m", "tests.periodic_jobs", redis_url, str(S), "3000"],
        cwd=REPO,
        stdout=subprocess.PIPE,
    )
    assert ticker.stdout is not None and ticker.stdout.readline() == b"ticking\n"
    wait_for(lambda: connection.llen("rq:queue:periodic-load") >= 100)
    assert ticker.poll() is None, "the ticker finished before it could be killed"
    ticker.send_signal(signal.SIGKILL)
    ticker.wait(10)
    done = connection.llen("rq:queue:periodic-load")
    assert 100 <= done < 3000
    # When another scheduler ticks the same span (catch_up = "all": 1,000 ticks a round)
    now = S + 3000
    while (wake := periodic.tick(connection, now=now)) == now:
        pass
    assert wake == now + 1
    # Then every tick is on the queue exactly once, in order, and each job hash is whole
    expected = ids(EverySecond, [S + i for i in range(1, 3001)])
    assert queued(connection, "periodic-load") == expected
    assert all(connection.hget(f"rq:job:{job_id}", "status") == b"queued" for job_id in expected[done - 5 :])


class Hourly(Job):
    name = "tests.periodic.Hourly"
    queue = "periodic"
    every_s = 3600

    def perform(self) -> None: ...


class HourlyAll(Hourly):
    name = "tests.periodic.HourlyAll"
    catch_up = "all"


class HourlyNone(Hourly):
    name = "tests.periodic.HourlyNone"
    catch_up = "none"


@pytest.mark.parametrize(
    ("job", "ran"),
    [
        (Hourly, [5]),  # "latest", the default: once, for the latest tick
        (HourlyAll, [1, 2, 3, 4, 5]),
        (HourlyNone, []),  # the latest was two minutes late: missed too
    ],
)
def test_ticks_missed_while_no_scheduler_ran_follow_catch_up(
    connection: redis.Redis, job: type[Job], ran: list[int]
) -> None:
    # Given a job first seen at midnight, and no scheduler until 05:02
    start_at(connection, job, S)
    wake = periodic.tick(connection, now=S + 5 * 3600 + 120)
    assert queued(connection, "periodic") == ids(job, [S + h * 3600 for h in ran])
    # Then the next tick is 06:00, run on time whatever catch_up says, and the missed ones never run
    assert wake == S + 6 * 3600
    periodic.tick(connection, now=S + 6 * 3600 + 0.25)
    assert queued(connection, "periodic") == ids(job, [S + h * 3600 for h in [*ran, 6]])


class Guarded(Job):
    name = "tests.periodic.Guarded"
    queue = "periodic"
    every_s = 60
    grace_s = 30

    def perform(self) -> None: ...


def _late_titles(connection: redis.Redis) -> list[str]:
    return [a.title for a in alerts(connection) if a.tags.get("periodic") == "late"]


def test_a_late_tick_raises_one_alert_until_a_run_ends(connection: redis.Redis) -> None:
    start_at(connection, Guarded, S)
    # The 00:01 tick is enqueued; its deadline is 30 s later, and the scheduler says it will wake for it.
    assert periodic.tick(connection, now=S + 60) == S + 90
    assert periodic.tick(connection, now=S + 89.9) == S + 90
    assert _late_titles(connection) == []
    periodic.tick(connection, now=S + 90)
    periodic.tick(connection, now=S + 91)
    late = "periodic job tests.periodic.Guarded is late: its run for {} has not ended"
    assert _late_titles(connection) == [late.format("2026-11-30T00:01:00.000+00:00")]
    # The 00:02 tick is late too: the alert is still standing, so no second one.
    periodic.tick(connection, now=S + 120)
    periodic.tick(connection, now=S + 151)
    assert len(_late_titles(connection)) == 1
    # When the runs end, the alert is re-armed: the next late tick raises one again.
    run = run_queued(connection, queues=["periodic"])
    assert [j.status for j in run.jobs] == [Status.SUCCEEDED, Status.SUCCEEDED]
    periodic.tick(connection, now=S + 180)
    periodic.tick(connection, now=S + 211)
    assert _late_titles(connection) == [
        late.format("2026-11-30T00:01:00.000+00:00"),
        late.format("2026-11-30T00:03:00.000+00:00"),
    ]
    # A tick that ends in time raises nothing.
    run_queued(connection, queues=["periodic"])
    periodic.tick(connection, now=S + 240)
    run_queued(connection, queues=["periodic"])
    periodic.tick(connection, now=S + 300)
    assert len(_late_titles(connection)) == 2


def test_real_workers_run_each_tick_with_its_time_and_its_end_is_recorded(
    connection: redis.Redis, workers: Any
) -> None:
    # Given four periodic jobs, each with one tick due at 2026-12-01 02:00 UTC (03:00 in Paris)
    now = S + 26 * 3600
    for job in (Heartbeat, Nightly, Declined, Broken):
        start_at(connection, job, now - 3600)
    periodic.tick(connection, now=now)
    # When a worker runs the queue
    worker = workers.start("--import", "tests.periodic_jobs", "--queue", "periodic", "--burst")
    assert worker.wait(60) == 0
    # Then each run saw its tick, and each job's last outcome is recorded
    heartbeat = JobHandle(tick_job_id(Heartbeat.name, now), Heartbeat.name, connection)
    assert heartbeat.result() == "2026-12-01T02:00:00+00:00"
    nightly = JobHandle(tick_job_id(Nightly.name, now), Nightly.name, connection)
    assert nightly.result() == {"region": "eu", "scheduled_for": "2026-12-01T03:00:00+01:00"}
    current = periodic.states(connection, [j.name for j in (Heartbeat, Nightly, Declined, Broken)])
    assert {name: (s.last_outcome, s.ended_tick) for name, s in current.items()} == {
        Heartbeat.name: ("succeeded", now),
        Nightly.name: ("succeeded", now),
        Declined.name: ("negative", now),
        Broken.name: ("dead_lettered", now),
    }
    assert [connection.zcard(_keys.periodic_pending(j.name)) for j in (Heartbeat, Broken)] == [0, 0]
    # A dead-lettered run ends its tick: no late alert follows, only the dead-letter one.
    periodic.tick(connection, now=now + 3 * 3600)
    titles = [a.title for a in alerts(connection)]
    assert titles == ["tests.periodic.Broken dead-lettered (non_retryable): RuntimeError"]
    assert spec_of(Nightly).schedule.describe() == "0 3 * * * Europe/Paris"
