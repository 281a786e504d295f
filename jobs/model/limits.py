"""``Limits``: how much a job's payload may hold, the same when it is enqueued and when it is run."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_PAYLOAD_BYTES = 512 * 1024


@dataclass(frozen=True)
class Limits:
    """Bounds on what a payload may be; one object, so the producer and the worker agree."""

    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES


DEFAULT_LIMITS = Limits()
