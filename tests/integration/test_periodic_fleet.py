"""Periodic ticks with a fleet of real workers: each tick runs once, even when the leader is SIGKILLed."""

from __future__ import annotations

import redis

from jobs import Classification, DeadLetterQueue, JobHandle, Status, _keys
from jobs.model.periodic import tick_job_id
from tests.periodic_jobs import RAN, RecordsItsTick
from tests.workers import Workers, wait_for

OPTIONS = ("--import", "tests.periodic_jobs", "--queue", "ticks")
LEADS = "this worker's scheduler leads"


def test_each_tick_runs_once_across_three_workers_when_the_leader_is_killed(
    connection: redis.Redis, workers: Workers
) -> None:
    # Given three workers (a 2 s scheduler lease) ticking a job every second, missed ticks caught up
    workers.env["STALWART_SCHEDULER_LEASE_S"] = "2"
    started = [workers.start(*OPTIONS), workers.start(*OPTIONS, "--in-process"), workers.start(*OPTIONS)]
    wait_for(lambda: connection.llen(RAN) >= 3)

    # When the worker whose scheduler leads is SIGKILLed
    leader = _leader(workers, len(started))
    started[leader].kill()
    started[leader].wait(10)
    killed_at = connection.llen(RAN)

    # Then another takes over, and the ticks go on
    wait_for(lambda: _leader(workers, len(started), besides=leader) is not None)
    wait_for(lambda: connection.llen(RAN) >= killed_at + 4)
    for process in started:
        process.kill()
        process.wait(10)

    # And every tick from the first to the last recorded ran exactly once (one caught on the killed worker
    # mid-run may instead be dead-lettered as abandoned: it is not idempotent), none twice
    ran = [float(t) for t in connection.lrange(RAN, 0, -1)]
    assert len(ran) == len(set(ran)), sorted(ran)
    last = float(connection.hget(_keys.periodic_state(RecordsItsTick.name), "last_tick") or 0) / 1000
    ticks = [min(ran) + n for n in range(round(last - min(ran)) + 1)]
    missing = set(ticks) - set(ran)
    for tick in missing:
        status = JobHandle(tick_job_id(RecordsItsTick.name, tick), RecordsItsTick.name, connection).status()
        if status is Status.DEAD_LETTERED:
            entry = DeadLetterQueue(connection).get(tick_job_id(RecordsItsTick.name, tick))
            assert entry.classification is Classification.ABANDONED
        else:
            # Enqueued before the workers were stopped, not yet run: still waiting, never lost
            assert status is Status.QUEUED, (tick, status)
    assert len(missing) <= 3


def _leader(workers: Workers, count: int, besides: int | None = None) -> int | None:
    """The worker whose log says its scheduler leads (the last to say so, other than ``besides``)."""
    leading = [n for n in range(count) if n != besides and LEADS in workers.log_of(n).read_text()]
    return leading[-1] if leading else None
