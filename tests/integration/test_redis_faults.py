"""Redis going away: enqueue retries briefly then says so; a running worker waits and carries on."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import redis

from jobs import EmbeddedRedis, EnqueueError, Status, delivery
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
