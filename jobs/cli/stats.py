"""``stalwart stats``: what the jobs have been doing, from the per-minute counts kept in Redis.

For people, a line per job with a column per outcome; where the full headers do
not fit the terminal (80 columns), short ones and a legend. A job's counts by
reason (``negative.card_declined``) follow on a line of their own. For scripts,
``--json``, with counts as integers (an application counter given fractions,
and durations, as numbers).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from .. import outbox, stats
from ..connection import connect
from .columns import GAP, Column, header, line, packed, widths
from .outbox import outbox_url
from .render import wide_console

# (metric, header, header where the terminal is narrow)
OUTCOMES = (
    ("succeeded", "succeeded", "ok"),
    ("negative", "negative", "neg"),
    ("retried", "retried", "retry"),
    ("snoozed", "snoozed", "snooze"),
    ("dead_lettered", "dead-lettered", "dead"),
    ("abandoned", "abandoned", "aband"),
)
LEGEND = ("ok succeeded", "neg negative", "dead dead-lettered", "aband abandoned (worker died)")
DURATION = "duration_ms"


def count(value: float) -> int | float:
    """A count as an integer; an application counter given fractions stays a number with them."""
    return int(value) if float(value).is_integer() else value


def cmd_stats(args: argparse.Namespace) -> int:
    connection = connect()
    # Nothing older than the retention is kept: a longer --since would only read empty minutes.
    since_s = min(args.since.total_seconds(), stats.retention_s())
    totals = stats.read(connection, since_s)
    app = totals.pop(stats.APP, {})
    now = stats.gauges(connection)
    url = outbox_url(args)
    if url is not None:
        backlog = outbox.backlog(url)
        now["outbox"] = {"rows": backlog.rows, "oldest_s": backlog.oldest_s}
    if args.json:
        jobs = {
            job: {name: value if name == DURATION else count(value) for name, value in metrics.items()}
            for job, metrics in totals.items()
        }
        counters = {name: count(value) for name, value in app.items()}
        print(json.dumps({"since_s": since_s, "jobs": jobs, "app": counters, "gauges": now}))
        return 0
    console = wide_console()
    window = f"{since_s / 60:g} min"
    if totals:
        console.print(Text(f"jobs, last {window}", style="bold"))
        _jobs(console, totals)
    else:
        console.print(f"No jobs ended in the last {window}.")
    if app:
        console.print(Text("\nyour counters", style="bold"))
        rows = [[name, count(value)] for name, value in sorted(app.items())]
        _print(console, (Column("name", cut=True), Column("count", right=True)), rows)
    console.print(Text("\nnow", style="bold"))
    queue_columns = (
        Column("queue", cut=True),
        *(Column(c, right=True) for c in ("queued", "scheduled", "started")),
    )
    rows = [
        [name, *(counts[k] for k in ("queued", "scheduled", "started"))]
        for name, counts in sorted(now["queues"].items())
    ]
    _print(console, queue_columns, rows)
    dead = now["dead_letter"]
    console.print("dead-letter queue: " + ", ".join(f"{k} {v}" for k, v in dead.items()))
    if "outbox" in now:
        waiting, oldest = now["outbox"]["rows"], now["outbox"]["oldest_s"]
        age = "" if oldest is None else f", the oldest committed {oldest:.1f} s ago"
        console.print(f"outbox: {waiting} jobs not yet in Redis{age}")
    return 0


def _jobs(console: Console, totals: dict[str, dict[str, float]]) -> None:
    """A line per job, its counts by reason under it; short headers and a legend where the full do not fit."""
    rows: list[list[object]] = []
    for job, metrics in sorted(totals.items()):
        runs = metrics.get("runs", 0)
        average = f"{metrics.get(DURATION, 0) / runs:.1f}" if runs else "-"
        rows.append([job, *(count(metrics.get(metric, 0)) for metric, _, _ in OUTCOMES), average])
    narrow = _needed(_columns(short=False), rows) > console.width
    columns = _columns(short=narrow)
    sizes = widths(columns, rows, console.width)
    console.print(header(columns, sizes), no_wrap=True, overflow="ellipsis", crop=True)
    for row, metrics in zip(rows, (totals[job] for job in sorted(totals)), strict=True):
        console.print(line(columns, row, sizes), no_wrap=True, overflow="ellipsis", crop=True)
        details = [f"{name} {count(value)}" for name, value in sorted(metrics.items()) if "." in name]
        for shown in packed(details, console.width, indent=2):  # names from Redis: as text, never split
            console.print(shown, no_wrap=True, crop=True)
    if narrow:
        for shown in packed(LEGEND, console.width):
            console.print(shown, style="dim", no_wrap=True, crop=True)


def _columns(short: bool) -> tuple[Column, ...]:
    return (
        Column("job", cut=True, min_width=12, keep_end=True),
        *(Column(brief if short else name, right=True) for _, name, brief in OUTCOMES),
        Column("avg ms", right=True),
    )


def _needed(columns: tuple[Column, ...], rows: list[list[object]]) -> int:
    """How many columns of the terminal the table takes when no cell is cut."""
    return sum(widths(columns, rows, 1 << 30)) + len(GAP) * (len(columns) - 1)


def _print(console: Console, columns: Sequence[Column], rows: Sequence[Sequence[object]]) -> None:
    sizes = widths(columns, rows, console.width)
    console.print(header(columns, sizes), no_wrap=True, overflow="ellipsis", crop=True)
    for row in rows:
        console.print(line(columns, row, sizes), no_wrap=True, overflow="ellipsis", crop=True)
