"""The application's database, whichever client it comes through: SQLite, PostgreSQL, SQLAlchemy.

``outbox.enqueue`` writes through the caller's own connection, so that the row
commits or rolls back with the caller's transaction: this module only sends
SQL through it, and never commits. The SQL is written once, with ``:name``
placeholders, and turned into the client's own style (``%(name)s`` for
psycopg). The relay opens its own connection from a URL (``connect``).

sqlite3 is in Python's standard library; psycopg (3) and SQLAlchemy are
optional (``pip install 'stalwart[outbox]'``) and imported only when a
connection of theirs is given or a ``postgresql://`` URL is opened.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ConfigurationError

Dialect = Literal["sqlite", "postgresql"]
_NAMED = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


@dataclass(frozen=True)
class Database:
    """A caller's connection (or SQLAlchemy connection or session), and how to send SQL through it."""

    target: Any
    dialect: Dialect
    client: Literal["sqlite3", "psycopg", "sqlalchemy"]

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run ``sql`` (``:name`` placeholders) in the caller's transaction; the rows it returns, if any."""
        params = dict(params or {})
        if self.client == "sqlalchemy":
            from sqlalchemy import text

            result = self.target.execute(text(sql), params)
            return [tuple(row) for row in result.fetchall()] if result.returns_rows else []
        if self.client == "psycopg":
            cursor = self.target.cursor()
            try:
                cursor.execute(_NAMED.sub(r"%(\1)s", sql.replace("%", "%%")), params)
                return list(cursor.fetchall()) if cursor.description is not None else []
            finally:
                cursor.close()
        cursor = self.target.cursor()
        try:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def script(self, statements: Sequence[str]) -> None:
        """Run several statements that take no parameters (the table's DDL)."""
        for statement in statements:
            self.execute(statement)


def database(connection: Any) -> Database:
    """How to write through ``connection``: a ``sqlite3`` or ``psycopg`` connection, or a SQLAlchemy
    ``Connection`` or ``Session``; TypeError for anything else, saying what is accepted."""
    if isinstance(connection, sqlite3.Connection):
        return Database(connection, "sqlite", "sqlite3")
    module = type(connection).__module__
    if module.startswith("psycopg.") or module == "psycopg":
        return Database(connection, "postgresql", "psycopg")
    if module.startswith("sqlalchemy."):
        bind = connection.get_bind() if hasattr(connection, "get_bind") else connection
        name = str(bind.dialect.name)
        if name not in ("sqlite", "postgresql"):
            raise TypeError(
                f"the outbox works on SQLite and PostgreSQL; this SQLAlchemy connection is {name!r}"
            )
        return Database(connection, "sqlite" if name == "sqlite" else "postgresql", "sqlalchemy")
    raise TypeError(
        f"the outbox writes through a sqlite3 or psycopg (3) connection, or a SQLAlchemy Connection or "
        f"Session, not {type(connection).__module__}.{type(connection).__qualname__}; with Django, pass "
        "django.db.connection.connection (the DB-API connection under it)"
    )


def dialect_of_url(url: str) -> Dialect:
    """``sqlite`` or ``postgresql``, from an outbox URL; ConfigurationError for any other."""
    if url.startswith("sqlite:///"):
        return "sqlite"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql"
    raise ConfigurationError(
        f"the outbox URL {shown(url)!r} is neither sqlite:///PATH nor postgresql://USER@HOST:PORT/DB; "
        "set STALWART_OUTBOX_URL (or --outbox) to one of those"
    )


def check_url(url: str) -> Dialect:
    """The URL's dialect, once its client is known to be installed; ConfigurationError otherwise (a worker
    given a URL it cannot use says so when it starts, not in its relay's log)."""
    dialect = dialect_of_url(url)
    if dialect == "postgresql":
        try:
            import psycopg  # noqa: F401 - only whether it is installed
        except ImportError as err:
            raise ConfigurationError(
                "the outbox URL names PostgreSQL, which needs psycopg 3: pip install 'stalwart[outbox]'"
            ) from err
    return dialect


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///PATH`` URL (``sqlite:////abs/path`` or ``sqlite:///relative/path``)."""
    return url[len("sqlite:///") :]


def connect(url: str) -> Any:
    """A connection of the relay's own to the outbox's database, in autocommit (it opens its own
    transactions): ``sqlite3`` for ``sqlite:///PATH``, ``psycopg`` for ``postgresql://...``."""
    if dialect_of_url(url) == "sqlite":
        # isolation_level None: no implicit BEGIN; the relay says BEGIN IMMEDIATE itself. A producer's
        # insert waits while a relay holds the write lock (milliseconds per batch): 30 s at most.
        return sqlite3.connect(sqlite_path(url), timeout=30.0, isolation_level=None, check_same_thread=False)
    try:
        import psycopg
    except ImportError as err:
        raise ConfigurationError(
            "the outbox URL names PostgreSQL, which needs psycopg 3: pip install 'stalwart[outbox]'"
        ) from err
    return psycopg.connect(url, autocommit=True)


def shown(url: str) -> str:
    """``url`` without a password, for logs and messages."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
