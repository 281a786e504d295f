"""Replaying and discarding dead-letter entries: the ways a person closes one.

A replay enqueues the entry's job again as a new job: a fresh attempt budget,
the same idempotency key and request id, and a link back to the entry
(``meta.replay_of``). The entry becomes ``replayed``; the worker marks it
``resolved`` when the replay succeeds, or continues its history and sets it back
to ``dead`` when the replay dies too. Every operation is kept in the audit trail.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .. import settings
from ..errors import DeadLetterError, PayloadError, UnknownJobError
from ..model import payload
from ..model.definition import REGISTRY
from ..model.entry import DeadLetterEntry
from ..model.outcome import Classification
from ..model.requests import new_request_id
from ..rq_adapter.enqueue import enqueue_payload, enqueue_raw, register_queue
from ..rq_adapter.job_format import check_size
from .audit import audit_record, operator
from .store import EntryStore

BATCH = 500


def _replayable(entry: DeadLetterEntry) -> None:
    """Raise DeadLetterError unless the entry can be replayed now."""
    if entry.status == "discarded":
        reason = next((a.get("reason") for a in reversed(entry.audit) if a.get("action") == "discard"), None)
        raise DeadLetterError(
            f"entry {entry.id} was discarded ({reason or 'no reason recorded'}); "
            "a discarded entry is not replayed"
        )
    if entry.status == "replayed":
        raise DeadLetterError(
            f"entry {entry.id} was already replayed as job {entry.replays[-1]}, which has not ended yet; "
            f"wait for it (`stalwart dlq show {entry.id}`)"
        )
    if entry.status == "resolved":
        raise DeadLetterError(
            f"entry {entry.id} is resolved (job {entry.replays[-1]} succeeded); nothing to replay"
        )


def _payload_for(entry: DeadLetterEntry, kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """The replay's payload, checked like any enqueue; raises DeadLetterError saying what to fix."""
    try:
        job = REGISTRY.resolve(entry.job)
    except UnknownJobError as err:
        hint = (
            "its payload named a job that does not exist; discard it with a reason"
            if entry.classification is Classification.POISON
            else "pass --import MODULE (the module that defines it) so the replay can be checked"
        )
        raise DeadLetterError(
            f"cannot replay entry {entry.id}: job {entry.job!r} is not registered here; {hint}"
        ) from err
    limits = settings.current().limits
    try:
        body = payload.build(
            job,
            entry.kwargs if kwargs is None else kwargs,
            entry.request_id or new_request_id(),
            idempotency_key=entry.idempotency_key,
            replay_of=entry.id,
            limits=limits,
        )
        check_size(job, body, limits)
        return body
    except PayloadError as err:
        raise DeadLetterError(f"cannot replay entry {entry.id}: {err}") from err


def replay(
    dlq: EntryStore, entry_id: str, kwargs: dict[str, Any] | None = None, by: str | None = None
) -> str:
    """Replay one entry (optionally with edited ``kwargs``); returns the new job's id."""
    entry = dlq.get(entry_id)
    _replayable(entry)
    body = _payload_for(entry, kwargs)
    job = REGISTRY.resolve(entry.job)
    with dlq.connection.pipeline() as pipeline:
        job_id = enqueue_payload(job, body, dlq.connection, pipeline=pipeline)
        audit = audit_record("replay", f"enqueued as job {job_id}", by=by, kwargs_edited=kwargs is not None)
        dlq.set_status(entry, "replayed", audit, pipeline=pipeline, replays=[*entry.replays, job_id])
        pipeline.execute()
    return job_id


def replay_all(
    dlq: EntryStore,
    *,
    dry_run: bool = False,
    rate: float | None = None,
    by: str | None = None,
    progress: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    **filters: Any,
) -> list[DeadLetterEntry]:
    """Replay every ``dead`` entry matching ``filters``, in batches; returns those replayed (or to be).

    ``rate`` caps entries per second, so a replay does not stampede a third
    party that has just recovered. Entries that cannot be replayed (an unknown
    job, arguments that no longer fit) are left as they are, and the first
    such problem is raised before anything is enqueued.
    """
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be a positive number of entries per second, got {rate!r}")
    filters.pop("status", None)
    ids = dlq.ids(status="dead", **filters)
    entries = dlq.get_many(ids, full=False)
    bodies = [_payload_for(entry, None) for entry in entries]  # check them all before touching any
    if dry_run:
        return entries
    by = by or operator()
    done = 0
    started = clock()
    batch = BATCH if rate is None else max(1, min(BATCH, int(rate)))
    for start in range(0, len(entries), batch):
        chunk = list(zip(entries[start : start + batch], bodies[start : start + batch], strict=True))
        with dlq.connection.pipeline() as pipeline:
            for queue in {REGISTRY.resolve(entry.job).queue for entry, _ in chunk}:
                register_queue(pipeline, queue)
            for entry, body in chunk:
                job_id = enqueue_raw(pipeline, REGISTRY.resolve(entry.job), body)
                audit = audit_record("replay", f"enqueued as job {job_id}", by=by, bulk=True)
                dlq.set_status(entry, "replayed", audit, pipeline=pipeline, replays=[*entry.replays, job_id])
            pipeline.execute()
        done += len(chunk)
        if progress is not None:
            progress(done)
        if rate is not None:
            ahead = done / rate - (clock() - started)
            if ahead > 0:
                sleep(ahead)
    return entries


def discard(dlq: EntryStore, entry_id: str, reason: str, by: str | None = None) -> DeadLetterEntry:
    """Mark an entry ``discarded``; the reason is required and kept in the audit trail."""
    if not isinstance(reason, str) or not reason.strip():
        raise DeadLetterError("a discard needs a reason a colleague can read later (--reason '...')")
    entry = dlq.get(entry_id)
    if entry.status != "dead":
        raise DeadLetterError(f"entry {entry_id} is {entry.status}; only a dead entry can be discarded")
    dlq.set_status(entry, "discarded", audit_record("discard", "discarded", by=by, reason=reason.strip()))
    return entry
