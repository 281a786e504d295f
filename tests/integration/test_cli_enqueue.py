"""``stalwart enqueue``: a job by name, now, in a while or at a time, with the checks of ``Job.enqueue``."""

from __future__ import annotations

import json

import redis

from jobs import JobHandle, Status, _keys
from jobs.rq_adapter.schedule import redis_time
from tests.workers import stalwart

ADD = ("enqueue", "tests.Add", "--import", "tests.sample_jobs")


def test_a_job_enqueued_now_is_queued_with_its_arguments(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    run = stalwart(*ADD, "--arg", "a=2", "--arg", "b=40", env=subprocess_env)

    assert (run.returncode, run.stderr) == (0, "")
    (job_id,) = [i.decode() for i in connection.lrange("rq:queue:default", 0, -1)]
    assert run.stdout == f"enqueued tests.Add as job {job_id} on queue default\n"
    assert JobHandle(job_id, "tests.Add", connection).status() is Status.QUEUED


def test_a_job_enqueued_in_ten_minutes_is_scheduled_and_says_when(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    before = redis_time(connection)
    run = stalwart(*ADD, "--arg", "a=1", "--arg", "b=1", "--in", "10m", "--json", env=subprocess_env)

    assert run.returncode == 0, run.stderr
    shown = json.loads(run.stdout)
    assert (shown["job"], shown["queue"], shown["status"], shown["deduplicated"]) == (
        "tests.Add",
        "default",
        "scheduled",
        False,
    )
    due = connection.zscore(_keys.schedule(), shown["id"])
    assert due is not None and before + 600 <= due <= redis_time(connection) + 600
    assert shown["due_at"].startswith("20") and connection.llen("rq:queue:default") == 0


def test_a_time_without_a_zone_is_refused_in_one_line_and_nothing_is_enqueued(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    run = stalwart(*ADD, "--arg", "a=1", "--arg", "b=1", "--at", "2030-01-01T03:00", env=subprocess_env)

    assert run.returncode == 2
    assert run.stderr == (
        "stalwart enqueue: error: argument --at: '2030-01-01T03:00' has no time zone; add one, e.g. "
        "2030-01-01T03:00:00+00:00 (UTC) or +01:00; see `stalwart enqueue --help`\n"
    )
    assert connection.keys("*") == []


def test_a_bad_argument_or_an_unknown_job_is_one_line_and_nothing_is_enqueued(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    bad = stalwart(*ADD, "--arg", "a=one", "--arg", "b=1", "--at", "2030-01-01T03:00Z", env=subprocess_env)
    unknown = stalwart("enqueue", "tests.Nope", "--import", "tests.sample_jobs", env=subprocess_env)

    assert (bad.returncode, bad.stdout) == (1, "")
    assert bad.stderr.startswith("stalwart: cannot enqueue tests.Add: argument 'a' of tests.Add ")
    assert len(bad.stderr.splitlines()) == 1
    assert (unknown.returncode, unknown.stderr) == (
        1,
        "stalwart: no job is registered under 'tests.Nope'; import the module that defines it "
        "(stalwart worker --import MODULE)\n",
    )
    assert connection.keys("*") == []


def test_a_unique_job_already_waiting_is_not_enqueued_again(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    export = ("enqueue", "tests.time.Export", "--import", "tests.time_jobs", "--arg", "customer_id=3")
    first = stalwart(*export, "--in", "1h", env=subprocess_env)
    second = stalwart(*export, env=subprocess_env)

    job_id = first.stdout.split(" as job ")[1].split()[0]
    assert second.stdout == (
        f"tests.time.Export is unique and already scheduled as job {job_id}; nothing was enqueued\n"
    )
    assert connection.zcard(_keys.schedule()) == 1 and connection.llen("rq:queue:default") == 0
