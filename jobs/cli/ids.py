"""Entry ids for people: shown abbreviated, accepted back as any unique prefix (as git does with hashes).

An id is shown as its shortest prefix of at least ``SHORTEST`` characters that
no other entry's id starts with. A command given an id takes an exact id first,
then the one entry whose id starts with what was given; a prefix that starts
several ids is refused with the candidates named.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from ..dead_letter import DeadLetterQueue
from ..errors import DeadLetterError, NoSuchEntryError
from .dlq_table import ago

SHORTEST = 8
CANDIDATES_NAMED = 10


def abbreviations(dlq: DeadLetterQueue, ids: Sequence[str]) -> dict[str, str]:
    """For each of ``ids``, its shortest prefix (``SHORTEST`` characters or more) unique in the queue."""
    if not ids:
        return {}
    sharing = dlq.ids_starting_with({entry_id[:SHORTEST] for entry_id in ids})
    return {entry_id: shortest_unique(entry_id, sharing[entry_id[:SHORTEST]]) for entry_id in ids}


def shortest_unique(entry_id: str, others: Sequence[str]) -> str:
    """The shortest prefix of ``entry_id`` (``SHORTEST`` characters or more) that none of ``others`` has.

    An id that is itself the start of another id is shown whole: an exact id is always taken as itself.
    """
    shared = max((_shared_length(entry_id, other) for other in others if other != entry_id), default=0)
    return entry_id[: max(SHORTEST, shared + 1)]


def _shared_length(one: str, other: str) -> int:
    """How many characters ``one`` and ``other`` have in common from their start."""
    for i, (a, b) in enumerate(zip(one, other, strict=False)):
        if a != b:
            return i
    return min(len(one), len(other))


def resolve(dlq: DeadLetterQueue, given: str) -> str:
    """The id of the entry named by ``given``: its exact id, or the only id that starts with it.

    Raises NoSuchEntryError when no id starts with it, DeadLetterError (naming the candidates) when
    several do.
    """
    if not given:
        raise DeadLetterError("an entry id cannot be empty; `stalwart dlq list` shows the ids")
    if dlq.exists(given):
        return given
    matches = dlq.ids_starting_with([given])[given]
    if not matches:
        raise NoSuchEntryError(given)
    if len(matches) == 1:
        return matches[0]
    raise DeadLetterError(_ambiguous(dlq, given, matches))


def _ambiguous(dlq: DeadLetterQueue, given: str, matches: Sequence[str]) -> str:
    """The candidates of an ambiguous prefix, most recent failure first, each with its job and status."""
    entries = sorted(dlq.get_many(matches, full=False), key=lambda e: e.last_failed_at, reverse=True)
    now = datetime.now(timezone.utc)
    named = [
        f"{shortest_unique(e.id, matches)} ({e.job}, {e.status}, failed {ago(e.last_failed_at, now)})"
        for e in entries[:CANDIDATES_NAMED]
    ]
    more = len(entries) - len(named)
    listed = ", ".join(named) + (f" and {more} more" if more > 0 else "")
    return (
        f"the id prefix {given!r} is ambiguous: {len(matches)} entries have ids starting with it: {listed}; "
        "give more of the id"
    )
