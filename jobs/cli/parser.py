"""The ``stalwart`` command line: every command and option, and nothing they run.

Each command names the function that runs it as ``"module:function"`` under
``jobs.cli``; ``main`` imports only that module, so ``stalwart dlq list`` never
loads the worker.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..demo import STORY
from ..model.outcome import Classification
from . import parser_flow, parser_web
from .declare import (
    DLQ_STATUSES,
    LOG_LEVELS,
    Parser,
    add_import_option,
    by_option,
    command,
    entry_id,
    group,
    json_option,
    outbox_option,
    version,
)
from .values import LIMIT, age, assignment, bounded_int, moment, positive_number, queue_name


def _worker(commands: Any) -> None:
    worker = command(
        commands,
        "worker",
        "worker:cmd_worker",
        "run a worker",
        description=(
            "Run jobs from the given queues (by default, every queue the imported jobs use). REDIS_URL "
            "selects Redis; without it, the project's embedded Redis is started (or reused): in "
            "STALWART_HOME, else in the .stalwart folder of the project of the imported modules (the "
            "nearest .stalwart, pyproject.toml, setup.py, setup.cfg or .git above them)."
        ),
    )
    add_import_option(worker, "defines job classes")
    worker.add_argument(
        "--queue",
        dest="queues",
        action="append",
        type=queue_name,
        metavar="NAME",
        help="queue to take jobs from, in priority order (repeatable; default: every queue its jobs use)",
    )
    worker.add_argument(
        "--burst", action="store_true", help="exit once nothing is queued and nothing is scheduled"
    )
    worker.add_argument(
        "--in-process",
        action="store_true",
        help="run jobs in the worker process (faster; no isolation from crashing jobs)",
    )
    worker.add_argument(
        "--threads",
        type=bounded_int(1, 1000),
        metavar="N",
        help="run N jobs at once in threads of the worker process, for jobs that wait on the network "
        "(implies --in-process unless --processes is given)",
    )
    worker.add_argument(
        "--processes",
        type=bounded_int(1, 1000),
        metavar="N",
        help="a pool of N worker processes, forked once, each running many jobs (a process that dies takes "
        "only its own jobs down, and is replaced)",
    )
    worker.add_argument(
        "--max-jobs-per-child",
        type=LIMIT,
        metavar="N",
        help="with --processes: replace a process once it has run N jobs (bounds a leak)",
    )
    worker.add_argument("--log-level", default="INFO", choices=LOG_LEVELS, help="log level (default INFO)")
    outbox_option(worker, "also relay the jobs committed to the outbox of this database to Redis")
    server = command(
        commands,
        "redis",
        "worker:cmd_redis",
        "manage the embedded Redis server",
        description=(
            "Manage the embedded Redis server that the CLI uses when REDIS_URL is not set "
            "(installed with stalwart[embedded]). It runs on its own until stopped, with its data "
            "kept from one run to the next in STALWART_HOME, else in the .stalwart folder of the "
            "project around the current directory (the nearest .stalwart, pyproject.toml, setup.py, "
            "setup.cfg or .git above it), else in ./.stalwart."
        ),
    )
    actions = server.add_subparsers(
        title="actions", dest="action", required=True, metavar="ACTION", parser_class=Parser
    )
    for action, text in (
        ("start", "start the embedded Redis server, or find it running, and print its URL"),
        ("stop", "stop the embedded Redis server (its data is kept)"),
        ("url", "print the URL of the running embedded Redis server, e.g. to set REDIS_URL; exit 1 if none"),
    ):
        command(actions, action, "worker:cmd_redis", text)


def _dlq(commands: Any) -> None:
    subs = group(
        commands,
        "dlq",
        "the dead-letter queue: list, show, replay, discard, export",
        "The dead-letter queue: every job that could not finish, as an entry that explains itself. "
        "An entry's id may be given as any unique start of it, as `dlq list` shows it.",
    )

    def filtered(sub: argparse.ArgumentParser, status: bool = True) -> None:
        sub.add_argument("--job", help="only entries of this job name")
        sub.add_argument("--error-type", help="only entries whose error has this type name")
        sub.add_argument(
            "--classification", choices=[c.value for c in Classification], help="only entries classified so"
        )
        if status:
            sub.add_argument("--status", choices=DLQ_STATUSES, help="only entries with this status")
        sub.add_argument(
            "--since", type=moment, help="failed at or after: ISO 8601 time, or an age (15m, 2h, 7d)"
        )
        sub.add_argument("--until", type=moment, help="failed at or before: ISO 8601 time, or an age")

    listing = command(subs, "list", "dlq:cmd_list", "list entries, most recent failure first")
    filtered(listing)
    listing.add_argument("--limit", type=LIMIT, default=50, help="at most this many (default 50)")
    listing.add_argument(
        "--json", action="store_true", help="one JSON object a line (ids whole), for scripts"
    )

    show = command(
        subs,
        "show",
        "dlq:cmd_show",
        "show one entry: the failure, every attempt with its traceback, the audit",
    )
    entry_id(show)
    json_option(show, "the whole entry (arguments redacted)")

    replay = command(
        subs,
        "replay",
        "dlq_replay:cmd_replay",
        "enqueue an entry's job again (fresh attempts, same idempotency key)",
    )
    entry_id(replay, nargs="?")
    replay.add_argument(
        "--kwargs", metavar="JSON", help="replay with these arguments instead, all of them (checked first)"
    )
    replay.add_argument(
        "--set",
        dest="changes",
        action="append",
        type=assignment,
        metavar="FIELD=VALUE",
        help=(
            "replay with this one argument changed, the rest kept (repeatable; checked first): VALUE is "
            "read as JSON, else taken as a string; FIELD may be a.b for a key inside an object"
        ),
    )
    replay.add_argument("--all", action="store_true", help="replay every dead entry matching the filters")
    filtered(replay, status=False)
    replay.add_argument(
        "--include-ambiguous",
        action="store_true",
        help="with --all, replay ambiguous entries too (left out otherwise: verify their side effects first)",
    )
    replay.add_argument(
        "--dry-run", action="store_true", help="show what would be replayed, and with what; change nothing"
    )
    replay.add_argument("--rate", type=positive_number, help="at most this many entries per second")
    replay.add_argument(
        "--yes",
        action="store_true",
        help="do not ask before a bulk replay or an ambiguous entry's replay (needed without a terminal)",
    )
    add_import_option(replay, "defines the job classes", required=False)
    by_option(replay, "replaying")
    json_option(replay, "the entries replayed and their new job ids")

    discard = command(
        subs, "discard", "dlq:cmd_discard", "close an entry without replaying it; the reason is kept"
    )
    entry_id(discard)
    discard.add_argument("--reason", required=True, help="why, for a colleague reading the audit trail later")
    by_option(discard, "discarding")
    json_option(discard, "the entry discarded")

    export = command(subs, "export", "dlq:cmd_export", "write entries as JSON lines (arguments redacted)")
    filtered(export)
    export.add_argument("--limit", type=LIMIT, default=None, help="at most this many")
    export.add_argument("--output", metavar="FILE", help="write here instead of standard output")

    archived = command(
        subs, "archive", "dlq:cmd_archive", "move entries older than an age to a JSONL file, then delete them"
    )
    archived.add_argument("--older-than", type=age, required=True, metavar="AGE", help="e.g. 90d")
    archived.add_argument("--to", required=True, metavar="FILE", help="the JSONL file to append them to")

    swept = command(
        subs,
        "sweep",
        "sweep:cmd_sweep",
        "move jobs left in RQ's failed registries into the dead-letter queue",
    )
    swept.add_argument(
        "--queue",
        dest="queues",
        action="append",
        type=queue_name,
        metavar="NAME",
        help="only this queue's failed registry (repeatable; default: every queue)",
    )


def _stats(commands: Any) -> None:
    sub = command(
        commands,
        "stats",
        "stats:cmd_stats",
        "counts per job and outcome, your counters, queue depths",
        description="Counts per job and outcome, your own counters, and queue depths.",
    )
    sub.add_argument(
        "--since", type=age, default=age("15m"), metavar="AGE", help="how far back (default 15m)"
    )
    sub.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    outbox_option(sub, "also show the backlog of the outbox in this database")


def _checks(commands: Any) -> None:
    for name, run, text in (
        ("check", "checks:cmd_check", "run every invariant and rule once; exit 1 if any is violated"),
        (
            "watch",
            "checks:cmd_watch",
            "run each invariant on its schedule and the rules every minute, until stopped",
        ),
    ):
        sub = command(commands, name, run, text, description=text)
        add_import_option(sub, "declares invariants and rules")
        sub.add_argument(
            "--log-level", default="WARNING", choices=LOG_LEVELS, help="log level (default WARNING)"
        )


def _demo(commands: Any) -> None:
    demo = command(
        commands,
        "demo",
        "demo:cmd_demo",
        "bill 500 customers against a flaky payment gateway, on an embedded Redis, and prove the result",
        description=STORY,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--charges", type=bounded_int(10, 10_000), default=500, help="charges to run (default 500)"
    )
    demo.add_argument("--workers", type=bounded_int(1, 8), default=2, help="worker processes (default 2)")


def build_parser() -> argparse.ArgumentParser:
    """The command line, with one sub-command per concern."""
    parser = Parser(prog="stalwart", description="Resilient background jobs on Redis and RQ.")
    parser.add_argument("--version", action="version", version=f"stalwart {version()}")
    commands = parser.add_subparsers(
        title="commands", dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )
    _worker(commands)
    _dlq(commands)
    _stats(commands)
    parser_web.metrics(commands)
    parser_web.console(commands)
    parser_flow.enqueue(commands)
    parser_flow.outbox(commands)
    parser_flow.schedule(commands)
    _checks(commands)
    _demo(commands)
    return parser
