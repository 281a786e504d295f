"""The commands for jobs on their way in and in time: ``enqueue`` (now, in a while, at a time),
``schedule`` (periodic jobs) and ``outbox`` (the transactional outbox)."""

from __future__ import annotations

from typing import Any

from .declare import add_import_option, command, group, json_option, outbox_option
from .values import age, assignment, aware_time


def enqueue(commands: Any) -> None:
    sub = command(
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
    json_option(sub, "the job's id, queue, status and due time")


def schedule(commands: Any) -> None:
    sub = command(
        commands,
        "schedule",
        "schedule:cmd_schedule",
        "periodic jobs: their schedule, next tick, last tick and last outcome",
        description=(
            "The periodic jobs the workers published (each worker publishes those it imports when it "
            "starts): their schedule, next tick, last tick and the last tick's outcome. Times in UTC."
        ),
    )
    json_option(sub, "every periodic job and its state")


def outbox(commands: Any) -> None:
    subs = group(
        commands,
        "outbox",
        "the transactional outbox: its table's SQL, creating it, its backlog",
        "The outbox table in the application's database, where jobs enqueued in a transaction wait "
        "for a worker's relay (stalwart worker --outbox URL) to move them to Redis.",
    )
    command(
        subs, "sql", "outbox:cmd_sql", "print the SQL that creates the outbox table (SQLite and PostgreSQL)"
    )
    install = command(subs, "install", "outbox:cmd_install", "create the outbox table, if missing")
    outbox_option(install, "the database")
    status = command(subs, "status", "outbox:cmd_status", "rows waiting in the outbox, and the oldest's age")
    outbox_option(status, "the database")
    json_option(status, "the backlog")
