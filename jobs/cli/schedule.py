"""``stalwart schedule``: the periodic jobs the workers published, with their next tick, last tick and last
outcome.

Times are UTC. For people, a line per job (80 columns: the job's name gives way first); the last outcome
is that of the last tick's run, ``pending`` until it ends. For scripts, ``--json``, with times as ISO
8601, and the outcome of the latest run that ended.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from typing import Any

from rich.text import Text

from ..connection import connect
from ..model.periodic import PeriodicSpec
from ..model.schedule import iso
from ..runtime import periodic
from ..runtime.periodic import State
from .columns import Column, header, line, widths
from .render import wide_console

COLUMNS = (
    Column("job", cut=True, min_width=12, keep_end=True),
    Column("schedule", cut=True, min_width=10),
    Column("next (UTC)"),
    Column("last tick"),
    Column("last outcome"),
)


def _short(t: float | None) -> str:
    """``11-30 03:00:00``: a tick's time in UTC, short enough for 80 columns."""
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, timezone.utc).strftime("%m-%d %H:%M:%S")


def _iso(t: float | None) -> str | None:
    return None if t is None else iso(t)


def row(spec: PeriodicSpec, state: State, now: float) -> dict[str, Any]:
    """One job as ``--json`` shows it."""
    recorded = state.recorded
    next_tick = spec.schedule.next_after(max(now, recorded) if recorded is not None else now)
    pending = state.last_enqueued is not None and (
        state.ended_tick is None or state.ended_tick < state.last_enqueued
    )
    return {
        "job": spec.name,
        "queue": spec.queue,
        "schedule": spec.schedule.describe(),
        "catch_up": spec.catch_up,
        "grace_s": spec.grace_s,
        "next_tick": iso(next_tick),
        "last_tick": _iso(state.last_enqueued),
        "last_job_id": state.last_job_id,
        "last_tick_pending": pending,
        "last_outcome": state.last_outcome,
        "last_outcome_tick": _iso(state.ended_tick),
        "last_outcome_at": state.last_outcome_at,
        "first_seen": _iso(state.start),
    }


def cmd_schedule(args: argparse.Namespace) -> int:
    connection = connect()
    now = periodic.redis_now(connection)
    specs = periodic.specs(connection)
    current = periodic.states(connection, [s.name for s in specs])
    if args.json:
        print(json.dumps({"now": iso(now), "jobs": [row(s, current[s.name], now) for s in specs]}))
        return 0
    console = wide_console()
    if not specs:
        console.print("No periodic jobs: a worker publishes the periodic jobs it imports when it starts.")
        return 0
    rows: list[list[object]] = []
    for spec in specs:
        shown = row(spec, current[spec.name], now)
        # The last tick's outcome: "pending" while its run has not ended (--json also has the one before).
        outcome = "pending" if shown["last_tick_pending"] else (current[spec.name].last_outcome or "-")
        next_tick = datetime.fromisoformat(shown["next_tick"]).timestamp()
        rows.append(
            [
                spec.name,
                shown["schedule"],
                _short(next_tick),
                _short(current[spec.name].last_enqueued),
                outcome,
            ]
        )
    sizes = widths(COLUMNS, rows, console.width)
    console.print(Text(f"periodic jobs, now {_short(now)} UTC", style="bold"))
    console.print(header(COLUMNS, sizes), no_wrap=True, overflow="ellipsis", crop=True)
    for cells in rows:
        console.print(line(COLUMNS, cells, sizes), no_wrap=True, overflow="ellipsis", crop=True)
    return 0
