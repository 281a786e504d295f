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
from ..model.outcome import Outcome, Status
from ..rq_adapter.enqueue import FAILED_JOB_TTL_S
from ..rq_adapter.job_format import SafeRQJob
from ..telemetry.alerts import dead_letter_alert, raise_alert
from .counts import Count, counts
from .hooks import after_dead_letter
from .records import entry_for

log = logging.getLogger("stalwart.worker")


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
    _written: bool = field(default=False, repr=False)
    _after: bool = field(default=False, repr=False)

    def write(self, pipeline: Pipeline) -> None:
        """Queue every write in ``pipeline`` (the caller executes it, with its own writes); once only."""
        if self._written:
            return
        self._written = True
        dlq = DeadLetterQueue(self.connection)
        if self.entry is not None:
            dlq.put(self.entry, pipeline=pipeline, previous=self.replaced, audit=self.audit)
            raise_alert(dead_letter_alert(self.entry), pipeline=pipeline)
        if self.resolves is not None:
            dlq.set_status(self.resolves[0], "resolved", self.resolves[1], pipeline=pipeline)
        stats.write(pipeline, self.counts)
        pipeline.hset(self.job_key, mapping=self.fields)
        if self.entry is not None:
            pipeline.expire(self.job_key, FAILED_JOB_TTL_S)

    def after(self) -> None:
        """Once the writes are in Redis: the job's ``on_dead_letter`` hook and the size check (once)."""
        if self.entry is not None and self._written and not self._after:
            self._after = True
            after_dead_letter(self.connection, self.entry)


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
    ending = Ending(connection, job.key, outcome, written, counts(outcome))
    replay_of = job.meta_fields.get("replay_of")
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
