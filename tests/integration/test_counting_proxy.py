"""The peers benchmark's counting proxy: a pipeline is one round trip, each single command another."""

from __future__ import annotations

import redis

from jobs.connection.embedded import EmbeddedRedis
from tests.benchmarks.peers.proxy import CountingProxy


def test_a_pipeline_sent_at_once_is_one_round_trip(redis_server: EmbeddedRedis) -> None:
    assert redis_server.port is not None
    with CountingProxy("127.0.0.1", redis_server.port) as proxy:
        client = redis.Redis.from_url(proxy.url)
        client.ping()  # connected, the client's own handshake done: not counted below
        before = proxy.round_trips
        with client.pipeline(transaction=False) as pipeline:
            pipeline.set("proxy:a", 1)
            pipeline.incr("proxy:a")
            pipeline.get("proxy:a")
            assert pipeline.execute() == [True, 2, b"2"]
        client.set("proxy:b", 1)
        assert client.get("proxy:b") == b"1"
        assert proxy.round_trips - before == 3
        assert proxy.connections == 1
        client.delete("proxy:a", "proxy:b")
        client.close()


def test_each_connection_counts_its_own_first_send(redis_server: EmbeddedRedis) -> None:
    assert redis_server.port is not None
    with CountingProxy("127.0.0.1", redis_server.port) as proxy:
        first, second = redis.Redis.from_url(proxy.url), redis.Redis.from_url(proxy.url)
        first.ping()
        second.ping()
        before = proxy.round_trips
        first.echo("one")
        second.echo("two")
        assert proxy.round_trips - before == 2
        assert proxy.connections == 2
        first.close()
        second.close()
