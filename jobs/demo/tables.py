"""How a set of the demo's jobs ended (``Tally``), and the tables that show it and the dead-letter queue.

Everything fits a terminal of 80 columns.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import redis
from rich.table import Table
from rich.text import Text

from .. import _keys
from ..dead_letter import DeadLetterEntry, DeadLetterQueue
from ..model.outcome import Classification, Status
from ..rq_adapter.handle import statuses
from ..rq_adapter.job_format import job_key

POISON_LABEL = "poison (the forged payload)"


@dataclass
class Tally:
    """How a set of jobs ended."""

    statuses: Counter[Status] = field(default_factory=Counter)
    retried_jobs: int = 0
    retries: int = 0
    negative: Counter[str] = field(default_factory=Counter)
    dead: Counter[str] = field(default_factory=Counter)


def tally(
    connection: redis.Redis,
    job_ids: list[str],
    stats_before: dict[str, float] | None = None,
    stats_after: dict[str, float] | None = None,
) -> Tally:
    """How ``job_ids`` ended; negative outcomes by reason from the statistics' growth, when given both."""
    result = Tally(statuses=Counter(s for s in statuses(connection, job_ids) if s is not None))
    with connection.pipeline(transaction=False) as pipeline:
        for job_id in job_ids:
            pipeline.hget(job_key(job_id), _keys.FIELD_ATTEMPT)
        attempts = [int(raw) if raw else 0 for raw in pipeline.execute()]
    result.retried_jobs = sum(1 for a in attempts if a > 1)
    result.retries = sum(a - 1 for a in attempts if a > 1)
    if stats_before is not None and stats_after is not None:
        for metric, value in stats_after.items():
            added = int(value - stats_before.get(metric, 0))
            if metric.startswith("negative.") and added:
                result.negative[metric.removeprefix("negative.")] = added
    result.dead = dead_by_classification(DeadLetterQueue(connection), job_ids)
    return result


def dead_by_classification(dlq: DeadLetterQueue, job_ids: list[str]) -> Counter[str]:
    """How many of ``job_ids`` are dead-lettered now, by classification."""
    return Counter(str(e.classification) for e in dlq.get_many(job_ids) if e.status == "dead")


def outcome_table(result: Tally, total: int, total_label: str = "total") -> Table:
    """One row per ending (negative by reason, dead-lettered by classification), retries, and the total."""
    table = Table(box=None, padding=(0, 2, 0, 4))
    table.add_column("outcome")
    table.add_column("jobs", justify="right")
    table.add_row("succeeded", str(result.statuses[Status.SUCCEEDED]))
    table.add_row("negative (declined card)", str(result.statuses[Status.NEGATIVE]))
    for reason, count in sorted(result.negative.items()):
        table.add_row(f"  {reason}", str(count))
    table.add_row("dead-lettered", str(result.statuses[Status.DEAD_LETTERED]))
    for classification, count in sorted(result.dead.items()):
        label = POISON_LABEL if classification == str(Classification.POISON) else classification
        table.add_row(f"  {label}", str(count))
    table.add_row(
        Text("retried (jobs / retries)", style="dim"),
        Text(f"{result.retried_jobs} / {result.retries}", style="dim"),
    )
    table.add_row(Text(total_label, style="bold"), Text(str(total), style="bold"))
    return table


def dead_letter_lines(entries: list[DeadLetterEntry], width: int) -> list[Text]:
    """The entries grouped by classification and error, most common first, each with an example under it.

    The example, an error message, has a line of its own, cut with ``…`` at ``width``.
    """
    groups = Counter((str(e.classification), e.error_type) for e in entries)
    if not groups:
        return []
    counts = max(len(str(count)) for count in groups.values())
    kinds = max(len(classification) for classification, _ in groups)
    lines = []
    for (classification, error_type), count in groups.most_common():
        example = next(
            e for e in entries if (str(e.classification), e.error_type) == (classification, error_type)
        )
        lines.append(Text(f"    {count:>{counts}}  {classification:<{kinds}}  {error_type}"))
        shown = Text(" " * (6 + counts) + "e.g. " + _summary(example))
        shown.truncate(width, overflow="ellipsis")
        lines.append(Text(shown.plain, style="dim"))
    return lines


def _summary(entry: DeadLetterEntry) -> str:
    who = f"customer {entry.kwargs['customer_id']}" if "customer_id" in entry.kwargs else entry.job
    return f"{who}, {entry.attempts} attempt{'s' if entry.attempts != 1 else ''}: {entry.error_message}"
