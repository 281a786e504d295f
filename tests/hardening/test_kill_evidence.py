"""Races and states (issue 11): a kill is counted on evidence of a death, and every abandonment is stalwart's.

- A worker that loses Redis keeps watching its work-horse, and its job's heartbeats resume when Redis is
  back: the job is neither settled nor counted as a kill.
- A job is counted as having killed its worker only when the worker is gone (its liveness key,
  ``stalwart:alive:<RQ worker name>``, renewed by its Reaper, has lapsed) or its work-horse died; heartbeats
  that lapsed while the worker lived settle the attempt without a kill.
- RQ's own started-registry cleanup (run by its registries' ``count`` and by its worker maintenance) fails
  a lapsed job into RQ's failed registry, idempotent or not; stalwart never runs it, so the reaper settles
  such jobs: an idempotent one is retried.

Keys and fields named literally: ``rq:job:<id>`` and its fields ``status``, ``worker_name``,
``stalwart_kills``, ``stalwart_attempt``, ``stalwart_history``; ``rq:wip:<queue>`` (RQ's started registry),
``rq:failed:<queue>`` (RQ's failed registry).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import cast

import pytest
import redis

from jobs import Classification, DeadLetterQueue, Status
from tests.hardening.outage_run import outage_run
from tests.hardening.races_jobs import RACES_QUEUE, FinishesDuringRedisOutages
from tests.hardening.test_races import IMPORT, gone, heartbeats, lines, log_records
from tests.workers import FAST_HEARTBEATS, Workers, stalwart, wait_for


@pytest.fixture
def worker_env(fast_heartbeats: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Fast heartbeats, and a kill limit of 2 (the default is 3)."""
    monkeypatch.setenv("STALWART_KILL_LIMIT", "2")
    fast_heartbeats["STALWART_KILL_LIMIT"] = "2"
    return fast_heartbeats


def history(connection: redis.Redis, job_id: str) -> list[dict[str, object]]:
    return cast(
        "list[dict[str, object]]", json.loads(connection.hget(f"rq:job:{job_id}", "stalwart_history") or "[]")
    )


def in_process_worker(workers: Workers) -> subprocess.Popen[bytes]:
    return workers.start(*IMPORT, "--queue", RACES_QUEUE, "--in-process")


def test_a_job_whose_in_process_workers_are_killed_mid_run_is_quarantined_at_the_kill_limit(
    connection: redis.Redis, workers: Workers, tmp_path: Path
) -> None:
    # Slow: about 12 s (two heartbeat TTLs, and each new worker waits one TTL before settling anything).
    # Given an idempotent job (so an abandoned attempt is retried) and a kill limit of 2
    starts, ends, release = tmp_path / "starts", tmp_path / "ends", tmp_path / "release"
    handle = FinishesDuringRedisOutages.enqueue(
        connection=connection, starts=str(starts), ends=str(ends), release=str(release)
    )

    # When each in-process worker that runs it is SIGKILLed mid-run, and another worker is started
    for run in (1, 2):
        doomed = in_process_worker(workers)
        wait_for(lambda: lines(starts) == run, timeout_s=30)  # noqa: B023 - awaited within the iteration
        doomed.kill()
        doomed.wait(10)
    in_process_worker(workers)

    # Then each death is counted (the dead worker's liveness key lapsed), and at the limit the job is
    # quarantined as poison instead of being retried again
    assert handle.wait(timeout_s=30) is Status.DEAD_LETTERED
    entry = DeadLetterQueue(connection).get(handle.id)
    assert entry.classification is Classification.POISON
    assert [a["outcome"] for a in entry.history] == ["abandoned", "poison"]
    assert connection.hget(f"rq:job:{handle.id}", "stalwart_kills") == b"2"
    assert lines(starts) == 2


def test_heartbeats_that_lapsed_while_the_worker_lived_settle_the_attempt_without_counting_a_kill(
    connection: redis.Redis, workers: Workers, tmp_path: Path
) -> None:
    # Slow: about 8 s.
    # Given an in-process worker running an idempotent job, then stopped (SIGSTOP) past the heartbeat TTL,
    # while its liveness key stays (as it does for a worker that lives but cannot heartbeat the job: a
    # process cut off from Redis alone, or one whose heartbeat of that job fails)
    starts, ends, release = tmp_path / "starts", tmp_path / "ends", tmp_path / "release"
    stalled = in_process_worker(workers)
    handle = FinishesDuringRedisOutages.enqueue(
        connection=connection, starts=str(starts), ends=str(ends), release=str(release)
    )
    wait_for(lambda: lines(starts) == 1)
    holder = connection.hget(f"rq:job:{handle.id}", "worker_name")
    assert holder is not None
    stalled.send_signal(signal.SIGSTOP)
    connection.set(f"stalwart:alive:{holder.decode()}", "test", ex=60)

    # When another worker settles the job
    in_process_worker(workers)
    wait_for(lambda: lines(starts) == 2, timeout_s=30)

    # Then it was retried (it is idempotent), and no kill was counted; the record says why
    assert connection.hget(f"rq:job:{handle.id}", "stalwart_kills") == b"0"
    [first] = history(connection, handle.id)
    assert first["outcome"] == "abandoned"
    assert "its worker is still running but sent no heartbeat for it for over 3 s" in str(
        first["error_message"]
    )
    stalled.kill()
    Path(f"{release}.all").touch()
    assert handle.wait(timeout_s=30) is Status.SUCCEEDED


def test_stats_leave_a_job_whose_heartbeat_lapsed_to_the_reaper(
    connection: redis.Redis, worker_env: dict[str, str], workers: Workers, tmp_path: Path
) -> None:
    # Slow: about 5 s.
    # Given a job whose in-process worker was killed mid-run, its heartbeat lapsed (no worker runs now)
    starts, ends, release = tmp_path / "starts", tmp_path / "ends", tmp_path / "release"
    doomed = in_process_worker(workers)
    handle = FinishesDuringRedisOutages.enqueue(
        connection=connection, starts=str(starts), ends=str(ends), release=str(release)
    )
    wait_for(lambda: lines(starts) == 1)
    doomed.kill()
    doomed.wait(10)
    deadline = max(score for _, score in heartbeats(connection, handle.id))
    wait_for(lambda: time.time() > deadline + 0.5)

    # When someone looks at the statistics (RQ's registry `count` cleans the started registry)
    shown = stalwart("stats", env=worker_env)
    assert shown.returncode == 0, shown.stderr

    # Then the job is still started, waiting for a reaper; RQ did not fail it behind stalwart's back
    assert connection.hget(f"rq:job:{handle.id}", "status") == b"started"
    assert connection.zcard(f"rq:failed:{RACES_QUEUE}") == 0

    # And a worker started now settles it as stalwart does: retried, since it is idempotent (RQ's own
    # maintenance, which the worker runs at once when it starts, would fail it into RQ's failed registry,
    # and the sweep then dead-letter it)
    in_process_worker(workers)
    Path(f"{release}.all").touch()
    assert handle.wait(timeout_s=30) is Status.SUCCEEDED
    assert [r["outcome"] for r in history(connection, handle.id)] == ["abandoned"]
    assert not DeadLetterQueue(connection).exists(handle.id)


def test_a_forking_worker_keeps_watching_its_work_horse_through_a_redis_outage_longer_than_the_ttl(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Slow: about 10 s.
    # Given a forking worker on a Redis of its own (AOF on), heartbeats every second and a 3 s TTL, whose
    # work-horse runs an idempotent job that touches no Redis itself
    with outage_run(tmp_path, subprocess_env, **FAST_HEARTBEATS) as stage:
        connection, starts, release = stage.connection, stage.starts, stage.release
        worker = stage.pool.start(*IMPORT, "--queue", RACES_QUEUE)
        handle = stage.enqueue()
        wait_for(lambda: lines(starts) == 1)
        horse = int(starts.read_text().split()[0])
        deadline = max(score for _, score in heartbeats(connection, handle.id))

        # When Redis goes away while the job runs, for longer than the heartbeat TTL, and comes back
        stage.redis_down()
        wait_for(lambda: time.time() > deadline + 2)
        stage.redis_up()
        back_at = time.time()

        # Then the worker, still watching its work-horse, renews the job's heartbeat: the job is still the
        # same started attempt, neither failed by RQ nor settled by the reaper
        wait_for(lambda: any(score > back_at for _, score in heartbeats(connection, handle.id)), timeout_s=15)
        assert connection.hget(f"rq:job:{handle.id}", "status") == b"started"
        assert connection.hget(f"rq:job:{handle.id}", "stalwart_attempt") == b"1"

        # And once released, that one run ends the job: succeeded, no kill, no retry, and the worker's
        # RQ loop never ended (it never left the horse unwatched)
        Path(f"{release}.all").touch()
        wait_for(lambda: gone(horse))
        assert handle.wait(timeout_s=30) is Status.SUCCEEDED
        assert (lines(starts), connection.hget(f"rq:job:{handle.id}", "stalwart_kills")) == (1, None)
        assert worker.poll() is None
        said = [str(r["msg"]) for r in log_records(stage.pool.log_of(0))]
        assert any(m.startswith(f"could not renew the heartbeat of job {handle.id}") for m in said), said
        assert not [m for m in said if "RQ worker loop ended" in m or m.startswith("lost Redis (")], said
