"""``idempotency_guard``: resilience's ``IdempotencyGuard`` with its keys under ``STALWART_KEY_PREFIX``.

``resilience`` knows nothing of stalwart's settings, so its guard keeps its
keys under ``stalwart:once:`` unless told otherwise; this is the guard told.
"""

from __future__ import annotations

import redis

from resilience import IdempotencyGuard
from resilience.idempotency import DEFAULT_TTL_S

from . import _keys
from .connection import connect


def idempotency_guard(connection: redis.Redis | None = None, ttl_s: int = DEFAULT_TTL_S) -> IdempotencyGuard:
    """An ``IdempotencyGuard`` on ``connection`` (by default ``connect()``), keyed under the key prefix."""
    return IdempotencyGuard(
        connection if connection is not None else connect(), _keys.idempotency_guards(), ttl_s
    )
