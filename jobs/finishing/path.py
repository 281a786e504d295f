"""The finishing path: one attempt's outcome, turned into one batch of writes, whoever settles it.

The worker (a job that ran), the reaper (a job whose worker died) and the sweep
(a job RQ failed behind our back) all end a job here, so a dead-lettered job is
recorded the same way on every path: the dead-letter entry (continuing the entry
a replay came from), its alert, the statistics, and stalwart's fields in the job
hash, in the caller's pipeline, atomically with the caller's own writes (RQ's
status and registries). After the pipeline has run, ``after`` runs the job's
``on_dead_letter`` hook.

The same record feeds the log line (written by the caller), the alert and the
entry: ``Outcome.message``.

Every settler writes inside ``fence.settle``, so an attempt is settled once. A
worker that finishes an attempt someone else settled first (it stalled past its
heartbeats) records it with ``Ending.late``: one consistent final state, and a
person told (a log line, and the dead-letter entry's audit).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.client import Pipeline

from .. import _keys, stats
from ..dead_letter import DeadLetterQueue
from ..dead_letter.audit import audit_record
from ..errors import JobsError
from ..model.entry import DeadLetterEntry
from ..model.outcome import HOST, Outcome, Status
from ..rq_adapter.enqueue import FAILED_JOB_TTL_S
from ..rq_adapter.job_format import SafeRQJob
from ..rq_adapter.put import release_unique
from ..telemetry.alerts import dead_letter_alert, raise_alert
from . import fence
from .counts import Count, counts
from .hooks import after_dead_letter
from .records import entry_for
from .ticks import TickEnd, tick_end

log = logging.getLogger("stalwart.worker")

# How a job ends for good (a retry or a snooze is not an end).
ENDED = frozenset({Status.SUCCEEDED, Status.NEGATIVE, Status.DEAD_LETTERED})


@dataclass
class Ending:
    """The writes that record how one attempt of ``job`` ended."""

    connection: redis.Redis
    job_key: str
    outcome: Outcome
    fields: dict[Any, Any]
    counts: list[Count]
    entry: DeadLetterEntry | None = None
    replaced: DeadLetterEntry | None = None
    audit: dict[str, Any] | None = None
    resolves: tuple[DeadLetterEntry, dict[str, Any]] | None = None
    # The dead-letter entry this job's death would be recorded in: its own id, or the entry it replays.
    entry_id: str = ""
    # A unique job's claim (rq_adapter/put.py): released once the job has ended, so a new one may run.
    unique_claim: str | None = None
    # The end of a periodic job's run, for its schedule (None unless a tick enqueued the job).
    tick: TickEnd | None = None
    _after: bool = field(default=False, repr=False)

    def write(self, pipeline: Pipeline) -> None:
        """Queue every write in ``pipeline`` (the caller executes it, with its own writes).

        A settlement whose transaction is retried (``fence.settle``) queues them again each time.
        """
        dlq = DeadLetterQueue(self.connection)
        if self.entry is not None:
            dlq.put(self.entry, pipeline=pipeline, previous=self.replaced, audit=self.audit)
            raise_alert(dead_letter_alert(self.entry), pipeline=pipeline)
        if self.resolves is not None:
            dlq.set_status(self.resolves[0], "resolved", self.resolves[1], pipeline=pipeline)
        stats.write(pipeline, self.counts)
        pipeline.hset(self.job_key, mapping=self.fields)
        if self.unique_claim is not None and self.outcome.status in ENDED:
            release_unique(pipeline, self.unique_claim, self.outcome.job_id)
        fence.spend(pipeline, self.job_key)
        if self.entry is not None:
            pipeline.expire(self.job_key, FAILED_JOB_TTL_S)
        if self.tick is not None:
            self.tick.write(pipeline)

    def late(self, pipeline: Pipeline, state: fence.AttemptState) -> Late:
        """How to record this attempt, found already settled by someone else (``state``: the job now).

        Its side effect happened. A job that was dead-lettered meanwhile records a late success (or
        negative) as its result, and its entry, if still dead, is marked resolved: a dead entry invites a
        replay that would run the job twice. An entry already replayed, discarded or resolved, or a late
        failure, only gets an audit record. A job settled any other way (retried, so queued or running
        again) is left to its current attempt. ``pipeline`` is in immediate mode, watching the job; the
        entry is watched too, so an operator acting on it meanwhile makes the settlement decide again.
        """
        outcome = self.outcome
        late = Late(
            self.connection,
            self.job_key,
            outcome.job_id,
            outcome.job,
            records_result=False,
            fields={},
            counts=[(outcome.job, "finished_late", 1)],
        )
        ended = f"{outcome.job} (job {outcome.job_id}, attempt {outcome.attempt}) ended {outcome.status}"
        if state.outcome != Status.DEAD_LETTERED.value or state.status != "failed":
            now = state.outcome or state.status or "gone"
            late.message = (
                f"{ended} after another worker had settled the attempt (its heartbeats lapsed); the job is "
                f"{now}, so this result is not recorded: the job's current state stands"
            )
            return late
        pipeline.watch(_keys.dead_letter_entry(self.entry_id))  # type: ignore[no-untyped-call]
        entry = _entry_or_none(self.connection, self.entry_id)
        succeeded = outcome.status in (Status.SUCCEEDED, Status.NEGATIVE)
        late.records_result = succeeded
        if succeeded:
            late.fields[_keys.FIELD_OUTCOME] = outcome.status.value
        if entry is None:
            late.message = f"{ended} after it had been dead-lettered; its dead-letter entry is gone"
            return late
        by = f"worker@{HOST}"
        if not succeeded:
            failure = f"{outcome.error_type}: {outcome.error_message}"
            late.audit = audit_record("finished-late", f"failed: {failure}", by=by, job_id=outcome.job_id)
            late.message = (
                f"{ended} after it had been dead-lettered (entry {entry.id}, {entry.status}); the late "
                f"failure ({failure}) is added to the entry's audit"
            )
        elif entry.status == "dead":
            late.resolves = entry
            late.audit = audit_record("finished-late", "resolved", by=by, job_id=outcome.job_id)
            late.message = (
                f"{ended} after it had been dead-lettered as {entry.classification}: its result is recorded "
                f"and its dead-letter entry {entry.id} is marked resolved (do not replay it)"
            )
        else:
            late.audit = audit_record(
                "finished-late", f"left {entry.status}", by=by, job_id=outcome.job_id, replays=entry.replays
            )
            late.level = logging.ERROR
            late.message = (
                f"{ended} after it had been dead-lettered, and its dead-letter entry {entry.id} is already "
                f"{entry.status} (replays: {', '.join(entry.replays) or 'none'}): its side effect may have "
                "happened twice; check it"
            )
        late.entry = entry
        return late

    def after(self) -> None:
        """Once the writes are in Redis: the job's ``on_dead_letter`` hook and the size check (once)."""
        if self.entry is not None and not self._after:
            self._after = True
            after_dead_letter(self.connection, self.entry)


@dataclass
class Late:
    """The writes that record an attempt that ended after someone else settled it, and what to tell."""

    connection: redis.Redis
    job_key: str
    job_id: str
    job: str
    records_result: bool
    fields: dict[Any, Any]
    counts: list[Count]
    message: str = ""
    level: int = logging.WARNING
    entry: DeadLetterEntry | None = None
    audit: dict[str, Any] | None = None
    resolves: DeadLetterEntry | None = None

    def write(self, pipeline: Pipeline) -> None:
        """Queue the writes in ``pipeline``: the job's outcome (a recorded result), the entry, a count."""
        stats.write(pipeline, self.counts)
        if self.fields:
            pipeline.hset(self.job_key, mapping=self.fields)
        if self.resolves is not None and self.audit is not None:
            DeadLetterQueue(self.connection).set_status(
                self.resolves, "resolved", self.audit, pipeline=pipeline
            )
        elif self.entry is not None and self.audit is not None:
            pipeline.rpush(_keys.dead_letter_audit(self.entry.id), json.dumps(self.audit))

    def log(self) -> None:
        """The line that tells a person (ERROR when the job's side effect may have happened twice)."""
        extra = {"outcome": "finished_late", "job_id": self.job_id, "job": self.job}
        log.log(self.level, "job finished late: %s", self.message, extra=extra)


def finish(
    connection: redis.Redis,
    job: SafeRQJob,
    outcome: Outcome,
    *,
    audit: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
) -> Ending:
    """Plan the writes for ``outcome``; ``audit`` is the new entry's first audit record (if dead-lettered).

    A replay's entry is read first (the one extra round trip, on that rare path): a replay that dies
    continues its entry; one that succeeds resolves it.
    """
    written: dict[Any, Any] = {_keys.FIELD_OUTCOME: outcome.status.value, **(fields or {})}
    if outcome.status in (Status.SCHEDULED, Status.QUEUED, Status.DEAD_LETTERED) and outcome.history:
        written[_keys.FIELD_HISTORY] = json.dumps(outcome.history)
    if outcome.snoozed_since is not None:
        # Snoozed by an open circuit: this was not an attempt.
        written[_keys.FIELD_ATTEMPT] = outcome.attempt
        written[_keys.FIELD_SNOOZED_SINCE] = outcome.snoozed_since
    elif job.snoozed_since is not None and outcome.status is not Status.DEAD_LETTERED:
        written[_keys.FIELD_SNOOZED_SINCE] = ""  # it ran: a later snooze starts its own clock
    ending = Ending(connection, job.key, outcome, written, counts(outcome), unique_claim=job.unique_claim)
    ending.tick = tick_end(job.meta_fields, outcome, job.id)
    replay_of = job.meta_fields.get("replay_of")
    ending.entry_id = replay_of if isinstance(replay_of, str) else job.id
    original = _entry_or_none(connection, replay_of) if isinstance(replay_of, str) else None
    if outcome.status is Status.DEAD_LETTERED:
        ending.entry = entry_for(job, outcome)
        ending.audit = audit
        if original is not None:
            ending.entry = original.continued_by(ending.entry)
            ending.replaced = original
            ending.audit = audit_record(
                "replay-died",
                "dead",
                by="worker",
                job_id=job.id,
                classification=str(ending.entry.classification),
            )
    elif original is not None and outcome.status in (Status.SUCCEEDED, Status.NEGATIVE):
        resolved = audit_record(
            "replay-succeeded", "resolved", by="worker", job_id=job.id, outcome=outcome.status.value
        )
        ending.resolves = (original, resolved)
    return ending


def _entry_or_none(connection: redis.Redis, entry_id: str) -> DeadLetterEntry | None:
    try:
        return DeadLetterQueue(connection).get(entry_id)
    except JobsError:
        log.warning("replayed job refers to dead-letter entry %s, which no longer exists", entry_id)
        return None
