"""``stalwart dlq ...``: the dead-letter queue as a work list, for people (tables) and scripts (--json).

Every sub-command does what the ``DeadLetterQueue`` method of the same name
does. Arguments are shown redacted; a mistake is one line and changes nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from resilience import redact

from .connection import connect
from .dead_letter import DeadLetterEntry, DeadLetterQueue
from .errors import DeadLetterError
from .outcome import Classification
from .replay import replay_all
from .sweep import archive, sweep
from .worker import add_import_option, import_job_modules

_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def age(text: str) -> timedelta:
    """``15m``, ``2h``, ``7d``... as a timedelta (argparse type)."""
    found = _AGE.match(text.strip())
    if not found:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age; use a number and a unit, e.g. 15m, 2h, 7d")
    return timedelta(**{_UNITS[found.group(2)]: float(found.group(1))})


def moment(text: str) -> datetime:
    """An ISO 8601 time or an age back from now (argparse type)."""
    try:
        return datetime.now(timezone.utc) - age(text)
    except argparse.ArgumentTypeError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time; use ISO 8601 (2026-11-27T10:00) or an age such as 15m, 2h, 7d"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _shown(entry: DeadLetterEntry) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(entry.to_json())
    record["kwargs"] = redact(record["kwargs"])
    return record


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "job": args.job,
        "error_type": args.error_type,
        "classification": args.classification,
        "since": args.since,
        "until": args.until,
    }


def _wide_console() -> Console:
    """A console for tables: the terminal's width, or a wide page when writing to a pipe or file."""
    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=max(console.width, 200))


def _table(entries: list[DeadLetterEntry]) -> Table:
    table = Table(show_lines=False, header_style="bold")
    for column in ("id", "last failed (UTC)", "status", "classification", "job", "attempts"):
        table.add_column(column, no_wrap=True)
    table.add_column("error", overflow="fold")
    for entry in entries:
        table.add_row(
            entry.id,
            entry.last_failed_at[:19].replace("T", " "),
            entry.status,
            str(entry.classification),
            entry.job,
            str(entry.attempts),
            f"{entry.error_type}: {entry.error_message[:80]}",
        )
    return table


def cmd_list(args: argparse.Namespace) -> int:
    dlq = DeadLetterQueue(connect())
    entries = dlq.list(**_filters(args), status=args.status, limit=args.limit)
    if args.json:
        for entry in entries:
            print(json.dumps(_shown(entry)))
        return 0
    console = _wide_console()
    if not entries:
        console.print("No dead-letter entries match.")
        return 0
    console.print(_table(entries))
    console.print(
        f"{len(entries)} shown of {len(dlq)} in the dead-letter queue; `stalwart dlq show ID` for one."
    )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    entry = DeadLetterQueue(connect()).get(args.id)
    if args.json:
        print(json.dumps(_shown(entry)))
        return 0
    console = Console(soft_wrap=True, highlight=False)

    def say(text: str, style: str | None = None) -> None:
        console.print(text, style=style, markup=False)

    shown = _shown(entry)
    say(f"{entry.job}  {entry.id}  [{entry.status}, {entry.classification}]", style="bold")
    say(entry.message)
    say(f"arguments: {json.dumps(shown['kwargs'])}")
    say(f"request id: {entry.request_id}   idempotency key: {entry.idempotency_key}   queue: {entry.queue}")
    say(f"first failed: {entry.first_failed_at}   last failed: {entry.last_failed_at}")
    for attempt in entry.history:
        say(
            f"\nattempt {attempt.get('number')}: {attempt.get('started_at')} on {attempt.get('host')} "
            f"pid {attempt.get('pid')}: {attempt.get('outcome')}, {attempt.get('error_type')}: "
            f"{attempt.get('error_message')}",
            style="bold",
        )
        if attempt.get("traceback"):
            say(str(attempt["traceback"]).rstrip())
    say("\naudit", style="bold")
    for record in entry.audit:
        extra = {k: v for k, v in record.items() if k not in ("at", "by", "action", "result")}
        detail = f"  {json.dumps(extra)}" if extra else ""
        what = f"{record.get('action')}: {record.get('result')}"
        say(f"  {record.get('at')}  {record.get('by')}  {what}{detail}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    import_job_modules(args.imports)
    dlq = DeadLetterQueue(connect())
    if args.all:
        if args.id is not None or args.kwargs is not None:
            raise DeadLetterError("--all replays by filters; it takes no entry id and no --kwargs")
        return _replay_many(dlq, args)
    if args.id is None:
        raise DeadLetterError("name the entry to replay (stalwart dlq replay ID), or pass --all with filters")
    job_id = dlq.replay(args.id, kwargs=_edited_kwargs(args.kwargs), by=args.by)
    print(
        json.dumps({"entry": args.id, "job_id": job_id})
        if args.json
        else f"replayed {args.id} as job {job_id}"
    )
    return 0


def _edited_kwargs(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        kwargs = json.loads(text)
    except json.JSONDecodeError as err:
        raise DeadLetterError(f"--kwargs is not JSON ({err}); e.g. --kwargs '{{\"order_id\": 7}}'") from err
    if not isinstance(kwargs, dict):
        raise DeadLetterError("--kwargs must be a JSON object of keyword arguments, e.g. '{\"order_id\": 7}'")
    return kwargs


def _replay_many(dlq: DeadLetterQueue, args: argparse.Namespace) -> int:
    candidates = dlq.replay_all(dry_run=True, **_filters(args))
    if args.dry_run or not candidates:
        if args.json:
            print(json.dumps({"would_replay": [e.id for e in candidates]}))
            return 0
        if candidates:
            _wide_console().print(_table(candidates))
        print(
            f"{len(candidates)} dead entries would be replayed" + ("" if args.dry_run else "; nothing to do")
        )
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise DeadLetterError(
                f"refusing to replay {len(candidates)} entries without confirmation; pass --yes"
            )
        if input(f"Replay {len(candidates)} dead entries? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing replayed")
            return 1
    columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("replay", total=len(candidates))
        done = replay_all(
            dlq,
            rate=args.rate,
            by=args.by,
            progress=lambda n: progress.update(task, completed=n),
            **_filters(args),
        )
    if args.json:
        print(json.dumps({"replayed": [{"entry": e.id, "job_id": e.replays[-1]} for e in done]}))
    else:
        print(f"replayed {len(done)} entries")
    return 0


def cmd_discard(args: argparse.Namespace) -> int:
    entry = DeadLetterQueue(connect()).discard(args.id, reason=args.reason, by=args.by)
    print(json.dumps(_shown(entry)) if args.json else f"discarded {entry.id}: {args.reason}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    entries = DeadLetterQueue(connect()).list(**_filters(args), status=args.status, limit=args.limit)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
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


def cmd_sweep(args: argparse.Namespace) -> int:
    moved = sweep(connect(), args.queues or ["default"])
    print(f"moved {len(moved)} jobs from RQ's failed registries into the dead-letter queue")
    return 0


def add_commands(dlq: argparse.ArgumentParser, parser_class: type[argparse.ArgumentParser]) -> None:
    """Attach the ``dlq`` sub-commands to its parser."""
    commands = dlq.add_subparsers(dest="dlq_command", required=True, parser_class=parser_class)

    def filtered(sub: argparse.ArgumentParser, status: bool = True) -> None:
        sub.add_argument("--job", help="only entries of this job name")
        sub.add_argument("--error-type", help="only entries whose error has this type name")
        sub.add_argument("--classification", choices=[c.value for c in Classification])
        if status:
            sub.add_argument("--status", choices=["dead", "replayed", "resolved", "discarded"])
        sub.add_argument(
            "--since", type=moment, help="failed at or after: ISO 8601 time, or an age (15m, 2h, 7d)"
        )
        sub.add_argument("--until", type=moment, help="failed at or before: ISO 8601 time, or an age")

    def command(name: str, run: Any, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(parser=sub, run=run)
        return sub

    listing = command("list", cmd_list, "list entries, most recent failure first")
    filtered(listing)
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.add_argument("--json", action="store_true", help="one JSON object a line, for scripts")

    show = command(
        "show", cmd_show, "show one entry: the failure, every attempt with its traceback, the audit"
    )
    show.add_argument("id")
    show.add_argument("--json", action="store_true")

    replay = command(
        "replay", cmd_replay, "enqueue an entry's job again (fresh attempts, same idempotency key)"
    )
    replay.add_argument("id", nargs="?")
    replay.add_argument(
        "--kwargs", metavar="JSON", help="replay with these arguments instead (checked first)"
    )
    replay.add_argument("--all", action="store_true", help="replay every dead entry matching the filters")
    filtered(replay, status=False)
    replay.add_argument("--dry-run", action="store_true", help="show what --all would replay; change nothing")
    replay.add_argument("--rate", type=float, help="at most this many entries per second")
    replay.add_argument("--yes", action="store_true", help="do not ask before a bulk replay")
    add_import_option(replay, "defines the job classes", required=False)
    replay.add_argument("--by", help="who is replaying, for the audit trail (default: user@host)")
    replay.add_argument("--json", action="store_true")

    discard = command("discard", cmd_discard, "close an entry without replaying it; the reason is kept")
    discard.add_argument("id")
    discard.add_argument("--reason", required=True)
    discard.add_argument("--by", help="who is discarding, for the audit trail (default: user@host)")
    discard.add_argument("--json", action="store_true")

    export = command("export", cmd_export, "write entries as JSON lines (arguments redacted)")
    filtered(export)
    export.add_argument("--limit", type=int, default=None)
    export.add_argument("--output", metavar="FILE", help="write here instead of standard output")

    archived = command(
        "archive", cmd_archive, "move entries older than an age to a JSONL file, then delete them"
    )
    archived.add_argument("--older-than", type=age, required=True, metavar="AGE", help="e.g. 90d")
    archived.add_argument("--to", required=True, metavar="FILE")

    swept = command("sweep", cmd_sweep, "move jobs left in RQ's failed registries into the dead-letter queue")
    swept.add_argument("--queue", dest="queues", action="append", metavar="NAME")
