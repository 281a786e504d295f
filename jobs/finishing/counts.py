"""The statistics one attempt's end adds: its outcome (with reason or classification) and its duration."""

from __future__ import annotations

from ..model.outcome import Classification, Outcome, Status

Count = tuple[str, str, float]


def counts(outcome: Outcome) -> list[Count]:
    """``(job, metric, amount)`` for the end of one attempt, the job's own ``stats.incr`` calls included."""
    job = outcome.job
    if outcome.snoozed_since is not None:
        return [(job, "snoozed", 1)]
    counted: list[Count] = [*outcome.app_counts]
    if outcome.abandoned:
        counted.append((job, "abandoned", 1))
    if outcome.status is Status.NEGATIVE and outcome.negative is not None:
        counted += [(job, "negative", 1), (job, f"negative.{outcome.negative.reason}", 1)]
    elif outcome.status in (Status.SCHEDULED, Status.QUEUED):
        counted.append((job, "retried", 1))
    elif outcome.status is Status.DEAD_LETTERED:
        counted += [(job, "dead_lettered", 1), (job, f"dead_lettered.{outcome.classification}", 1)]
    else:
        counted.append((job, "succeeded", 1))
    if outcome.classification is not Classification.POISON and not outcome.abandoned:
        counted += [(job, "runs", 1), (job, "duration_ms", outcome.duration_ms)]
    return counted
