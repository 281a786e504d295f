"""``DeadLetterEntry``: one dead job: what it was, why it died, every attempt, what was done about it.

How entries are stored and indexed is the dead-letter queue's business
(``jobs.dead_letter``); this is the record itself.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .outcome import Classification


@dataclass
class DeadLetterEntry:
    """One dead job: what it was, why it died, every attempt, and what was done about it."""

    id: str
    job: str
    queue: str
    kwargs: dict[str, Any]
    classification: Classification
    error_type: str
    error_message: str
    message: str
    attempts: int
    request_id: str | None
    first_failed_at: str
    last_failed_at: str
    history: builtins.list[dict[str, Any]] = field(default_factory=builtins.list)
    status: str = "dead"
    idempotency_key: str | None = None
    audit: builtins.list[dict[str, Any]] = field(default_factory=builtins.list)
    replays: builtins.list[str] = field(default_factory=builtins.list)
    raw_payload: str | None = None

    def to_json(self) -> str:
        """The whole entry as JSON (kwargs unredacted: for replay and for the store)."""
        data = asdict(self)
        data["classification"] = str(self.classification)
        return json.dumps(data, default=str)

    @classmethod
    def from_json(cls, raw: str | bytes) -> DeadLetterEntry:
        """Rebuild an entry from ``to_json``'s form."""
        data = json.loads(raw)
        data["classification"] = Classification(data["classification"])
        return cls(**data)

    def continued_by(self, later: DeadLetterEntry) -> DeadLetterEntry:
        """This entry after a replay of it died too: the replay's attempts continue its history.

        Its arguments become the replay's, so that the next replay starts from what was last tried (an
        edited replay's audit record keeps what it changed, and from what).
        """
        return replace(
            self,
            kwargs=later.kwargs,
            classification=later.classification,
            error_type=later.error_type,
            error_message=later.error_message,
            message=later.message,
            attempts=self.attempts + later.attempts,
            last_failed_at=later.last_failed_at,
            history=[*self.history, *later.history],
            status="dead",
        )
