"""Archiving: moving old entries out of Redis into a JSON Lines file, never deleting one silently.

Each line is one whole entry, audit trail included. Lines are appended and
fsynced before the entries are deleted from Redis. The worker applies the
retention (``STALWART_DLQ_RETENTION_DAYS`` with ``STALWART_DLQ_ARCHIVE``)
during its maintenance; ``stalwart dlq archive`` runs it on demand.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .. import _keys
from .._files import open_private
from ..settings import Settings
from .store import EntryStore

log = logging.getLogger("stalwart.dead_letter")


def archive(dlq: EntryStore, older_than: timedelta, path: Path | str, now: datetime | None = None) -> int:
    """Move entries whose last failure is older than ``older_than`` to the JSONL file ``path``; count them.

    Each line is one whole entry, audit trail included. Lines are appended and
    fsynced before the entries are deleted from Redis.
    """
    cutoff = (now or datetime.now(timezone.utc)) - older_than
    ids = [
        i.decode() if isinstance(i, bytes) else str(i)
        for i in dlq.connection.zrangebyscore(_keys.DEAD_LETTER_INDEX, "-inf", cutoff.timestamp())
    ]
    moved = 0
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(ids), 500):
        entries = dlq.get_many(ids[start : start + 500], with_audit=True)
        with open_private(target, "a") as out:  # it holds the arguments unredacted: 0600
            for entry in entries:
                out.write(entry.to_json() + "\n")
            out.flush()
            os.fsync(out.fileno())
        with dlq.connection.pipeline() as pipeline:
            for entry in entries:
                dlq.remove(entry, pipeline=pipeline)
            pipeline.execute()
        moved += len(entries)
    if moved:
        log.info("archived %d dead-letter entries older than %s to %s", moved, cutoff.isoformat(), target)
    return moved


def retention(settings: Settings) -> tuple[timedelta, Path] | None:
    """``STALWART_DLQ_RETENTION_DAYS`` and ``STALWART_DLQ_ARCHIVE``, when both are set."""
    if settings.dlq_retention_days is None or settings.dlq_archive is None:
        return None
    return timedelta(days=settings.dlq_retention_days), settings.dlq_archive
