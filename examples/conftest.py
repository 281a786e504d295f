"""The repository's test fixtures (a real Redis server, fakeredis), for the examples' own tests."""

from tests.conftest import connection, fake, redis_server, redis_url, subprocess_env

__all__ = ["connection", "fake", "redis_server", "redis_url", "subprocess_env"]
