"""``DeadLetterQueue``: the store of entries plus the ways a person closes one (replay, discard)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model.entry import DeadLetterEntry
from . import replay as _replay
from .store import EntryStore


class DeadLetterQueue(EntryStore):
    """The dead-letter queue on one Redis connection: a work list for people."""

    def replay(
        self,
        entry_id: str,
        kwargs: dict[str, Any] | None = None,
        by: str | None = None,
        *,
        changes: Mapping[str, Any] | None = None,
    ) -> str:
        """Enqueue the entry's job again (fresh attempts, same idempotency key); returns the new job id.

        ``kwargs`` replaces all its arguments; ``changes`` (``{"amount_cents": 4900, "address.city":
        "Lyon"}``) replaces only the fields it names. Either is checked against ``perform`` first, and
        the audit records the new arguments and what changed, redacted. An ``ambiguous`` entry is
        replayed too: naming it is asking for it (verify its side effect first).
        """
        return _replay.replay(self, entry_id, kwargs=kwargs, by=by, changes=changes)

    def replay_all(
        self,
        *,
        dry_run: bool = False,
        rate: float | None = None,
        by: str | None = None,
        include_ambiguous: bool = False,
        **filters: Any,
    ) -> _replay.Replayed:
        """Replay every ``dead`` entry matching ``filters``; returns the entries replayed (or to be).

        An entry another operator replayed or discarded meanwhile is skipped; its id is in ``.skipped``.
        Ambiguous entries are left out unless ``include_ambiguous`` (or ``classification="ambiguous"``)
        asks for them; their ids are in ``.left_out``.
        """
        return _replay.replay_all(
            self, dry_run=dry_run, rate=rate, by=by, include_ambiguous=include_ambiguous, **filters
        )

    def discard(self, entry_id: str, reason: str, by: str | None = None) -> DeadLetterEntry:
        """Mark an entry ``discarded`` with a reason; it stays visible, with the reason in its audit."""
        return _replay.discard(self, entry_id, reason=reason, by=by)
