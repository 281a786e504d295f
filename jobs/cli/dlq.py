"""``stalwart dlq ...``: the dead-letter queue as a work list, for people (tables) and scripts (--json).

Every sub-command does what the ``DeadLetterQueue`` method of the same name
does. Arguments are shown redacted; a mistake is one line and changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import Any

from rich.console import Console

from resilience import redact

from .._files import open_private
from ..connection import connect
from ..dead_letter import DeadLetterEntry, DeadLetterQueue
from ..dead_letter.archive import archive
from .dlq_audit import audit_lines
from .dlq_table import entry_lines
from .ids import abbreviations, resolve
from .render import console, text, visible, wide_console


def _shown(entry: DeadLetterEntry) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(entry.to_json())
    record["kwargs"] = redact(record["kwargs"])
    return record


def entry_filters(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "job": args.job,
        "error_type": args.error_type,
        "classification": args.classification,
        "since": args.since,
        "until": args.until,
    }


def print_table(dlq: DeadLetterQueue, entries: list[DeadLetterEntry], out: Console) -> None:
    short = abbreviations(dlq, [entry.id for entry in entries])
    for shown in entry_lines(entries, short, out.width, datetime.now(timezone.utc)):
        out.print(shown, no_wrap=True, overflow="ellipsis", crop=True)


def cmd_list(args: argparse.Namespace) -> int:
    dlq = DeadLetterQueue(connect())
    entries = dlq.list(**entry_filters(args), status=args.status, limit=args.limit)
    if args.json:
        for entry in entries:
            print(json.dumps(_shown(entry)))
        return 0
    out = wide_console()
    if not entries:
        out.print("No dead-letter entries match.")
        return 0
    print_table(dlq, entries, out)
    out.print(f"{len(entries)} shown of {len(dlq)} in the dead-letter queue; `stalwart dlq show ID` for one.")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    dlq = DeadLetterQueue(connect())
    entry = dlq.get(resolve(dlq, args.id))
    if args.json:
        print(json.dumps(_shown(entry)))
        return 0
    out = console(soft_wrap=True)
    v = visible  # a value from Redis on one line: its newlines cannot forge the lines around it

    def say(line: str, style: str = "") -> None:
        out.print(text(line, lines=True, style=style))  # the message and tracebacks keep their lines

    shown = _shown(entry)
    say(f"{v(entry.job)}  {v(entry.id)}  [{v(entry.status)}, {v(entry.classification)}]", style="bold")
    say(entry.message)
    say(f"arguments: {json.dumps(shown['kwargs'])}")
    say(
        f"request id: {v(entry.request_id)}   idempotency key: {v(entry.idempotency_key)}   "
        f"queue: {v(entry.queue)}"
    )
    say(f"first failed: {v(entry.first_failed_at)}   last failed: {v(entry.last_failed_at)}")
    for attempt in entry.history:
        say(
            f"\nattempt {v(attempt.get('number'))}: {v(attempt.get('started_at'))} "
            f"on {v(attempt.get('host'))} pid {v(attempt.get('pid'))}: {v(attempt.get('outcome'))}, "
            f"{v(attempt.get('error_type'))}: "
            f"{v(attempt.get('error_message'))}",
            style="bold",
        )
        if attempt.get("traceback"):
            say(str(attempt["traceback"]).rstrip())
    say("\naudit", style="bold")
    for record in entry.audit:
        for shown_line in audit_lines(record):
            out.print(text(shown_line))
    return 0


def cmd_discard(args: argparse.Namespace) -> int:
    dlq = DeadLetterQueue(connect())
    entry = dlq.discard(resolve(dlq, args.id), reason=args.reason, by=args.by)
    print(json.dumps(_shown(entry)) if args.json else visible(f"discarded {entry.id}: {args.reason}"))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    entries = DeadLetterQueue(connect()).list(**entry_filters(args), status=args.status, limit=args.limit)
    out = open_private(args.output, "w") if args.output else sys.stdout
    try:
        for entry in DeadLetterQueue(connect()).get_many([e.id for e in entries], with_audit=True):
            out.write(json.dumps(_shown(entry)) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    if args.output:
        print(f"exported {len(entries)} entries to {args.output} (arguments redacted)", file=sys.stderr)
    return 0


def cmd_archive(args: argparse.Namespace) -> int:
    moved = archive(DeadLetterQueue(connect()), args.older_than, args.to)
    print(f"archived {moved} entries to {args.to}")
    return 0
