"""Finding and reaching Redis: ``REDIS_URL`` (plain, TLS or Sentinel), or the embedded server."""

from __future__ import annotations

from .client import connect, redis_url, use
from .embedded import EmbeddedRedis

__all__ = ["EmbeddedRedis", "connect", "redis_url", "use"]
