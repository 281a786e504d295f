"""The embedded Redis: a real server that keeps its data across a restart (AOF)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import redis

from jobs import EmbeddedRedis
from tests.sample_jobs import Add


def test_a_restart_loses_no_enqueued_job(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    url = server.start()
    try:
        connection = redis.Redis.from_url(url)
        handle = Add.enqueue(connection=connection, a=1, b=2)
        connection.close()
        assert server.stop() is True

        server.start()
        connection = redis.Redis.from_url(server.url)
        assert connection.lrange("rq:queue:default", 0, -1) == [handle.id.encode()]
        assert connection.hget(f"rq:job:{handle.id}", "description") == b"tests.Add"
    finally:
        server.stop()


def test_a_second_start_adopts_the_running_server(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path)
    url = first.start()
    try:
        assert EmbeddedRedis(tmp_path).start() == url
    finally:
        first.stop()
    assert EmbeddedRedis(tmp_path).running_url() is None


def test_a_killed_server_loses_no_acknowledged_enqueue(tmp_path: Path) -> None:
    # With the AOF on, Redis writes each command to the file before it replies; only the fsync waits
    # (everysec), and that matters for a machine that loses power, not for a process that dies.
    server = EmbeddedRedis(tmp_path)
    try:
        connection = redis.Redis.from_url(server.start())
        handles = [Add.enqueue(connection=connection, a=n, b=0) for n in range(200)]
        connection.close()

        pid = int((tmp_path / "redis.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)  # it is this process's child: reap it

        connection = redis.Redis.from_url(server.start())
        assert connection.lrange("rq:queue:default", 0, -1) == [h.id.encode() for h in handles]
    finally:
        server.stop()


def test_a_stop_while_redis_writes_its_first_append_only_file_waits_for_it(tmp_path: Path) -> None:
    # Given a server writing its first append-only file (as a replica does right after its first sync, or
    # any server whose AOF was just switched on), with enough data that it takes a while
    server = EmbeddedRedis(tmp_path)
    client = redis.Redis.from_url(server.start())
    with client.pipeline(transaction=False) as pipeline:
        for n in range(200_000):
            pipeline.set(f"k{n}", n)
        pipeline.execute()
    client.config_set("appendonly", "no")
    client.config_set("appendonly", "yes")

    # When it is stopped at once (Redis refuses SHUTDOWN meanwhile: "Writing initial AOF, can't exit")
    stopped = server.stop()

    # Then the stop waited for the file, and the server is gone with its data written
    assert stopped is True
    assert server.running_url() is None
    assert redis.Redis.from_url(server.start()).dbsize() == 200_000
    server.stop()
