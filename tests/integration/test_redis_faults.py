"""Redis going away: enqueue retries briefly then says so; a running worker waits and carries on."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import redis

from jobs import DeadLetterQueue, EmbeddedRedis, EnqueueError, Status
from jobs.rq_adapter import delivery
from tests.sample_jobs import Add, ChargeCard, StopsRedis
from tests.workers import Workers, wait_for


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
        f"Redis did not answer within 5 s ({len(waits) + 1} attempts; "
    )
    assert message.endswith("); nothing was enqueued: retry later or alert someone")
    assert "tok-SECRET" not in message
    assert len(waits) >= 5 and sum(waits) <= 5  # retried, within the deadline (STALWART_ENQUEUE_DEADLINE_S)


def test_enqueue_to_a_full_redis_fails_at_once_and_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    try:
        connection = redis.Redis.from_url(server.start())
        connection.config_set("maxmemory-policy", "noeviction")
        connection.config_set("maxmemory", 1)  # below what Redis already uses: every write is refused
        waits: list[float] = []
        monkeypatch.setattr(delivery, "sleep", waits.append)

        with pytest.raises(EnqueueError) as caught:
            ChargeCard.enqueue(connection=connection, customer_id=42, card="4111", api_token="tok-SECRET")

        message = str(caught.value)
        assert message.startswith(
            "could not enqueue tests.ChargeCard with {'customer_id': 42, 'card': '4111', 'api_token': "
            "'[redacted]'}: Redis is out of memory (maxmemory reached; "
        )
        assert message.endswith("raise maxmemory, then enqueue again")
        assert waits == []  # not retried
        connection.config_set("maxmemory", 0)
        assert connection.llen("rq:queue:billing") == 0 and connection.keys("rq:job:*") == []
    finally:
        server.stop()


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
    pool = Workers(env, tmp_path)
    worker, log_path = pool.start(), pool.log_of(0)
    try:
        before = Add.enqueue(connection=redis.Redis.from_url(url), a=1, b=1)
        assert before.wait(timeout_s=30) is Status.SUCCEEDED

        # When Redis goes away for a few seconds and comes back on the same port
        port = server.port
        server.stop()
        outage_started = time.monotonic()
        wait_for(
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
    assert worker.returncode == 0, log_path.read_text()[-3000:]


def test_a_worker_survives_redis_dying_while_it_records_how_a_job_ended(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    # Given a worker on a Redis of its own (heartbeats every second, so abandoned jobs are settled fast)
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    port = server.port
    env = {
        **subprocess_env,
        "REDIS_URL": url,
        "STALWART_HEARTBEAT_INTERVAL_S": "1",
        "STALWART_HEARTBEAT_TTL_S": "3",
    }
    pool = Workers(env, tmp_path)
    worker, log_path = pool.start(), pool.log_of(0)
    try:
        # When a job stops Redis, so the worker loses it while recording the job's end
        stopper = StopsRedis.enqueue(connection=redis.Redis.from_url(url))
        unrecorded = f'"could not record how job {stopper.id} ended'
        wait_for(lambda: worker.poll() is not None or unrecorded in log_path.read_text(), timeout_s=30)
        server.start(port=port)

        # Then the same worker process carries on once Redis is back: the job's end, kept meanwhile, is
        # recorded (it ran, and succeeded: it is not settled as abandoned), and the worker runs new jobs
        assert worker.poll() is None, log_path.read_text()[-3000:]
        assert stopper.wait(timeout_s=30) is Status.SUCCEEDED
        assert stopper.result() == "stopped"
        assert not DeadLetterQueue(redis.Redis.from_url(url)).exists(stopper.id)
        after = Add.enqueue(connection=redis.Redis.from_url(url), a=2, b=2)
        assert after.wait(timeout_s=30) is Status.SUCCEEDED
    finally:
        worker.terminate()
        worker.wait(30)
        server.stop()
    assert worker.returncode == 0, log_path.read_text()[-3000:]
