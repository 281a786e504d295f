"""``stalwart dlq replay``: one entry (as it was, with ``--kwargs``, or with fields changed by ``--set``), or
every dead entry matching filters (``--all``).

An ``ambiguous`` entry's job may have taken effect before it failed. ``--all``
leaves such entries out unless ``--include-ambiguous`` (or ``--classification
ambiguous``) asks for them, and says how many it left out; replaying one by id
asks for confirmation on a terminal, and needs ``--yes`` without one.
``--dry-run`` shows what would be replayed, and with which arguments, and
changes nothing. Arguments and changes are shown redacted.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from resilience import redact

from ..connection import connect
from ..dead_letter import DeadLetterQueue
from ..dead_letter.replay import Prepared, prepare, replay_all
from ..errors import DeadLetterError
from ..model.outcome import Classification
from .dlq import entry_filters, print_table
from .dlq_audit import change_line
from .ids import resolve
from .modules import import_job_modules
from .render import console, visible, wide_console


def cmd_replay(args: argparse.Namespace) -> int:
    import_job_modules(args.imports)
    dlq = DeadLetterQueue(connect())
    if args.all:
        if args.id is not None or args.kwargs is not None or args.changes:
            raise DeadLetterError("--all replays by filters; it takes no entry id, no --kwargs and no --set")
        return _replay_many(dlq, args)
    if args.id is None:
        raise DeadLetterError("name the entry to replay (stalwart dlq replay ID), or pass --all with filters")
    if args.include_ambiguous:
        raise DeadLetterError(
            "--include-ambiguous is for --all; to replay one ambiguous entry, name it (you are asked to "
            "confirm, or pass --yes)"
        )
    return _replay_one(dlq, args)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# -- one entry -----------------------------------------------------------------------------------


def _replay_one(dlq: DeadLetterQueue, args: argparse.Namespace) -> int:
    if args.kwargs is not None and args.changes:
        raise DeadLetterError("--set changes some arguments and --kwargs replaces them all; use one of them")
    kwargs = _edited_kwargs(args.kwargs)
    changes = _changes(args.changes)
    prepared = prepare(dlq, resolve(dlq, args.id), kwargs=kwargs, changes=changes)
    entry = prepared.entry
    edit = prepared.audit_details()
    if args.dry_run:
        _show_dry_run(prepared, edit, args.json)
        return 0
    if prepared.ambiguous and not args.yes:
        if not sys.stdin.isatty():
            raise DeadLetterError(
                f"refusing to replay ambiguous entry {entry.id} without confirmation: {entry.job} may have "
                f"taken effect before it failed ({entry.error_type}: {entry.error_message}); verify whether "
                f"the side effect happened (`stalwart dlq show {entry.id}`), then pass --yes"
            )
        print(visible(f"Entry {entry.id} is ambiguous: {entry.message}"), file=sys.stderr)
        for line in _edit_lines(edit):
            print(line, file=sys.stderr)
        if not _confirm("Have you verified that replaying it will not do the side effect twice? Replay it?"):
            print("nothing replayed")
            return 1
    job_id = dlq.replay(entry.id, kwargs=kwargs, changes=changes, by=args.by)
    if args.json:
        print(json.dumps({"entry": entry.id, "job_id": job_id, **edit}))
    else:
        print(visible(f"replayed {entry.id} as job {job_id}"))
        for line in _edit_lines(edit):
            print(line)
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


def _changes(given: list[tuple[str, Any]] | None) -> dict[str, Any] | None:
    if not given:
        return None
    changes: dict[str, Any] = {}
    for field, value in given:
        if field in changes:
            raise DeadLetterError(f"--set {field} is given twice; set each field once")
        changes[field] = value
    return changes


def _edit_lines(edit: dict[str, Any]) -> list[str]:
    """What an edited replay changes, a line each (redacted): nothing for a replay as it was."""
    if not edit.get("kwargs_edited"):
        return []
    return [f"  {change_line(change)}" for change in edit["changes"]] or ["  no argument changed"]


def _show_dry_run(prepared: Prepared, edit: dict[str, Any], as_json: bool) -> None:
    entry = prepared.entry
    if as_json:
        shown = {"would_replay": entry.id, "ambiguous": prepared.ambiguous, **edit}
        shown.setdefault("kwargs", redact(prepared.kwargs))
        print(json.dumps(shown))
        return
    how = "with these changes:" if edit.get("kwargs_edited") else "with its arguments as they are"
    print(visible(f"would replay {entry.id} ({entry.job}) {how}"))
    for line in _edit_lines(edit):
        print(line)
    print(visible(f"  arguments: {json.dumps(edit.get('kwargs', redact(prepared.kwargs)))}"))
    if prepared.ambiguous:
        print(
            "  it is ambiguous: its job may have taken effect before it failed; verify whether the side "
            "effect happened before replaying it (the replay asks you to confirm, or needs --yes)"
        )
    print("nothing changed (--dry-run)")


def _confirm(question: str) -> bool:
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    return input().strip().lower() in ("y", "yes")


# -- every matching entry ------------------------------------------------------------------------


def _left_out_note(left_out: list[str]) -> str:
    """Two lines: how many ambiguous entries a bulk replay left out, why, and how to replay them."""
    one = len(left_out) == 1
    entries = _count(len(left_out), "ambiguous entry", "ambiguous entries")
    them = "it" if one else "them"
    return (
        f"left out {entries}: {'it' if one else 'each'} may have taken effect; verify whether its side "
        "effect happened before replaying it\n"
        f"(`stalwart dlq list --classification ambiguous --status dead` lists {them}; --include-ambiguous "
        f"replays {them} too)"
    )


def _replay_many(dlq: DeadLetterQueue, args: argparse.Namespace) -> int:
    filters = entry_filters(args)
    candidates = dlq.replay_all(dry_run=True, include_ambiguous=args.include_ambiguous, **filters)
    if args.dry_run or not candidates:
        if args.json:
            print(json.dumps({"would_replay": [e.id for e in candidates], "left_out": candidates.left_out}))
            return 0
        if candidates:
            print_table(dlq, candidates, wide_console())
        would = _count(len(candidates), "dead entry", "dead entries")
        print(f"{would} would be replayed" + ("" if args.dry_run else "; nothing to do"))
        if candidates.left_out:
            print(_left_out_note(candidates.left_out))
        return 0
    if not args.yes:
        ambiguous = sum(1 for e in candidates if e.classification is Classification.AMBIGUOUS)
        among = f", {ambiguous} of them ambiguous (verify their side effects first)" if ambiguous else ""
        if not sys.stdin.isatty():
            raise DeadLetterError(
                f"refusing to replay {_count(len(candidates), 'entry', 'entries')}{among} without "
                "confirmation; pass --yes"
            )
        if candidates.left_out:
            print(_left_out_note(candidates.left_out), file=sys.stderr)
        if not _confirm(f"Replay {_count(len(candidates), 'dead entry', 'dead entries')}{among}?"):
            print("nothing replayed")
            return 1
    columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    errors = console(stderr=True)
    # Off the terminal, a progress bar is noise in a log (rich would still end it with an empty line).
    with Progress(*columns, console=errors, transient=True, disable=not errors.is_terminal) as progress:
        task = progress.add_task("replay", total=len(candidates))
        done = replay_all(
            dlq,
            rate=args.rate,
            by=args.by,
            include_ambiguous=args.include_ambiguous,
            progress=lambda n: progress.update(task, completed=n),
            **filters,
        )
    if args.json:
        replayed = [{"entry": e.id, "job_id": e.replays[-1]} for e in done]
        print(json.dumps({"replayed": replayed, "skipped": done.skipped, "left_out": done.left_out}))
        return 0
    skipped = (
        f"; skipped {len(done.skipped)} that another operator replayed or discarded meanwhile"
        if done.skipped
        else ""
    )
    print(f"replayed {_count(len(done), 'entry', 'entries')}{skipped}")
    if done.left_out:
        print(_left_out_note(done.left_out))
    return 0
