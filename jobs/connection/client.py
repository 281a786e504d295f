"""Finding Redis: a client set by ``use``, else ``REDIS_URL``, else the embedded server for this folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from .. import settings
from ..errors import ConfigurationError
from . import sentinel, urls
from .embedded import EmbeddedRedis
from .urls import redact_url


def redis_url() -> str:
    """The URL to use: ``REDIS_URL``, or the embedded server running under ``STALWART_HOME``."""
    url = settings.current().redis_url
    if url:
        return url
    embedded = EmbeddedRedis().running_url()
    if embedded:
        return embedded
    raise ConfigurationError(
        "REDIS_URL is not set and no embedded Redis is running here; "
        "set REDIS_URL=redis://HOST:6379/0 or run `stalwart redis start`"
    )


_clients: list[redis.Redis] = []


@contextmanager
def use(client: redis.Redis) -> Iterator[redis.Redis]:
    """Within the block, ``connect()`` without a URL returns ``client`` (tests use it for fakeredis).

    Job code that calls ``connect()`` itself, ``Job.enqueue`` and the worker all
    pick it up; blocks nest, the innermost wins.
    """
    _clients.append(client)
    try:
        yield client
    finally:
        _clients.remove(client)


def connect(url: str | None = None) -> redis.Redis:
    """A client for ``url`` (or the one ``use`` set, or ``redis_url()``); raises ConfigurationError if it
    does not answer."""
    if url is None and _clients:
        return _clients[-1]
    url = url or redis_url()
    # Before any parser: theirs quote the pieces of a password that holds '/', '#' or '?'.
    urls.check(url)
    try:
        if sentinel.is_sentinel_url(url):
            client = sentinel.connect(url, socket_connect_timeout=5, health_check_interval=30)
        else:
            client = redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
            client.ping()
    except ValueError as err:
        raise ConfigurationError(
            f"the Redis URL {redact_url(url)!r} is malformed ({err}); use redis://HOST:PORT/DB"
        ) from err
    except TypeError as err:
        # redis-py passes unknown URL options on as keyword arguments: ?socket_timout=5 fails here.
        unknown = urls.unknown_option(url, err)
        if unknown is None:
            raise
        raise unknown from err
    except redis.RedisError as err:
        raise ConfigurationError(
            f"Redis at {redact_url(url)} does not answer ({err}); start it or fix REDIS_URL"
        ) from err
    return client
