"""Replaying and discarding dead-letter entries: the ways a person closes one.

A replay enqueues the entry's job again as a new job: a fresh attempt budget,
the same idempotency key and request id, and a link back to the entry
(``meta.replay_of``). The entry becomes ``replayed``; the worker marks it
``resolved`` when the replay succeeds, or continues its history and sets it back
to ``dead`` when the replay dies too. Every operation is kept in the audit trail:
an edited replay keeps what it ran with and what changed, redacted (``edits``).

An ``ambiguous`` entry's job may have taken effect before it failed. A bulk
replay leaves such entries out unless asked (``include_ambiguous``, or a
``classification="ambiguous"`` filter) and lists them in ``left_out``; replaying
one by id is allowed: the caller named that entry (the CLI asks first).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import settings
from ..errors import DeadLetterError, NoSuchEntryError, PayloadError, UnknownJobError
from ..model import payload
from ..model.definition import REGISTRY
from ..model.entry import DeadLetterEntry
from ..model.outcome import Classification
from ..model.requests import new_request_id
from ..rq_adapter.enqueue import raw_job
from ..rq_adapter.envelope import check_size
from . import claims, edits
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


@dataclass(frozen=True)
class Prepared:
    """A replay checked and ready: the entry, the arguments it will run with, and its payload."""

    entry: DeadLetterEntry
    kwargs: dict[str, Any]
    body: dict[str, Any]
    edited: bool

    @property
    def ambiguous(self) -> bool:
        """Whether the entry's job may have taken effect before it failed (verify before replaying)."""
        return self.entry.classification is Classification.AMBIGUOUS

    def audit_details(self) -> dict[str, Any]:
        """What the audit record of this replay says besides its result: for an edit, what changed."""
        if not self.edited:
            return {"kwargs_edited": False}
        return {"kwargs_edited": True, **edits.audited(self.entry.kwargs, self.kwargs)}


def prepare(
    dlq: EntryStore,
    entry_id: str,
    kwargs: dict[str, Any] | None = None,
    changes: Mapping[str, Any] | None = None,
) -> Prepared:
    """Check that the entry can be replayed, with ``kwargs`` (all new) or ``changes`` (some fields) if given.

    Changes nothing; raises DeadLetterError saying what to fix.
    """
    if kwargs is not None and changes is not None:
        raise DeadLetterError(
            "give either new arguments (kwargs, --kwargs) or changes to some of them (changes, --set), "
            "not both"
        )
    entry = dlq.get(entry_id)
    _replayable(entry)
    if changes is not None:
        try:
            kwargs = edits.apply(entry.kwargs, changes)
        except DeadLetterError as err:
            raise DeadLetterError(f"cannot replay entry {entry.id}: {err}") from err
    body = _payload_for(entry, kwargs)
    return Prepared(entry, body["kwargs"], body, edited=kwargs is not None)


def replay(
    dlq: EntryStore,
    entry_id: str,
    kwargs: dict[str, Any] | None = None,
    by: str | None = None,
    *,
    changes: Mapping[str, Any] | None = None,
) -> str:
    """Replay one entry (with all-new ``kwargs``, or ``changes`` to some fields); returns the new job's id.

    The entry is claimed and its job enqueued in one atomic step: of two replays (or a replay and a
    discard) racing on one entry, one wins and the other raises DeadLetterError, having changed nothing.
    """
    prepared = prepare(dlq, entry_id, kwargs, changes)
    entry = prepared.entry
    raw = raw_job(REGISTRY.resolve(entry.job), prepared.body)
    audit = audit_record("replay", f"enqueued as job {raw.id}", by=by, **prepared.audit_details())
    moved = claims.move(dlq.connection, [claims.Claim(entry.id, audit, raw)], "dead", "replayed")
    if moved != [""]:
        raise _taken(dlq, entry_id, "replay", "nothing was enqueued")
    return raw.id


class Replayed(list[DeadLetterEntry]):
    """The entries a bulk replay replayed; the ids of those it skipped because someone took them first
    (``skipped``), and of the ambiguous ones it left out because it was not asked to replay them
    (``left_out``)."""

    def __init__(self) -> None:
        super().__init__()
        self.skipped: list[str] = []
        self.left_out: list[str] = []


def replay_all(
    dlq: EntryStore,
    *,
    dry_run: bool = False,
    rate: float | None = None,
    by: str | None = None,
    include_ambiguous: bool = False,
    progress: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    **filters: Any,
) -> Replayed:
    """Replay every ``dead`` entry matching ``filters``, in batches; returns those replayed (or to be).

    ``rate`` caps entries per second, so a replay does not stampede a third
    party that has just recovered. Entries that cannot be replayed (an unknown
    job, arguments that no longer fit) are left as they are, and the first
    such problem is raised before anything is enqueued. Each entry is claimed
    and its job enqueued in one atomic step; an entry that another replay or a
    discard took meanwhile is skipped, and listed in the result's ``skipped``.

    Ambiguous entries (their job may have taken effect) are left out, and listed in the result's
    ``left_out``, unless ``include_ambiguous`` is true or the filters ask for them by classification.
    """
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be a positive number of entries per second, got {rate!r}")
    filters.pop("status", None)
    ids = dlq.ids(status="dead", **filters)
    replayed = Replayed()
    entries = dlq.get_many(ids, full=False)
    if not include_ambiguous and filters.get("classification") is None:
        replayed.left_out = [e.id for e in entries if e.classification is Classification.AMBIGUOUS]
        entries = [e for e in entries if e.classification is not Classification.AMBIGUOUS]
    bodies = [_payload_for(entry, None) for entry in entries]  # check them all before touching any
    if dry_run:
        replayed.extend(entries)
        return replayed
    by = by or operator()
    done = 0
    started = clock()
    batch = BATCH if rate is None else max(1, min(BATCH, int(rate)))
    for start in range(0, len(entries), batch):
        chunk = entries[start : start + batch]
        jobs = [
            raw_job(REGISTRY.resolve(entry.job), body)
            for entry, body in zip(chunk, bodies[start : start + batch], strict=True)
        ]
        audits = [audit_record("replay", f"enqueued as job {job.id}", by=by, bulk=True) for job in jobs]
        moved = claims.move(
            dlq.connection,
            [claims.Claim(e.id, a, j) for e, a, j in zip(chunk, audits, jobs, strict=True)],
            "dead",
            "replayed",
        )
        for entry, audit, job, status in zip(chunk, audits, jobs, moved or [], strict=True):
            if status:
                replayed.skipped.append(entry.id)
                continue
            entry.status = "replayed"
            entry.replays.append(job.id)
            entry.audit.append(audit)
            replayed.append(entry)
        done += len(chunk)
        if progress is not None:
            progress(done)
        if rate is not None:
            ahead = done / rate - (clock() - started)
            if ahead > 0:
                sleep(ahead)
    return replayed


def discard(dlq: EntryStore, entry_id: str, reason: str, by: str | None = None) -> DeadLetterEntry:
    """Mark an entry ``discarded``; the reason is required and kept in the audit trail.

    Atomic like a replay: a discard that loses a race with a replay raises DeadLetterError.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise DeadLetterError("a discard needs a reason a colleague can read later (--reason '...')")
    entry = dlq.get(entry_id)
    if entry.status != "dead":
        raise DeadLetterError(f"entry {entry_id} is {entry.status}; only a dead entry can be discarded")
    audit = audit_record("discard", "discarded", by=by, reason=reason.strip())
    if claims.move(dlq.connection, [claims.Claim(entry.id, audit)], "dead", "discarded") != [""]:
        raise _taken(dlq, entry_id, "discard", "it was not discarded")
    entry.status = "discarded"
    entry.audit.append(audit)
    return entry


def _taken(dlq: EntryStore, entry_id: str, attempted: str, consequence: str) -> DeadLetterError:
    """The error of an operation that lost the entry to another one that changed it first."""
    try:
        entry = dlq.get(entry_id)
    except NoSuchEntryError:
        return DeadLetterError(f"entry {entry_id} was removed meanwhile (archived?); {consequence}")
    last = entry.audit[-1] if entry.audit else {}
    who = f"{last.get('action', 'changed')} by {last.get('by', 'someone')} at {last.get('at', '?')}"
    return DeadLetterError(
        f"entry {entry_id} is {entry.status}: it was just taken by another operation ({who}); "
        f"this {attempted} lost the race and {consequence}; see `stalwart dlq show {entry_id}`"
    )
