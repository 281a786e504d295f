"""Redis unavailable: gone, silent, full or refusing writes. For a worker, an outage to wait out, not a crash.

A full Redis (``maxmemory`` with ``noeviction``) refuses every write with
``OOM command not allowed``; a replica left behind by a failover answers
``READONLY``; a Redis that cannot persist answers ``MISCONF``. For a worker these
are the same as a lost connection: nothing can be recorded until they end. The
worker, its RQ loop and its scheduler log one line saying which it is, back
off, and carry on once Redis takes writes again.
"""

from __future__ import annotations

import redis

_WAITED_OUT = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is a full Redis refusing a write: a command's OOM, or a script's (which Redis 6
    reports as a script error quoting it)."""
    if isinstance(error, redis.exceptions.OutOfMemoryError):
        return True
    return isinstance(error, redis.ResponseError) and "-OOM command not allowed" in str(error)


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` means Redis cannot take this worker's writes for now (rather than a bug)."""
    if isinstance(error, _WAITED_OUT) or is_out_of_memory(error):
        return True
    return isinstance(error, redis.ResponseError) and str(error).startswith("MISCONF")


def describe(error: BaseException) -> str:
    """What the outage is, for a log line or an error: ``lost Redis (...)``, ``Redis is full (...)``, ..."""
    if is_out_of_memory(error):
        return (
            f"Redis is full (maxmemory reached, it refuses writes: {error}); free memory in Redis or raise "
            "its maxmemory"
        )
    if isinstance(error, redis.exceptions.ReadOnlyError):
        return f"Redis refuses writes: it is a read-only replica, a failover may be under way ({error})"
    if isinstance(error, redis.ResponseError):
        return f"Redis refuses writes: it cannot save to its disk ({error}); free space on its disk"
    return f"lost Redis ({error})"
