"""The console's actions on the dead-letter queue, shared by the pages and the JSON API.

Each does what ``stalwart dlq replay`` / ``discard`` / ``replay --all`` does, through the dead-letter
queue's public API, and records the acting token's name in the entry's audit trail. An action that
cannot be done raises ``Problem`` with the HTTP status that says why (404, 409, 422), having changed
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..dead_letter import DeadLetterEntry, DeadLetterQueue
from ..dead_letter.replay import prepare
from ..errors import DeadLetterError, JobsError, NoSuchEntryError
from ..model.outcome import Classification


class Problem(JobsError):
    """An action refused, with the HTTP status that says why and a line saying what to do."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def entry(dlq: DeadLetterQueue, entry_id: str) -> DeadLetterEntry:
    """The entry with this id (audit included); Problem 404 if there is none."""
    try:
        return dlq.get(entry_id)
    except NoSuchEntryError:
        raise Problem(404, f"no dead-letter entry has the id {entry_id!r}") from None


def replay(
    dlq: DeadLetterQueue,
    entry_id: str,
    by: str,
    *,
    kwargs: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
    ambiguous_verified: bool = False,
) -> dict[str, Any]:
    """Replay one entry (as it was, with all-new ``kwargs``, or ``changes`` to some fields), checked first.

    Problem 409 if it is not dead, or is ambiguous and ``ambiguous_verified`` is not set (as the CLI
    asks before replaying one); 422 if the edited arguments do not fit the job. Returns the new job's
    id and, for an edit, what changed (redacted).
    """
    found = entry(dlq, entry_id)
    if found.status != "dead":
        raise Problem(409, f"entry {entry_id} is {found.status}; only a dead entry can be replayed")
    try:
        prepared = prepare(dlq, entry_id, kwargs=kwargs, changes=changes)
    except DeadLetterError as err:
        raise Problem(422, str(err)) from None
    if prepared.ambiguous and not ambiguous_verified:
        raise Problem(
            409,
            f"entry {entry_id} is ambiguous: {found.job} may have taken effect before it failed; verify "
            "whether the side effect happened, then confirm that you did",
        )
    try:
        job_id = dlq.replay(entry_id, kwargs=kwargs, changes=changes, by=by)
    except DeadLetterError as err:  # lost a race with another operator: nothing was enqueued
        raise Problem(409, str(err)) from None
    return {"entry": entry_id, "job_id": job_id, **prepared.audit_details()}


def discard(dlq: DeadLetterQueue, entry_id: str, reason: str, by: str) -> DeadLetterEntry:
    """Discard one entry with a reason; Problem 422 without a reason, 409 unless it is dead."""
    if not reason.strip():
        raise Problem(422, "a discard needs a reason a colleague can read later")
    found = entry(dlq, entry_id)
    if found.status != "dead":
        raise Problem(409, f"entry {entry_id} is {found.status}; only a dead entry can be discarded")
    try:
        return dlq.discard(entry_id, reason=reason, by=by)
    except DeadLetterError as err:
        raise Problem(409, str(err)) from None


@dataclass
class Bulk:
    """What a bulk action did (or, dry, would do): entries acted on, skipped, and ambiguous left out."""

    action: str
    ids: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    dry_run: bool = True


def bulk(
    dlq: DeadLetterQueue,
    action: str,
    filters: dict[str, Any],
    *,
    dry_run: bool,
    include_ambiguous: bool,
    by: str,
    reason: str = "",
    rate: float | None = None,
) -> Bulk:
    """Replay or discard every dead entry matching ``filters``; with ``dry_run``, only count them.

    As ``stalwart dlq replay --all``: ambiguous entries are left out unless ``include_ambiguous`` (or a
    classification filter) asks for them, a replay keeps to ``rate`` entries per second, and an entry
    another operator took meanwhile is skipped.
    """
    filters = {k: v for k, v in filters.items() if k != "status"}
    if action == "replay":
        try:
            done = dlq.replay_all(
                dry_run=dry_run, rate=rate, by=by, include_ambiguous=include_ambiguous, **filters
            )
        except DeadLetterError as err:
            raise Problem(422, str(err)) from None
        return Bulk("replay", [e.id for e in done], done.skipped, done.left_out, dry_run)
    if action != "discard":
        raise Problem(422, "the bulk action must be replay or discard")
    if not dry_run and not reason.strip():
        raise Problem(422, "a discard needs a reason a colleague can read later")
    entries = dlq.get_many(dlq.ids(status="dead", **filters), full=False)
    result = Bulk("discard", dry_run=dry_run)
    if not include_ambiguous and filters.get("classification") is None:
        result.left_out = [e.id for e in entries if e.classification is Classification.AMBIGUOUS]
        entries = [e for e in entries if e.classification is not Classification.AMBIGUOUS]
    for candidate in entries:
        if dry_run:
            result.ids.append(candidate.id)
            continue
        try:
            dlq.discard(candidate.id, reason=reason, by=by)
        except (DeadLetterError, NoSuchEntryError):
            result.skipped.append(candidate.id)
        else:
            result.ids.append(candidate.id)
    return result
