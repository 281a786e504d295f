"""How far the outbox is behind: rows waiting, and the age of the oldest (``stalwart stats``, the alert)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .database import Database, connect, dialect_of_url
from .table import TABLE


@dataclass(frozen=True)
class Backlog:
    """Rows in the outbox, and how long ago the oldest was committed (None when empty)."""

    rows: int
    oldest_s: float | None


def backlog_of(db: Database, now: float | None = None) -> Backlog:
    """The outbox's backlog, read through ``db`` (a committed snapshot: rows in flight are not seen)."""
    [(rows, oldest)] = db.execute(f"SELECT COUNT(*), MIN(created_at) FROM {TABLE}")
    now = time.time() if now is None else now
    return Backlog(int(rows), None if oldest is None else max(0.0, now - float(oldest)))


def backlog(url: str) -> Backlog:
    """The backlog of the outbox at ``url`` (``sqlite:///PATH`` or ``postgresql://...``)."""
    dialect = dialect_of_url(url)
    target = connect(url)
    try:
        return backlog_of(Database(target, dialect, "sqlite3" if dialect == "sqlite" else "psycopg"))
    finally:
        target.close()
