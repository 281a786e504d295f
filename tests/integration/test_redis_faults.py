"""Redis going away: enqueue retries briefly then says so; a running worker waits and carries on."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from jobs import EmbeddedRedis, EnqueueError, Status, delivery
from tests.conftest import REPO
from tests.sample_jobs import Add, ChargeCard


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_enqueue_while_redis_is_down_raises_enqueue_error_naming_the_job_and_redacted_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
    waits: list[float] = []
    monkeypatch.setattr(delivery, "sleep", waits.append)

    with pytest.raises(EnqueueError) as caught:
        ChargeCard.enqueue(customer_id=42, card="4111", api_token="tok-SECRET")

    message = str(caught.value)
    assert message.startswith(
        "could not enqueue tests.ChargeCard with {'customer_id': 42, 'card': '4111', 'api_token': '[redacted]'}: "
        "Redis did not answer after 8 attempts ("
    )
    assert message.endswith("); nothing was enqueued: retry later or alert someone")
    assert "tok-SECRET" not in message
    assert len(waits) == 7 and sum(waits) <= 5.5  # bounded: about five seconds in all


def test_enqueue_succeeds_once_redis_comes_back_during_its_retries(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port = free_port()
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
    server = EmbeddedRedis(tmp_path)

    def start_redis_on_second_wait(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            server.start(port=port)

    waits: list[float] = []
    monkeypatch.setattr(delivery, "sleep", start_redis_on_second_wait)
    try:
        handle = Add.enqueue(a=1, b=2)
        connection = redis.Redis(port=port)
        assert handle.status() is Status.QUEUED
        assert connection.lrange("rq:queue:default", 0, -1) == [handle.id.encode()]  # exactly once
        assert len(waits) == 2
    finally:
        server.stop()


def test_a_running_worker_survives_redis_going_away_and_coming_back(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    # Given a worker (its own process) on a Redis of its own, with AOF on
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    env = {**subprocess_env, "REDIS_URL": url}
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "jobs.cli", "worker", "--import", "tests.sample_jobs"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        before = Add.enqueue(connection=redis.Redis.from_url(url), a=1, b=1)
        assert before.wait(timeout_s=30) is Status.SUCCEEDED

        # When Redis goes away for a few seconds and comes back on the same port
        port = server.port
        server.stop()
        outage_started = time.monotonic()
        wait_until(
            lambda: (
                "could not connect to Redis" in log_path.read_text() or "lost Redis" in log_path.read_text()
            ),
            timeout_s=30,
        )
        time.sleep(max(0.0, 3 - (time.monotonic() - outage_started)))  # keep it down for 3 s in all
        lines_during_outage = len(log_path.read_text().splitlines())
        server.start(port=port)

        # Then the worker is still there and runs new jobs
        after = Add.enqueue(connection=redis.Redis.from_url(url), a=2, b=2)
        assert after.wait(timeout_s=30) is Status.SUCCEEDED
        assert worker.poll() is None
        assert before.result() == 2  # the result from before the outage survived it (AOF)
        assert lines_during_outage < 60  # it backed off: no busy loop of errors
    finally:
        worker.terminate()
        worker.wait(30)
        server.stop()
    assert worker.returncode == 0


def wait_until(predicate: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not true within {timeout_s} s"
        time.sleep(0.05)
