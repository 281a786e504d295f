"""A worker cannot silently do nothing: with no --queue it serves its jobs' queues, and it says what it does not
serve."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import redis

from jobs import Status
from tests.mail_queue_jobs import SendWelcome
from tests.workers import stalwart

DRAINED = "worker stopped: burst drained: nothing queued or scheduled on its queues"


def json_lines(run: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run.stderr.splitlines()]


def test_a_worker_with_no_queue_serves_the_queues_of_the_jobs_it_imported_and_says_which(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    # Given jobs enqueued on "mail", the only queue the imported module's jobs use
    handles = [SendWelcome.enqueue(connection=connection, user_id=n) for n in (1, 2)]

    # When a burst worker starts with no --queue
    run = stalwart("worker", "--import", "tests.mail_queue_jobs", "--burst", env=subprocess_env)

    # Then it serves "mail", says so in its start line, and runs both
    assert run.returncode == 0, run.stderr
    assert [h.status() for h in handles] == [Status.SUCCEEDED, Status.SUCCEEDED]
    assert connection.lrange("welcomed", 0, -1) == [b"1", b"2"]
    lines = json_lines(run)
    assert lines[0]["msg"].startswith(
        "worker started: queues mail (all its jobs' queues); mode fork, burst; "
    )
    assert lines[0]["queue"] == ["mail"]
    assert [line["level"] for line in lines].count("warning") == 0
    assert lines[-1]["msg"] == f"{DRAINED}; ran 2 attempts: 2 succeeded"


def test_a_worker_given_a_queue_none_of_its_jobs_use_warns_at_start_and_names_what_waits_at_its_end(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    # Given two jobs waiting on "mail"
    for n in (1, 2):
        SendWelcome.enqueue(connection=connection, user_id=n)

    # When a burst worker of the same jobs is started on "default"
    run = stalwart(
        "worker", "--import", "tests.mail_queue_jobs", "--queue", "default", "--burst", env=subprocess_env
    )

    # Then it says at start that no job of its uses "default" and which queue they use, and at its end
    # that two jobs wait on "mail"; the jobs are left where they are
    assert run.returncode == 0, run.stderr
    lines = json_lines(run)
    assert lines[0]["msg"].startswith("worker started: queues default (its jobs use mail); ")
    assert [(line["msg"], line["queue"]) for line in lines if line["level"] == "warning"] == [
        (
            "no job this worker can run uses queue default, so it will wait there for nothing; its jobs use "
            "mail (`stalwart worker` with no --queue serves those)",
            ["default"],
        )
    ]
    assert lines[-1]["msg"] == f"{DRAINED}; ran 0 attempts; 2 jobs wait on queues it does not serve: mail (2)"
    assert lines[-1]["waiting"] == {"mail": 2}
    assert connection.llen("rq:queue:mail") == 2


def test_a_worker_with_no_queue_whose_modules_define_no_jobs_refuses_to_start_in_one_line(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    run = stalwart("worker", "--import", "json", "--burst", env=subprocess_env)

    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        "stalwart: json defined no jobs (no Job subclass was imported), so there is no queue to serve; "
        "--import the modules that define your jobs, or name queues with --queue"
    ]
    assert connection.keys("rq:worker*") == []  # no worker ever registered
