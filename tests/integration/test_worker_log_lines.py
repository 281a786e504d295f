"""A worker's log, read as JSON lines from real worker processes: one line when it starts, one when it stops,
and nothing repeated while it waits."""

from __future__ import annotations

import io
import json
import logging
import signal
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import redis

from jobs import Status, Worker
from jobs.telemetry import logs
from tests.mail_queue_jobs import RETRY_AFTER_S, SendDigestOnSecondTry
from tests.sample_jobs import Add, KillsItsWorkHorse, SaveReport
from tests.workers import Workers, stalwart, wait_for


def lines_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("mode", [[], ["--in-process"]], ids=["fork", "inprocess"])
def test_a_burst_worker_waiting_for_a_retry_writes_no_line_per_round(
    connection: redis.Redis, subprocess_env: dict[str, str], mode: list[str]
) -> None:
    # Given a job refused on its first attempt, retried RETRY_AFTER_S later
    handle = SendDigestOnSecondTry.enqueue(connection=connection, key="digest:tries")

    # When a burst worker drains it (waiting for the retry, about once a second)
    run = stalwart(
        "worker", "--import", "tests.mail_queue_jobs", "--queue", "mail", "--burst", *mode, env=subprocess_env
    )

    # Then its log is its start line, the job's lines, and its stop line: nothing from RQ's rounds
    assert run.returncode == 0, run.stderr
    assert handle.status() is Status.SUCCEEDED
    lines = lines_of(run.stderr)
    assert [(line["logger"], line["msg"].split(":")[0]) for line in lines] == [
        ("stalwart.worker", "worker started"),
        ("stalwart.worker", "job started"),
        ("stalwart.worker", "job attempt failed, will retry"),
        ("stalwart.worker", "job started"),
        ("stalwart.worker", "job ended"),
        ("stalwart.worker", "worker stopped"),
    ], run.stderr
    assert lines[2]["retry_in_s"] == RETRY_AFTER_S
    assert lines[-1]["msg"] == (
        "worker stopped: burst drained: nothing queued or scheduled on its queues; "
        "ran 2 attempts: 1 succeeded, 1 retried"
    )
    assert lines[-1]["ran"] == {"succeeded": 1, "negative": 0, "retried": 1, "dead_lettered": 0}


def test_the_start_line_names_queues_mode_redis_without_its_password_version_and_pid(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    # Given a Redis URL with a password (the test server accepts any for the default user)
    url = subprocess_env["REDIS_URL"].replace("redis://", "redis://:hunter2@")
    connection.config_set("requirepass", "hunter2")
    try:
        run = stalwart(
            "worker",
            "--import",
            "tests.sample_jobs",
            "--queue",
            "billing",
            "--in-process",
            "--burst",
            env={**subprocess_env, "REDIS_URL": url},
        )
    finally:
        redis.Redis.from_url(url).config_set("requirepass", "")

    assert run.returncode == 0, run.stderr
    assert "hunter2" not in run.stderr
    start = lines_of(run.stderr)[0]
    shown = subprocess_env["REDIS_URL"].replace("redis://", "redis://:[redacted]@")
    assert start["msg"] == (
        "worker started: queues billing (its jobs use default, billing, elsewhere); mode inprocess, burst; "
        f"Redis {shown}; stalwart {metadata.version('stalwart')}; pid {start['pid']}"
    )
    assert {k: start[k] for k in ("queue", "mode", "burst", "redis", "version")} == {
        "queue": ["billing"],
        "mode": "inprocess",
        "burst": True,
        "redis": shown,
        "version": metadata.version("stalwart"),
    }


@pytest.mark.parametrize(
    ("stop", "mode"),
    [(signal.SIGTERM, []), (signal.SIGINT, []), (signal.SIGTERM, ["--in-process"])],
    ids=["sigterm-fork", "sigint-fork", "sigterm-inprocess"],
)
def test_a_stopped_worker_says_which_signal_stopped_it_and_how_the_jobs_it_ran_ended(
    connection: redis.Redis,
    subprocess_env: dict[str, str],
    tmp_path: Path,
    stop: signal.Signals,
    mode: list[str],
) -> None:
    # Given a worker that ran a job that succeeded and one that failed
    workers = Workers(subprocess_env, tmp_path)
    try:
        ok = Add.enqueue(connection=connection, a=1, b=2)
        failed = SaveReport.enqueue(connection=connection, month="2026-01")
        worker = workers.start("--queue", "default", *mode)
        assert (ok.wait(), failed.wait()) == (Status.SUCCEEDED, Status.DEAD_LETTERED)

        # When it is sent the signal
        worker.send_signal(stop)

        # Then it stops (warm) with its last line saying why, and what it ran
        assert worker.wait(30) == 0
    finally:
        workers.kill_all()
    last = lines_of(workers.log_of(0).read_text())[-1]
    assert last["msg"] == f"worker stopped: {stop.name}; ran 2 attempts: 1 succeeded, 1 dead-lettered"
    assert (last["level"], last["stop_reason"], last["waiting"]) == ("info", stop.name, {})


def test_a_work_horse_that_died_counts_as_dead_lettered_in_the_stop_line(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Given a job that SIGKILLs its own work-horse, so it never reports how it ended
    doomed = KillsItsWorkHorse.enqueue(connection=connection, path=str(tmp_path / "started"))

    run = stalwart(
        "worker", "--import", "tests.sample_jobs", "--queue", "default", "--burst", env=subprocess_env
    )

    assert run.returncode == 0, run.stderr
    assert doomed.status() is Status.DEAD_LETTERED
    last = lines_of(run.stderr)[-1]
    assert last["msg"].endswith("; ran 1 attempt: 1 dead-lettered")


@pytest.mark.parametrize("when", ["as_it_starts", "once_it_waits_for_jobs"])
def test_a_worker_stopped_before_its_first_job_says_so(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path, when: str
) -> None:
    # Given a worker that has just logged its start line (RQ's handlers may not be installed yet), or
    # one registered with RQ and waiting for jobs
    workers = Workers(subprocess_env, tmp_path)
    try:
        worker = workers.start("--queue", "default")
        if when == "as_it_starts":
            wait_for(lambda: "worker started" in workers.log_of(0).read_text())
        else:
            wait_for(lambda: connection.keys("rq:worker:*") != [])
        # When it is sent SIGTERM, Then it stops (exit 0) with its stop line
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        workers.kill_all()
    lines = lines_of(workers.log_of(0).read_text())
    assert [line["msg"].split(";")[0] for line in (lines[0], lines[-1])] == [
        "worker started: queues default (its jobs use default, billing, elsewhere)",
        "worker stopped: SIGTERM",
    ]
    assert lines[-1]["msg"].endswith("; ran 0 attempts")


def test_a_worker_stopped_by_an_error_says_which_at_error_level(
    connection: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Redis refusing a command the worker needs (an ACL, say): not an outage, so the worker stops
    def refused(self: Worker) -> None:
        raise redis.ResponseError("NOPERM this user has no permissions to run the 'hset' command")

    monkeypatch.setattr(Worker, "_rq_worker", refused)
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    logs.configure("INFO", stream=out)
    try:
        with pytest.raises(redis.ResponseError):
            Worker(["default"], connection=connection, mode="inprocess").work(burst=True)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])

    last = lines_of(out.getvalue())[-1]
    assert (last["level"], last["msg"]) == (
        "error",
        "worker stopped: an error: ResponseError: NOPERM this user has no permissions to run the 'hset' "
        "command; ran 0 attempts",
    )
