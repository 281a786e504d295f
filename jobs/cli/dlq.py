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
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from resilience import redact

from .._files import open_private
from ..connection import connect
from ..dead_letter import DeadLetterEntry, DeadLetterQueue
from ..dead_letter.archive import archive
from ..dead_letter.replay import replay_all
from ..errors import DeadLetterError
from .dlq_table import entry_lines
from .ids import abbreviations, resolve
from .modules import import_job_modules
from .render import console, text, visible, wide_console


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


def _print_table(dlq: DeadLetterQueue, entries: list[DeadLetterEntry], out: Console) -> None:
    short = abbreviations(dlq, [entry.id for entry in entries])
    for shown in entry_lines(entries, short, out.width, datetime.now(timezone.utc)):
        out.print(shown, no_wrap=True, overflow="ellipsis", crop=True)


def cmd_list(args: argparse.Namespace) -> int:
    dlq = DeadLetterQueue(connect())
    entries = dlq.list(**_filters(args), status=args.status, limit=args.limit)
    if args.json:
        for entry in entries:
            print(json.dumps(_shown(entry)))
        return 0
    out = wide_console()
    if not entries:
        out.print("No dead-letter entries match.")
        return 0
    _print_table(dlq, entries, out)
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
        extra = {key: value for key, value in record.items() if key not in ("at", "by", "action", "result")}
        detail = f"  {json.dumps(extra)}" if extra else ""
        what = f"{v(record.get('action'))}: {v(record.get('result'))}"
        say(f"  {v(record.get('at'))}  {v(record.get('by'))}  {what}{detail}")
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
    kwargs = _edited_kwargs(args.kwargs)
    entry_id = resolve(dlq, args.id)
    job_id = dlq.replay(entry_id, kwargs=kwargs, by=args.by)
    print(
        json.dumps({"entry": entry_id, "job_id": job_id})
        if args.json
        else visible(f"replayed {entry_id} as job {job_id}")
    )
    return 0


def _edited_kwargs(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        kwargs = json.loads(text)
    except json.JSONDecodeError as err:
        raise DeadLetterError(f"--kwargs is not JSON ({err}); e.g. --kwargs '{{\"order_id\": 7}}'") from err
    except RecursionError as err:
        raise DeadLetterError("--kwargs is nested too deeply to read; pass the job's arguments") from err
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
            _print_table(dlq, candidates, wide_console())
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
    with Progress(*columns, console=console(stderr=True), transient=True) as progress:
        task = progress.add_task("replay", total=len(candidates))
        done = replay_all(
            dlq,
            rate=args.rate,
            by=args.by,
            progress=lambda n: progress.update(task, completed=n),
            **_filters(args),
        )
    if args.json:
        replayed = [{"entry": e.id, "job_id": e.replays[-1]} for e in done]
        print(json.dumps({"replayed": replayed, "skipped": done.skipped}))
    else:
        skipped = (
            f"; skipped {len(done.skipped)} that another operator replayed or discarded meanwhile"
            if done.skipped
            else ""
        )
        print(f"replayed {len(done)} entries{skipped}")
    return 0


def cmd_discard(args: argparse.Namespace) -> int:
    dlq = DeadLetterQueue(connect())
    entry = dlq.discard(resolve(dlq, args.id), reason=args.reason, by=args.by)
    print(json.dumps(_shown(entry)) if args.json else visible(f"discarded {entry.id}: {args.reason}"))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    entries = DeadLetterQueue(connect()).list(**_filters(args), status=args.status, limit=args.limit)
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
