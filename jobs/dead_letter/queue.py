"""``DeadLetterQueue``: the store of entries plus the ways a person closes one (replay, discard)."""

from __future__ import annotations

from typing import Any

from ..model.entry import DeadLetterEntry
from . import replay as _replay
from .store import EntryStore


class DeadLetterQueue(EntryStore):
    """The dead-letter queue on one Redis connection: a work list for people."""

    def replay(self, entry_id: str, kwargs: dict[str, Any] | None = None, by: str | None = None) -> str:
        """Enqueue the entry's job again (fresh attempts, same idempotency key); returns the new job id."""
        return _replay.replay(self, entry_id, kwargs=kwargs, by=by)

    def replay_all(
        self, *, dry_run: bool = False, rate: float | None = None, by: str | None = None, **filters: Any
    ) -> _replay.Replayed:
        """Replay every ``dead`` entry matching ``filters``; returns the entries replayed (or to be).

        An entry another operator replayed or discarded meanwhile is skipped; its id is in ``.skipped``.
        """
        return _replay.replay_all(self, dry_run=dry_run, rate=rate, by=by, **filters)

    def discard(self, entry_id: str, reason: str, by: str | None = None) -> DeadLetterEntry:
        """Mark an entry ``discarded`` with a reason; it stays visible, with the reason in its audit."""
        return _replay.discard(self, entry_id, reason=reason, by=by)
