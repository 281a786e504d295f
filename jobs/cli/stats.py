"""``stalwart stats``: what the jobs have been doing, from the per-minute counts kept in Redis."""

from __future__ import annotations

import argparse
import json

from rich.table import Table

from .. import stats
from ..connection import connect
from .render import text, wide_console

OUTCOMES = ("succeeded", "negative", "retried", "snoozed", "dead_lettered", "abandoned")


def cmd_stats(args: argparse.Namespace) -> int:
    connection = connect()
    # Nothing older than the retention is kept: a longer --since would only read empty minutes.
    since_s = min(args.since.total_seconds(), stats.retention_s())
    totals = stats.read(connection, since_s)
    app = totals.pop(stats.APP, {})
    now = stats.gauges(connection)
    if args.json:
        print(json.dumps({"since_s": since_s, "jobs": totals, "app": app, "gauges": now}))
        return 0
    console = wide_console()
    window = f"{since_s / 60:g} min"
    table = Table(title=f"jobs, last {window}", header_style="bold")
    table.add_column("job", no_wrap=True)
    for column in (*OUTCOMES, "avg ms", "details"):
        table.add_column(column, justify="right" if column != "details" else "left")
    for job, metrics in sorted(totals.items()):
        runs = metrics.get("runs", 0)
        average = f"{metrics.get('duration_ms', 0) / runs:.1f}" if runs else "-"
        details = ", ".join(f"{name} {value:g}" for name, value in sorted(metrics.items()) if "." in name)
        # Job and metric names come from Redis: shown as text (no markup, no control characters).
        table.add_row(text(job), *(f"{metrics.get(o, 0):g}" for o in OUTCOMES), average, text(details))
    console.print(table if totals else f"No jobs ended in the last {window}.")
    if app:
        counters = Table(title="your counters", header_style="bold")
        counters.add_column("name")
        counters.add_column("count", justify="right")
        for name, value in sorted(app.items()):
            counters.add_row(text(name), f"{value:g}")
        console.print(counters)
    queues = Table(title="now", header_style="bold")
    for column in ("queue", "queued", "scheduled", "started"):
        queues.add_column(column, justify="left" if column == "queue" else "right")
    for name, counts in sorted(now["queues"].items()):
        queues.add_row(text(name), *(str(counts[k]) for k in ("queued", "scheduled", "started")))
    console.print(queues)
    dead = now["dead_letter"]
    console.print("dead-letter queue: " + ", ".join(f"{k} {v}" for k, v in dead.items()))
    return 0
