"""`stalwart schedule`, run as a user runs it: the periodic jobs the workers published, in 80 columns and
as JSON, and a one-line error when Redis is away."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import redis

from jobs import _keys
from jobs.model.periodic import spec_of, tick_job_id
from jobs.model.schedule import iso
from jobs.runtime import periodic
from jobs.testing import run_queued
from tests.periodic_jobs import Broken, Heartbeat, Nightly
from tests.workers import stalwart


def test_schedule_lists_each_periodic_job_with_its_next_tick_last_tick_and_last_outcome(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    # Given three periodic jobs: one whose tick ran, one whose run died, one never ticked yet
    now = periodic.redis_now(connection)
    periodic.publish(connection, [Heartbeat, Broken, Nightly])
    for job in (Heartbeat, Broken):
        connection.hset(_keys.periodic_state(job.name), "start", round((now - 120) * 1000))
    tick = Heartbeat.every_s * (now // 60)
    periodic.tick(connection, now=now)
    run_queued(connection, queues=["periodic"])

    before = periodic.redis_now(connection)
    shown = stalwart("schedule", env={**subprocess_env, "COLUMNS": "80"})
    listed = stalwart("schedule", "--json", env=subprocess_env)
    after = periodic.redis_now(connection)

    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].startswith("periodic jobs, now ")
    assert lines[1].split() == ["job", "schedule", "next", "(UTC)", "last", "tick", "last", "outcome"]
    # The job's name gives way from its start (its class name stays); so does a long schedule.
    rows = {line.split()[0].rsplit(".", 1)[-1]: line for line in lines[2:]}
    assert sorted(rows) == ["Broken", "Heartbeat", "Nightly"]
    last = datetime.fromtimestamp(tick, timezone.utc).strftime("%m-%d %H:%M:%S")
    assert rows["Heartbeat"].split()[1:3] == ["every", "60s"]
    assert rows["Heartbeat"].endswith(f"{last}  succeeded")
    assert rows["Broken"].endswith(f"{last}  dead_lettered")
    assert rows["Nightly"].split()[-2:] == ["-", "-"]  # never ticked yet
    assert "0 3 * * *" in rows["Nightly"]

    assert listed.returncode == 0, listed.stderr
    jobs = {job["job"]: job for job in json.loads(listed.stdout)["jobs"]}
    heartbeat = jobs["tests.periodic.Heartbeat"]
    schedule = spec_of(Heartbeat).schedule
    assert heartbeat["next_tick"] in {iso(schedule.next_after(t)) for t in (before, after)}
    assert {
        k: heartbeat[k] for k in ("queue", "schedule", "catch_up", "last_outcome", "last_tick_pending")
    } == {
        "queue": "periodic",
        "schedule": "every 60s",
        "catch_up": "latest",
        "last_outcome": "succeeded",
        "last_tick_pending": False,
    }
    assert heartbeat["last_job_id"] == tick_job_id(Heartbeat.name, tick)
    assert jobs["tests.periodic.Nightly"]["last_tick"] is None


def test_schedule_without_redis_is_one_line_that_says_what_to_do(subprocess_env: dict[str, str]) -> None:
    env = {**subprocess_env, "REDIS_URL": "redis://127.0.0.1:1/0"}
    run = stalwart("schedule", env=env)
    assert run.returncode == 1
    assert run.stdout == ""
    (line,) = run.stderr.splitlines()
    assert line.startswith("stalwart: Redis at redis://127.0.0.1:1/0 does not answer (")
    assert line.endswith("; start it or fix REDIS_URL")


def test_schedule_with_no_periodic_job_published_says_how_they_get_there(
    subprocess_env: dict[str, str],
) -> None:
    run = stalwart("schedule", env=subprocess_env)
    assert (run.returncode, run.stdout) == (
        0,
        "No periodic jobs: a worker publishes the periodic jobs it imports when it starts.\n",
    )
