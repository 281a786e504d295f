"""Root causes: the dead-letter entries grouped by job and error type, counted by Redis from the indexes.

The pairs counted are those entries were stored with (``_keys.dead_letter_causes``, a set the store
adds to); a queue written before that set existed has its job and error-type indexes found with SCAN
instead, and every combination tried. Each pair is counted by Redis (ZINTERSTORE into a scratch key,
deleted in the same pipeline), so no entry is read.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

import redis

from .. import _keys
from .storage import text

# Index keys per SCAN call when the pairs must be found in the keyspace.
_SCAN_COUNT = 10_000
_GLOB = re.compile(r"([\\*?\[\]])")


@dataclass(frozen=True)
class RootCause:
    """A group of entries with one job and one error type: what one fix is likely to clear."""

    job: str
    error_type: str
    count: int


def glob_escaped(text_: str) -> str:
    """``text_`` with the characters a Redis MATCH pattern gives a meaning escaped."""
    return _GLOB.sub(r"\\\1", text_)


def root_causes(
    connection: redis.Redis, status: str | None = "dead", limit_pairs: int = 2_000
) -> list[RootCause]:
    """Entries grouped by job and error type, with their counts, most first (``status`` only, if given).

    At most ``limit_pairs`` pairs are counted.
    """
    pairs = sorted(_causes(connection))[:limit_pairs]
    if not pairs:
        return []
    status_key = [_keys.dead_letter_status(status)] if status is not None else []
    scratch = _keys.dead_letter_scratch(uuid.uuid4().hex)
    with connection.pipeline(transaction=False) as pipeline:
        for job, error in pairs:
            pipeline.zinterstore(
                scratch, [_keys.dead_letter_job(job), _keys.dead_letter_error(error), *status_key]
            )
        pipeline.delete(scratch)
        counts = pipeline.execute()[:-1]
    found = [RootCause(job, error, int(n)) for (job, error), n in zip(pairs, counts, strict=True) if n]
    return sorted(found, key=lambda cause: (-cause.count, cause.job, cause.error_type))


def _causes(connection: redis.Redis) -> set[tuple[str, str]]:
    """The (job, error type) pairs of the stored entries (some may have no entry left)."""
    stored = connection.smembers(_keys.dead_letter_causes())
    if stored:
        return {(job, error) for job, error in (json.loads(text(raw)) for raw in stored)}
    job_prefix, error_prefix = _keys.dead_letter_job(""), _keys.dead_letter_error("")
    pattern = glob_escaped(_common_start(job_prefix, error_prefix)) + "*"
    names = {text(key) for key in connection.scan_iter(match=pattern, count=_SCAN_COUNT, _type="zset")}
    jobs = {n[len(job_prefix) :] for n in names if n.startswith(job_prefix)}
    errors = {n[len(error_prefix) :] for n in names if n.startswith(error_prefix)}
    return {(job, error) for job in jobs for error in errors}


def _common_start(a: str, b: str) -> str:
    """The longest start ``a`` and ``b`` share (``stalwart:dlq:`` for the job and error-type indexes)."""
    end = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return a[:end]
