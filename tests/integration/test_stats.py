"""Statistics in Redis per minute, and over UDP to a real statsd listener on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
import redis

from jobs import Worker, stats
from tests.mixed_batch import run_a_mixed_batch
from tests.sample_jobs import Add, SaveReport
from tests.workers import stalwart


@pytest.fixture
def statsd_listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(5)
    monkeypatch.setenv("STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("STATSD_PORT", str(listener.getsockname()[1]))
    yield listener
    listener.close()


def received(listener: socket.socket) -> list[str]:
    lines: list[str] = []
    listener.settimeout(0.5)
    try:
        while True:
            lines += listener.recv(65536).decode().splitlines()
    except TimeoutError:
        return lines


def test_each_outcome_is_counted_per_job_with_reasons_classifications_and_durations(
    connection: redis.Redis,
) -> None:
    run_a_mixed_batch(connection)
    stats.incr("tests.signups", connection=connection)  # outside any job

    totals = stats.read(connection, since_s=300)

    assert {k: v for k, v in totals["tests.Add"].items() if k != "duration_ms"} == {"succeeded": 2, "runs": 2}
    assert totals["tests.Add"]["duration_ms"] >= 0
    assert totals["tests.ChargeCard"]["negative.card_declined"] == 1
    assert (totals["tests.ChargeFee"]["retried"], totals["tests.ChargeFee"]["succeeded"]) == (1, 1)
    assert totals["tests.SaveReport"]["dead_lettered.non_retryable"] == 1
    assert totals["app"] == {"tests.widgets.made": 5, "tests.signups": 1}
    ttl = connection.ttl(stats.bucket_key(time.time()))
    assert 0 < ttl <= 24 * 3600  # bounded retention


def test_counts_go_to_statsd_over_udp(connection: redis.Redis, statsd_listener: socket.socket) -> None:
    run_a_mixed_batch(connection)

    lines = received(statsd_listener)

    assert "stalwart.tests.Add.succeeded:1|c" in lines
    assert "stalwart.tests.ChargeCard.negative.card_declined:1|c" in lines
    assert "stalwart.tests.SaveReport.dead_lettered.non_retryable:1|c" in lines
    assert "stalwart.app.tests.widgets.made:5|c" in lines
    assert any(line.startswith("stalwart.tests.Add.duration_ms:") and line.endswith("|ms") for line in lines)


def test_a_statsd_host_that_cannot_be_resolved_is_one_warning_and_never_an_error(
    connection: redis.Redis, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("STATSD_HOST", "statsd.invalid")
    handle = Add.enqueue(connection=connection, a=1, b=1)

    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)
    stats.incr("tests.more", connection=connection)

    assert handle.result() == 2
    warnings = [r.getMessage() for r in caplog.records if r.name == "stalwart.stats"]
    assert len(warnings) == 1 and warnings[0].startswith("statsd host 'statsd.invalid' cannot be used (")


def test_stalwart_stats_prints_counts_and_queue_depths(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    run_a_mixed_batch(connection)
    Add.enqueue(connection=connection, a=0, b=0)  # waiting

    run = stalwart("stats", "--since", "10m", "--json", env=subprocess_env)

    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["since_s"] == 600
    assert report["jobs"]["tests.Add"]["succeeded"] == 2
    assert report["app"] == {"tests.widgets.made": 5}
    assert report["gauges"]["queues"]["default"] == {"queued": 1, "scheduled": 0, "started": 0}
    assert report["gauges"]["dead_letter"]["dead"] == 1
    table = stalwart("stats", env={**subprocess_env, "COLUMNS": "200"})
    assert table.returncode == 0, table.stderr
    assert "tests.ChargeCard" in table.stdout and "negative.card_declined 1" in table.stdout


def test_gauges_of_queues_and_the_dead_letter_queue_go_to_statsd(
    connection: redis.Redis, statsd_listener: socket.socket
) -> None:
    SaveReport.enqueue(connection=connection, month="2026-05")
    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)
    Add.enqueue(connection=connection, a=1, b=1)
    received(statsd_listener)  # what the run itself sent

    stats.report_gauges(connection)

    lines = received(statsd_listener)
    assert "stalwart.queue.default.queued:1|g" in lines
    assert "stalwart.queue.default.scheduled:0|g" in lines
    assert "stalwart.dead_letter.dead:1|g" in lines
