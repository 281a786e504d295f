"""Redis Sentinel through the URL, which redis-py's ``Redis.from_url`` does not understand.

The form (the one Prefect and docket accept too)::

    redis+sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/SERVICE[/DB][?OPTIONS]
    rediss+sentinel://...     TLS to the master and to the sentinels

- the hosts are the sentinels, port 26379 unless given;
- ``SERVICE`` is the name the sentinels monitor (``sentinel monitor SERVICE ...``); ``DB`` defaults to 0;
- ``USER`` and ``PASSWORD`` are the Redis master's (ACL user, ``requirepass``), not the sentinels';
- ``OPTIONS`` are redis-py's URL options (``socket_timeout=5``, ``ssl_ca_certs=...``) for the master's
  connections, except ``sentinel_username`` and ``sentinel_password``, for sentinels that require AUTH.

The client is ``Sentinel(...).master_for(SERVICE)``: every new connection asks the sentinels where the
master is, so a failover is followed on the next reconnect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode

import redis
from redis.connection import SSLConnection, parse_url
from redis.sentinel import MasterNotFoundError, Sentinel, SentinelConnectionPool, SentinelManagedConnection

from ..errors import ConfigurationError
from . import urls
from .urls import redact_url

SCHEMES = ("redis+sentinel", "rediss+sentinel")
DEFAULT_PORT = 26379
FORM = "redis+sentinel://[:PASSWORD@]HOST:26379[,HOST:26379...]/SERVICE[/DB]"
_SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password")
_HOST = re.compile(r"^(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<name>[^\[\]:/\s]+))(?::(?P<port>[0-9]+))?$")


class SentinelManaged(SentinelManagedConnection):
    """redis-py's sentinel-managed connection, closed (not reused) when reading a reply is interrupted.

    redis-py's ``SentinelManagedConnection.read_response`` defaults ``disconnect_on_error`` to False,
    unlike every other connection (redis-py PR #4292). A worker's SIGTERM makes RQ raise StopRequested
    inside its BLPOP; the connection went back to the pool with the BLPOP pending, and the worker's
    next command waited for that BLPOP's timeout, then read its reply: it never exited.
    """

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        """Read a reply; on any error, close the connection so no unread reply is left on it."""
        kwargs.setdefault("disconnect_on_error", True)
        return super().read_response(*args, **kwargs)


class SentinelManagedSSL(SentinelManaged, SSLConnection):
    """The same, over TLS."""


@dataclass(frozen=True)
class SentinelURL:
    """A parsed ``redis+sentinel://`` URL."""

    sentinels: list[tuple[str, int]]
    service: str
    db: int = 0
    tls: bool = False
    # For the master's connections (password, socket_timeout, ssl_* ...), as redis-py parses them.
    connection_kwargs: dict[str, Any] = field(default_factory=dict)
    # For the sentinels' connections (their own AUTH, and TLS settings on rediss+sentinel).
    sentinel_kwargs: dict[str, Any] = field(default_factory=dict)


def is_sentinel_url(url: str) -> bool:
    """Whether ``url`` names Redis through sentinels (scheme ``redis+sentinel`` or ``rediss+sentinel``)."""
    return url.split("://", 1)[0].lower() in SCHEMES


def parse(url: str) -> SentinelURL:
    """Parse a sentinel URL; raises ConfigurationError saying the expected form if it is malformed."""
    urls.check(url)
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower() not in SCHEMES:
        raise _malformed(url, "its scheme must be redis+sentinel:// or rediss+sentinel://")
    tls = scheme.lower() == "rediss+sentinel"
    rest, _, query = rest.partition("?")
    query = query.split("#", 1)[0]
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    sentinels = [_host(url, part) for part in hosts.split(",")]
    service, db = _service_and_db(url, path)
    options = parse_qsl(query, keep_blank_values=True)
    sentinel_kwargs = _sentinel_options(url, options)
    # redis-py parses the rest (credentials, options) exactly as it would for a redis:// URL.
    plain = urlencode([(n, v) for n, v in options if not n.startswith("sentinel_")])
    try:
        connection_kwargs: dict[str, Any] = parse_url(  # type: ignore[no-untyped-call]
            f"{'rediss' if tls else 'redis'}://{userinfo}{at}sentinel/?{plain}"
        )
    except ValueError as err:
        raise _malformed(url, str(err)) from err
    connection_kwargs.pop("host", None)
    connection_kwargs["connection_class"] = SentinelManagedSSL if tls else SentinelManaged
    if tls:
        sentinel_kwargs.update({k: v for k, v in connection_kwargs.items() if k.startswith("ssl_")}, ssl=True)
    return SentinelURL(sentinels, service, db, tls, connection_kwargs, sentinel_kwargs)


def client(url: str, **defaults: Any) -> redis.Redis:
    """A client for the master the sentinels of ``url`` name; the URL's options override ``defaults``.

    No connection is made until the first command.
    """
    parsed = parse(url)
    connection_kwargs = {**defaults, **parsed.connection_kwargs}
    sentinel_kwargs = {
        **{k: v for k, v in connection_kwargs.items() if k.startswith("socket_")},
        **parsed.sentinel_kwargs,
    }
    manager = Sentinel(parsed.sentinels, sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
    master: redis.Redis = manager.master_for(  # type: ignore[no-untyped-call]
        parsed.service, db=parsed.db, **connection_kwargs
    )
    return master


def connect(url: str, **defaults: Any) -> redis.Redis:
    """``client(url, **defaults)``, checked with ``check_master``."""
    master = client(url, **defaults)
    check_master(master)
    return master


def check_master(master: redis.Redis) -> None:
    """PING the master; raises MasterNotFoundError saying which sentinels did not answer, or that none
    knows the service (redis-py's message holds every sentinel's repr)."""
    try:
        master.ping()
    except MasterNotFoundError as err:
        raise MasterNotFoundError(_no_master(master)) from err


def _no_master(master: redis.Redis) -> str:
    pool = cast(SentinelConnectionPool, master.connection_pool)  # master_for always builds one
    silent = []
    for node in pool.sentinel_manager.sentinels:
        where = "{host}:{port}".format_map(node.connection_pool.connection_kwargs)
        try:
            node.ping()
        except redis.RedisError as err:
            silent.append(f"{where} ({err})")
    if len(silent) == len(pool.sentinel_manager.sentinels):
        return f"no sentinel answered: {', '.join(silent)}"
    found = f"no sentinel knows a master named {pool.service_name!r}, or they all see it down"
    return found + (f"; these did not answer: {', '.join(silent)}" if silent else "")


def _host(url: str, text: str) -> tuple[str, int]:
    if not text.strip():
        raise _malformed(url, "a sentinel host is missing (the hosts are separated by commas)")
    match = _HOST.match(text.strip())
    if not match:
        raise _malformed(url, f"{text!r} is not a HOST or HOST:PORT")
    port = int(match["port"]) if match["port"] else DEFAULT_PORT
    if not 0 < port < 65536:
        raise _malformed(url, f"port {port} is out of range")
    return (match["ipv6"] or match["name"], port)


def _service_and_db(url: str, path: str) -> tuple[str, int]:
    parts = path.rstrip("/").split("/") if path.strip("/") else []
    if not parts or not parts[0]:
        raise _malformed(url, "it names no service (the name the sentinels monitor)")
    if len(parts) > 2:
        raise _malformed(url, f"its path {'/' + path!r} has more than SERVICE/DB")
    if len(parts) == 1:
        return parts[0], 0
    if not parts[1].isdigit():
        raise _malformed(url, f"its database {parts[1]!r} is not a number")
    return parts[0], int(parts[1])


def _sentinel_options(url: str, options: list[tuple[str, str]]) -> dict[str, Any]:
    """The sentinels' own options (their AUTH), from ``sentinel_*`` query options."""
    found: dict[str, Any] = {}
    for name, value in options:
        if name == "db":
            raise _malformed(url, "it gives db as an option; put the database in the path: /SERVICE/DB")
        if name.startswith("sentinel_"):
            if name not in _SENTINEL_OPTIONS:
                known = ", ".join(_SENTINEL_OPTIONS)
                raise _malformed(url, f"it has the unknown option {name!r} (sentinel options: {known})")
            found[name.removeprefix("sentinel_")] = value
    return found


def _malformed(url: str, problem: str) -> ConfigurationError:
    return ConfigurationError(f"the Redis URL {redact_url(url)!r} is malformed: {problem}; use {FORM}")
