"""Archiving: moving old entries out of Redis into a JSON Lines file, never deleting one silently.

Each line is one whole entry, audit trail included. A batch of lines is appended
and fsynced before its entries are deleted from Redis, so every entry is always
in Redis, in the file, or in both; after any failure (a full disk, a killed run,
Redis gone before the delete) the file is still valid JSON Lines and the next run
writes each entry once (see ``archive_file``). The worker applies the retention
(``STALWART_DLQ_RETENTION_DAYS`` with ``STALWART_DLQ_ARCHIVE``) during its
maintenance; ``stalwart dlq archive`` runs it on demand.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .. import _keys
from ..settings import Settings
from .archive_file import ArchiveFile
from .store import EntryStore

log = logging.getLogger("stalwart.dead_letter")

BATCH = 500


def archive(dlq: EntryStore, older_than: timedelta, path: Path | str, now: datetime | None = None) -> int:
    """Move entries whose last failure is older than ``older_than`` to the JSONL file ``path``; count them.

    Raises ArchiveError (saying what to do) when the file cannot be written: the
    entries not archived stay in Redis, and the file holds whole lines only.
    """
    try:
        cutoff = (now or datetime.now(timezone.utc)) - older_than
    except OverflowError:
        return 0  # before the year 1: nothing failed that long ago
    ids = [
        i.decode() if isinstance(i, bytes) else str(i)
        for i in dlq.connection.zrangebyscore(_keys.dead_letter_index(), "-inf", cutoff.timestamp())
    ]
    if not ids:
        return 0
    target = Path(path)
    moved = 0
    # The last batch a failed run wrote may still be in Redis: its lines are remembered, not rewritten.
    file = ArchiveFile.open(target, remember=BATCH)
    try:
        for start in range(0, len(ids), BATCH):
            entries = dlq.get_many(ids[start : start + BATCH], with_audit=True)
            lines = [entry.to_json() for entry in entries]
            file.append([line for line in lines if not file.holds(line)])
            with dlq.connection.pipeline() as pipeline:
                for entry in entries:
                    dlq.remove(entry, pipeline=pipeline)
                pipeline.execute()
            moved += len(entries)
    finally:
        file.close()
    log.info("archived %d dead-letter entries older than %s to %s", moved, cutoff.isoformat(), target)
    return moved


def retention(settings: Settings) -> tuple[timedelta, Path] | None:
    """``STALWART_DLQ_RETENTION_DAYS`` and ``STALWART_DLQ_ARCHIVE``, when both are set."""
    if settings.dlq_retention_days is None or settings.dlq_archive is None:
        return None
    return timedelta(days=settings.dlq_retention_days), settings.dlq_archive
