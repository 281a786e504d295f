"""``stalwart outbox``: the outbox table's SQL, creating it, and its backlog."""

from __future__ import annotations

import argparse
import json

from .. import outbox, settings
from ..errors import ConfigurationError
from ..outbox.database import connect, dialect_of_url, shown


def outbox_url(args: argparse.Namespace) -> str | None:
    """``--outbox URL``, else ``STALWART_OUTBOX_URL``, else None."""
    return getattr(args, "outbox", None) or settings.current().outbox_url


def _required(args: argparse.Namespace) -> str:
    url = outbox_url(args)
    if url is None:
        raise ConfigurationError(
            "no outbox database named: pass --outbox URL (sqlite:///PATH or postgresql://USER@HOST:PORT/DB) "
            "or set STALWART_OUTBOX_URL"
        )
    dialect_of_url(url)  # ConfigurationError for a URL of any other kind
    return url


def cmd_sql(args: argparse.Namespace) -> int:
    print(outbox.sql(), end="")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    url = _required(args)
    target = connect(url)
    try:
        if dialect_of_url(url) == "sqlite":
            target.execute("BEGIN")
        outbox.install(target)
        if dialect_of_url(url) == "sqlite":
            target.execute("COMMIT")
    finally:
        target.close()
    print(f"the outbox table {outbox.TABLE} is in {shown(url)}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    url = _required(args)
    now = outbox.backlog(url)
    if args.json:
        print(json.dumps({"rows": now.rows, "oldest_s": now.oldest_s}))
        return 0
    oldest = "" if now.oldest_s is None else f", the oldest committed {now.oldest_s:.1f} s ago"
    print(f"outbox: {now.rows} jobs waiting{oldest}")
    return 0
