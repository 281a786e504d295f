"""The ``stalwart`` command line: every command and option, and nothing they run.

Each command names the function that runs it as ``"module:function"`` under
``jobs.cli``; ``main`` imports only that module, so ``stalwart dlq list`` never
loads the worker.
"""

from __future__ import annotations

import argparse
from importlib import metadata
from typing import Any, NoReturn

from ..demo import STORY
from ..model.outcome import Classification
from .values import LIMIT, age, assignment, aware_time, bounded_int, moment, positive_number, queue_name

DLQ_STATUSES = ("dead", "replayed", "resolved", "discarded")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line that says what to run for help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


# -- commands ------------------------------------------------------------------------------------


def _group(commands: Any, name: str, help_text: str, description: str) -> Any:
    """A command with commands of its own (``stalwart dlq list``); returns where to add them."""
    group = commands.add_parser(name, help=help_text, description=description)
    return group.add_subparsers(
        title="commands", dest=f"{name}_command", required=True, metavar="COMMAND", parser_class=Parser
    )


def _command(commands: Any, name: str, run: str, help_text: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A sub-command; its --help starts with what it does (``help_text``, unless a description is given)."""
    kwargs.setdefault("description", _sentence(help_text))
    sub: argparse.ArgumentParser = commands.add_parser(name, help=help_text, **kwargs)
    sub.set_defaults(parser=sub, run=run)
    return sub


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _json_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"{what} as JSON, for scripts")


def _entry_id(parser: argparse.ArgumentParser, nargs: str | None = None) -> None:
    parser.add_argument(
        "id",
        nargs=nargs,
        help="the entry's id, or any unique start of it (at least as much as `dlq list` shows)",
    )


def _by_option(parser: argparse.ArgumentParser, doing: str) -> None:
    parser.add_argument("--by", help=f"who is {doing}, for the audit trail (default: user@host)")


def version() -> str:
    """The installed package's version (``stalwart --version``)."""
    try:
        return metadata.version("stalwart")
    except metadata.PackageNotFoundError:
        return "unknown (not installed: run from a checkout)"


def add_import_option(parser: argparse.ArgumentParser, what: str, required: bool = True) -> None:
    """The ``--import MODULE`` option whose modules ``modules.import_job_modules`` imports."""
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        required=required,
        metavar="MODULE",
        help=f"module that {what} (repeatable)",
    )


def _outbox_option(parser: argparse.ArgumentParser, what: str, required: bool = False) -> None:
    parser.add_argument(
        "--outbox",
        metavar="URL",
        required=required,
        help=f"{what}: sqlite:///PATH or postgresql://USER@HOST:PORT/DB (default: STALWART_OUTBOX_URL)",
    )


def _worker(commands: Any) -> None:
    worker = _command(
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
    worker.add_argument("--log-level", default="INFO", choices=LOG_LEVELS, help="log level (default INFO)")
    _outbox_option(worker, "also relay the jobs committed to the outbox of this database to Redis")
    server = _command(
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
        _command(actions, action, "worker:cmd_redis", text)


def _dlq(commands: Any) -> None:
    subs = _group(
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

    listing = _command(subs, "list", "dlq:cmd_list", "list entries, most recent failure first")
    filtered(listing)
    listing.add_argument("--limit", type=LIMIT, default=50, help="at most this many (default 50)")
    listing.add_argument(
        "--json", action="store_true", help="one JSON object a line (ids whole), for scripts"
    )

    show = _command(
        subs,
        "show",
        "dlq:cmd_show",
        "show one entry: the failure, every attempt with its traceback, the audit",
    )
    _entry_id(show)
    _json_option(show, "the whole entry (arguments redacted)")

    replay = _command(
        subs,
        "replay",
        "dlq_replay:cmd_replay",
        "enqueue an entry's job again (fresh attempts, same idempotency key)",
    )
    _entry_id(replay, nargs="?")
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
    _by_option(replay, "replaying")
    _json_option(replay, "the entries replayed and their new job ids")

    discard = _command(
        subs, "discard", "dlq:cmd_discard", "close an entry without replaying it; the reason is kept"
    )
    _entry_id(discard)
    discard.add_argument("--reason", required=True, help="why, for a colleague reading the audit trail later")
    _by_option(discard, "discarding")
    _json_option(discard, "the entry discarded")

    export = _command(subs, "export", "dlq:cmd_export", "write entries as JSON lines (arguments redacted)")
    filtered(export)
    export.add_argument("--limit", type=LIMIT, default=None, help="at most this many")
    export.add_argument("--output", metavar="FILE", help="write here instead of standard output")

    archived = _command(
        subs, "archive", "dlq:cmd_archive", "move entries older than an age to a JSONL file, then delete them"
    )
    archived.add_argument("--older-than", type=age, required=True, metavar="AGE", help="e.g. 90d")
    archived.add_argument("--to", required=True, metavar="FILE", help="the JSONL file to append them to")

    swept = _command(
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
    sub = _command(
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
    _outbox_option(sub, "also show the backlog of the outbox in this database")


def _outbox(commands: Any) -> None:
    subs = _group(
        commands,
        "outbox",
        "the transactional outbox: its table's SQL, creating it, its backlog",
        "The outbox table in the application's database, where jobs enqueued in a transaction wait "
        "for a worker's relay (stalwart worker --outbox URL) to move them to Redis.",
    )
    _command(
        subs, "sql", "outbox:cmd_sql", "print the SQL that creates the outbox table (SQLite and PostgreSQL)"
    )
    install = _command(subs, "install", "outbox:cmd_install", "create the outbox table, if missing")
    _outbox_option(install, "the database")
    status = _command(subs, "status", "outbox:cmd_status", "rows waiting in the outbox, and the oldest's age")
    _outbox_option(status, "the database")
    _json_option(status, "the backlog")


def _metrics(commands: Any) -> None:
    sub = _command(
        commands,
        "metrics",
        "metrics:cmd_metrics",
        "serve Prometheus metrics for the whole fleet on /metrics",
        description=(
            "Serve GET /metrics in Prometheus text format: counts per job and outcome (all time), job "
            "durations, queue depths, dead-letter entries and circuit states, read from Redis at each "
            "scrape. Redis is found as the worker finds it (REDIS_URL, else the project's embedded Redis)."
        ),
    )
    sub.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sub.add_argument(
        "--port", type=bounded_int(0, 65535), default=9808, help="port (default 9808; 0: any free one)"
    )
    sub.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host that is not a loopback address (anyone who reaches it reads job names)",
    )


def _console(commands: Any) -> None:
    sub = _command(
        commands,
        "console",
        "console:cmd_console",
        "serve the web console: dead letters, queues, rhythm, a JSON API and /metrics",
        description=(
            "Serve the web console (installed with stalwart[console]): the dead-letter queue with filters, "
            "root causes, replay (with edited arguments), discard and bulk actions; the queues; the "
            "per-minute rhythm; a JSON API; and /metrics. Tokens come from STALWART_CONSOLE_TOKENS "
            "(name:role:token, comma-separated); without them it serves this machine only."
        ),
    )
    sub.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sub.add_argument(
        "--port", type=bounded_int(0, 65535), default=9809, help="port (default 9809; 0: any free one)"
    )
    sub.add_argument(
        "--root-path",
        default="",
        metavar="PREFIX",
        help="the path it is served under behind a reverse proxy, e.g. /stalwart (else X-Forwarded-Prefix)",
    )
    add_import_option(sub, "defines the job classes (to check replays' arguments)", required=False)


def _enqueue(commands: Any) -> None:
    sub = _command(
        commands,
        "enqueue",
        "enqueue:cmd_enqueue",
        "enqueue a job now, in a while (--in) or at a time (--at)",
        description=(
            "Enqueue one job by its registered name, with its arguments checked as Job.enqueue checks "
            "them. A unique job already queued, scheduled or running is not enqueued again: its id is "
            "printed. Redis is found as the worker finds it (REDIS_URL, else the project's embedded Redis)."
        ),
    )
    sub.add_argument("job", metavar="JOB", help="the job's registered name, e.g. billing.SendReminder")
    add_import_option(sub, "defines the job class")
    sub.add_argument(
        "--arg",
        dest="arguments",
        action="append",
        default=[],
        type=assignment,
        metavar="NAME=VALUE",
        help="an argument of perform (repeatable): VALUE is read as JSON, else taken as a string",
    )
    when = sub.add_mutually_exclusive_group()
    when.add_argument("--in", dest="delay", type=age, metavar="AGE", help="due this long from now, e.g. 10m")
    when.add_argument(
        "--at", type=aware_time, metavar="TIME", help="due at this time, ISO 8601 with a time zone"
    )
    _json_option(sub, "the job's id, queue, status and due time")


def _schedule(commands: Any) -> None:
    sub = _command(
        commands,
        "schedule",
        "schedule:cmd_schedule",
        "periodic jobs: their schedule, next tick, last tick and last outcome",
        description=(
            "The periodic jobs the workers published (each worker publishes those it imports when it "
            "starts): their schedule, next tick, last tick and the last tick's outcome. Times in UTC."
        ),
    )
    _json_option(sub, "every periodic job and its state")


def _checks(commands: Any) -> None:
    for name, run, text in (
        ("check", "checks:cmd_check", "run every invariant and rule once; exit 1 if any is violated"),
        (
            "watch",
            "checks:cmd_watch",
            "run each invariant on its schedule and the rules every minute, until stopped",
        ),
    ):
        sub = _command(commands, name, run, text, description=text)
        add_import_option(sub, "declares invariants and rules")
        sub.add_argument(
            "--log-level", default="WARNING", choices=LOG_LEVELS, help="log level (default WARNING)"
        )


def _demo(commands: Any) -> None:
    demo = _command(
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
    _metrics(commands)
    _console(commands)
    _enqueue(commands)
    _outbox(commands)
    _schedule(commands)
    _checks(commands)
    _demo(commands)
    return parser
