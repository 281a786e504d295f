"""The repository's test fixtures (a real Redis server, fakeredis), for the examples' own tests."""

from tests.conftest import connection, fake, fresh_settings, redis_server, redis_url, subprocess_env

__all__ = ["connection", "fake", "fresh_settings", "redis_server", "redis_url", "subprocess_env"]
