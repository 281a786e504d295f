"""Finding Redis: a client set by ``use``, else ``REDIS_URL``, else the embedded server for this folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from .. import settings
from ..errors import ConfigurationError
from . import sentinel, urls
from .bounded import bounded
from .embedded import EmbeddedRedis
from .urls import redact_url

# How long connect() waits for Redis to answer its PING, in all (the client's own retries included).
CONNECT_DEADLINE_S = 5.0
_OPTIONS: dict[str, Any] = {"socket_connect_timeout": 5, "health_check_interval": 30}


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
    does not answer within ``CONNECT_DEADLINE_S``."""
    if url is None and _clients:
        return _clients[-1]
    url = url or redis_url()
    client = _client_for(url)
    try:
        if sentinel.is_sentinel_url(url):
            sentinel.check_master(client)
        else:
            _ping(client, CONNECT_DEADLINE_S)
    except TypeError as err:
        _raise_unknown_option(url, err)
        raise
    except redis.RedisError as err:
        raise ConfigurationError(
            f"Redis at {redact_url(url)} does not answer ({err}); start it or fix REDIS_URL"
        ) from err
    return client


_shared: dict[str, redis.Redis] = {}


def shared() -> redis.Redis:
    """The client ``connect()`` would return, made once per URL for the process, and not checked.

    For callers that learn from their first command whether Redis answers, and
    must not open a connection each time (``Job.enqueue`` without a connection).
    Raises ConfigurationError when no Redis is named or its URL is malformed.
    """
    if _clients:
        return _clients[-1]
    url = redis_url()
    client = _shared.get(url)
    if client is None:
        client = _shared.setdefault(url, _client_for(url))
    return client


def _client_for(url: str) -> redis.Redis:
    """A client for ``url``, not yet connected; ConfigurationError if the URL cannot be used as it is."""
    # Before any parser: theirs quote the pieces of a password that holds '/', '#' or '?'.
    urls.check(url)
    try:
        if sentinel.is_sentinel_url(url):
            return sentinel.client(url, **_OPTIONS)
        return redis.Redis.from_url(url, **_OPTIONS)
    except ValueError as err:
        raise _malformed(url, err) from err
    except TypeError as err:
        _raise_unknown_option(url, err)
        raise


def _raise_unknown_option(url: str, err: TypeError) -> None:
    """redis-py passes URL options on as keyword arguments, so ``?socket_timout=5`` is a TypeError when
    the client or its first connection is made: raise a ConfigurationError naming the option, if it is
    that (otherwise return, and the caller re-raises)."""
    unknown = urls.unknown_option(url, err)
    if unknown is not None:
        raise unknown from err


def _ping(client: redis.Redis, deadline_s: float) -> None:
    # Through a twin that never retries: the client's own retries make a silent server a minute's wait.
    probe = bounded(client, deadline_s)
    try:
        probe.ping()
    finally:
        probe.connection_pool.disconnect()


def _malformed(url: str, err: ValueError) -> ConfigurationError:
    return ConfigurationError(
        f"the Redis URL {redact_url(url)!r} is malformed ({err}); use redis://HOST:PORT/DB"
    )
