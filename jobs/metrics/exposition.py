"""A ``Snapshot`` as Prometheus text exposition format (version 0.0.4): pure, no Redis, no clock.

Each family is written once, its ``# HELP`` and ``# TYPE`` first and its samples together, sorted, so
two scrapes of the same state are the same text. Label values come from Redis (job names, reasons,
queue and circuit names) and are escaped as the format requires: backslash, double quote, newline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .. import stats
from .snapshot import Snapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Outcomes of one attempt (counts.py): each attempt ends in exactly one of them.
OUTCOMES = ("succeeded", "negative", "retried", "dead_lettered", "snoozed")
QUEUE_STATES = ("queued", "scheduled", "started")
# Per-job counters that are not an outcome: metric in the stats -> (family, help)
JOB_COUNTERS = {
    "abandoned": ("stalwart_job_abandonments_total", "Attempts whose worker died (settled by a reaper)."),
    "finished_late": (
        "stalwart_job_late_finishes_total",
        "Attempts that ended after another worker had settled them (their heartbeats lapsed).",
    ),
}
# Counters by a detail: prefix of the metric in the stats -> (family, label, help)
DETAILED = {
    "negative.": ("stalwart_job_negatives_total", "reason", "Negative outcomes by job and reason."),
    "dead_lettered.": (
        "stalwart_job_dead_letters_total",
        "classification",
        "Jobs dead-lettered, by job and classification.",
    ),
}

Labels = tuple[tuple[str, str], ...]


@dataclass
class Family:
    """One metric family: its name, type, help and samples ``(suffix, labels, value)``."""

    name: str
    kind: str
    help: str
    samples: Sequence[tuple[str, Labels, float]]

    def lines(self) -> Iterator[str]:
        yield f"# HELP {self.name} {_escape_help(self.help)}"
        yield f"# TYPE {self.name} {self.kind}"
        for suffix, labels, value in self.samples:
            yield f"{self.name}{suffix}{_labels(labels)} {_value(value)}"


def render(snapshot: Snapshot) -> str:
    """The whole exposition, ending with a newline."""
    return "".join(f"{line}\n" for family in families(snapshot) for line in family.lines())


def families(snapshot: Snapshot) -> list[Family]:
    """Every family, in a fixed order; a family with no samples is still declared (its HELP and TYPE)."""
    jobs = {s: m for s, m in snapshot.totals.items() if s != stats.APP}
    found = [
        Family(
            "stalwart_jobs_total",
            "counter",
            "Attempts ended, by job and outcome (all time; a retry or a snooze is an attempt's outcome).",
            [
                ("", (("job", job), ("outcome", outcome)), metrics[outcome])
                for job, metrics in sorted(jobs.items())
                for outcome in OUTCOMES
                if outcome in metrics
            ],
        )
    ]
    for prefix, (name, label, text) in DETAILED.items():
        samples: list[tuple[str, Labels, float]] = [
            ("", (("job", job), (label, metric[len(prefix) :])), value)
            for job, metrics in sorted(jobs.items())
            for metric, value in sorted(metrics.items())
            if metric.startswith(prefix)
        ]
        found.append(Family(name, "counter", text, samples))
    for metric, (name, text) in JOB_COUNTERS.items():
        samples = [
            ("", (("job", job),), metrics[metric])
            for job, metrics in sorted(jobs.items())
            if metric in metrics
        ]
        found.append(Family(name, "counter", text, samples))
    found.append(_durations(snapshot))
    found.append(
        Family(
            "stalwart_app_events_total",
            "counter",
            "Your own counters (jobs.stats.incr), by name.",
            [("", (("name", n),), v) for n, v in sorted(snapshot.totals.get(stats.APP, {}).items())],
        )
    )
    found.append(
        Family(
            "stalwart_queue_jobs",
            "gauge",
            "Jobs per queue now: queued (waiting), scheduled (due later) and started (running).",
            [
                ("", (("queue", queue), ("state", state)), counts.get(state, 0))
                for queue, counts in sorted(snapshot.queues.items())
                for state in QUEUE_STATES
            ],
        )
    )
    found.append(
        Family(
            "stalwart_dead_letter_entries",
            "gauge",
            "Dead-letter entries now, by status.",
            [("", (("status", s),), n) for s, n in snapshot.dead_letter.items()],
        )
    )
    found.append(
        Family(
            "stalwart_circuit_open",
            "gauge",
            "1 while a circuit refuses calls (open, or half-open with its one trial), 0 while closed.",
            [
                ("", (("circuit", c),), 0 if s == "closed" else 1)
                for c, s in sorted(snapshot.circuits.items())
            ],
        )
    )
    return found


def _durations(snapshot: Snapshot) -> Family:
    """Per job, cumulative buckets, then ``_sum`` (from the totals) and ``_count`` (the ``+Inf`` bucket)."""
    samples: list[tuple[str, Labels, float]] = []
    for job, buckets in sorted(snapshot.durations.items()):
        bounds = sorted(
            {stats.bound_label(b) for b in stats.DURATION_BUCKETS_S} | {b for b in buckets if _is_bound(b)},
            key=float,
        )
        running = 0
        for bound in bounds:
            running += buckets.get(bound, 0)
            samples.append(("_bucket", (("job", job), ("le", bound)), running))
        running += buckets.get(stats.INF, 0)
        samples.append(("_bucket", (("job", job), ("le", stats.INF)), running))
        total_ms = snapshot.totals.get(job, {}).get(stats.DURATION, 0.0)
        samples.append(("_sum", (("job", job),), total_ms / 1000))
        samples.append(("_count", (("job", job),), running))
    return Family("stalwart_job_duration_seconds", "histogram", "How long attempts ran, by job.", samples)


def _is_bound(label: str) -> bool:
    """A finite bucket bound read back from Redis (anything else there is ignored, not rendered)."""
    try:
        return math.isfinite(float(label))
    except ValueError:
        return False


def escape_label(value: str) -> str:
    """A label value as the exposition format requires it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(labels: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{name}="{escape_label(value)}"' for name, value in labels)
    return f"{{{inner}}}" if inner else ""


def _value(value: float) -> str:
    """An integer as one (counts are), anything else as Python writes a float (``NaN`` and ``+Inf`` too)."""
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return repr(number)
