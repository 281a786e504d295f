"""The outbox table: one row per job committed by the application and not yet in Redis.

The same SQL serves SQLite and PostgreSQL. ``stalwart outbox sql`` prints it, for
teams that run migrations their own way; ``outbox.install`` and ``stalwart outbox
install`` run it (``IF NOT EXISTS``: running it again changes nothing).
"""

from __future__ import annotations

from typing import Any

from .database import database

TABLE = "stalwart_outbox"
# PostgreSQL: ``outbox.enqueue`` notifies this channel in the caller's transaction, so the relay hears
# of a row when (and only if) it commits.
CHANNEL = "stalwart_outbox"

STATEMENTS = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    id TEXT PRIMARY KEY,                       -- the job's id, chosen at insert: the relay writes no other
    job TEXT NOT NULL,                         -- the job's registered name
    queue TEXT NOT NULL,
    body TEXT NOT NULL,                        -- the checked payload, as JSON
    timeout_s INTEGER NOT NULL,
    result_ttl_s INTEGER NOT NULL,
    due TEXT NOT NULL DEFAULT 'now' CHECK (due IN ('now', 'in', 'at')),
    due_s DOUBLE PRECISION NOT NULL DEFAULT 0, -- 'in': seconds after delivery; 'at': epoch seconds
    claim TEXT,                                -- a unique job's claim in Redis, else NULL
    created_at DOUBLE PRECISION NOT NULL       -- epoch seconds, the producer's clock
)""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_created_at ON {TABLE} (created_at)",
)


def sql() -> str:
    """The table's SQL, as ``stalwart outbox sql`` prints it (for SQLite and PostgreSQL alike)."""
    return "".join(statement + ";\n" for statement in STATEMENTS)


def install(connection: Any) -> None:
    """Create the outbox table and its index, if missing, through ``connection``; the caller commits.

    ``connection``: a ``sqlite3`` or ``psycopg`` connection, or a SQLAlchemy ``Connection``/``Session``.
    """
    database(connection).script(STATEMENTS)
