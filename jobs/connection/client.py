"""Finding Redis: a client set by ``use``, else ``REDIS_URL``, else the project's running embedded server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from redis.connection import SSLConnection

from .. import settings
from ..errors import ConfigurationError
from . import sentinel, urls
from .bounded import bounded
from .embedded import EmbeddedRedis
from .home import Home, find
from .urls import redact_url

# How long connect() waits for Redis to answer its PING, in all (the client's own retries included).
CONNECT_DEADLINE_S = 5.0
_OPTIONS: dict[str, Any] = {"socket_connect_timeout": 5, "health_check_interval": 30}


def redis_url(near: str | None = None) -> str:
    """The URL to use: ``REDIS_URL``, or the embedded server running in the project's home (found from the
    module ``near`` when given, else from the current directory: ``connection.home``). Never starts one.
    """
    url = settings.current().redis_url
    if url:
        return url
    home = find((near,) if near else ())
    embedded = _running_embedded(home)
    if embedded:
        return embedded
    raise ConfigurationError(
        f"REDIS_URL is not set and no embedded Redis is running in {home}; "
        "set REDIS_URL=redis://HOST:6379/0, or run `stalwart redis start` (or a worker) in the project"
    )


# The embedded server last found answering in each home, by the URL its file holds: later calls read
# the file again (a restarted server has a new port) but do not PING a URL already seen answering.
_answered: dict[Path, str] = {}


def _running_embedded(home: Home) -> str | None:
    server = EmbeddedRedis(home)
    seen = _answered.get(home.directory)
    if seen is not None and server.recorded_url() == seen:
        return seen
    url = server.running_url()
    if url is None:
        _answered.pop(home.directory, None)
    else:
        _answered[home.directory] = url
    return url


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


def shared(near: str | None = None) -> redis.Redis:
    """The client ``connect()`` would return, made once per URL for the process, and not checked.

    For callers that learn from their first command whether Redis answers, and
    must not open a connection each time (``Job.enqueue`` without a connection,
    which names the job's module as ``near``). Raises ConfigurationError at once
    when no Redis is named (no ``REDIS_URL``, no embedded server running) or its
    URL is malformed.
    """
    if _clients:
        return _clients[-1]
    url = redis_url(near)
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


def shown_url(client: redis.Redis) -> str:
    """Where ``client`` connects, as a URL with no password in it (for log lines)."""
    pool = client.connection_pool
    options = pool.connection_kwargs
    db = options.get("db", 0)
    service = getattr(pool, "service_name", None)
    if service is not None:  # a Sentinel-managed master
        sentinels = getattr(getattr(pool, "sentinel_manager", None), "sentinels", [])
        hosts = ",".join(
            f"{s.connection_pool.connection_kwargs.get('host')}:{s.connection_pool.connection_kwargs.get('port')}"
            for s in sentinels
        )
        return f"redis+sentinel://{hosts}/{service}/{db}"
    user = options.get("username")
    auth = f"{user or ''}:[redacted]@" if options.get("password") else (f"{user}@" if user else "")
    if options.get("path"):
        return f"unix://{auth}{options['path']}?db={db}"
    scheme = "rediss" if issubclass(pool.connection_class, SSLConnection) else "redis"
    return f"{scheme}://{auth}{options.get('host', 'localhost')}:{options.get('port', 6379)}/{db}"
