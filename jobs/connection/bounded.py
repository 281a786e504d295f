"""A twin of a Redis client whose every call gives up within a time limit, for calls with a deadline.

A client's own settings multiply a wait: redis-py 8 retries a timed-out command
ten times by default, each with a 5 s socket timeout, so one command to a
server that accepts connections and never answers blocks for about a minute;
and a caller's ``redis.Redis(...)`` may set anything. A deadline cannot be kept
through such a client. Its twin talks to the same server (same address, TLS,
credentials, database, Sentinel service), but connects and reads with timeouts
capped at the limit and never retries: retrying is the caller's, within its
deadline.

A twin has its own connections. ``twin_of`` keeps one per client's pool for
the process (the fast path of ``enqueue`` makes no new connection); ``bounded``
makes a throw-away one, for a retry with less time left.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import SentinelConnectionPool

# Set by a pool for itself (its Sentinel proxy, its maintenance handler and the settings that handler
# restores): a twin's pool sets its own.
_THE_POOLS_OWN = (
    "connection_pool",
    "maint_notifications_pool_handler",
    "oss_cluster_maint_notifications_handler",
)

_twins: weakref.WeakKeyDictionary[Any, tuple[float, redis.Redis]] = weakref.WeakKeyDictionary()
_twins_lock = threading.Lock()


def bounded(client: redis.Redis, timeout_s: float) -> redis.Redis:
    """A new client of ``client``'s server: connects and reads within ``timeout_s``, never retries."""
    pool = client.connection_pool
    kwargs = {
        key: value
        for key, value in pool.connection_kwargs.items()
        if key not in _THE_POOLS_OWN and not key.startswith("orig_")
    }
    kwargs.update(
        socket_timeout=_capped(kwargs.get("socket_timeout"), timeout_s),
        socket_connect_timeout=_capped(kwargs.get("socket_connect_timeout"), timeout_s),
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        retry_on_error=[],
    )
    twin: redis.ConnectionPool
    if isinstance(pool, SentinelConnectionPool):
        twin = SentinelConnectionPool(  # type: ignore[no-untyped-call]
            pool.service_name,
            pool.sentinel_manager,
            is_master=pool.is_master,
            check_connection=pool.check_connection,
            connection_class=pool.connection_class,
            **kwargs,
        )
    else:
        twin = type(pool)(
            connection_class=pool.connection_class, max_connections=pool.max_connections, **kwargs
        )
    return redis.Redis(connection_pool=twin)


def twin_of(client: redis.Redis, timeout_s: float) -> redis.Redis:
    """``bounded(client, timeout_s)``, made once per client's connection pool and kept for the process."""
    pool = client.connection_pool
    with _twins_lock:
        kept = _twins.get(pool)
        if kept is None or kept[0] != timeout_s:
            if kept is not None:
                kept[1].connection_pool.disconnect()  # the deadline setting changed
            kept = (timeout_s, bounded(client, timeout_s))
            _twins[pool] = kept
        return kept[1]


def _capped(own: object, limit_s: float) -> float:
    return min(own, limit_s) if isinstance(own, int | float) and own > 0 else limit_s
