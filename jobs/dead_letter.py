"""The dead-letter queue: where jobs that could not finish wait for a person.

Each entry is one JSON document (``stalwart:dlq:entry:<id>``) and one member of a
time index (``stalwart:dlq:index``, scored by the time of the last failure).
Entries have no TTL: nothing leaves this queue silently. The entry id is the id
of the job that died, so a job handle finds its own entry.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import redis
from redis.client import Pipeline

from . import _keys
from .errors import NoSuchEntryError
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
    history: builtins.list[dict[str, Any]] = field(default_factory=list)
    status: str = "dead"
    idempotency_key: str | None = None
    audit: builtins.list[dict[str, Any]] = field(default_factory=list)
    raw_payload: str | None = None

    def to_json(self) -> str:
        """The entry as stored."""
        data = asdict(self)
        data["classification"] = str(self.classification)
        return json.dumps(data, default=str)

    @classmethod
    def from_json(cls, raw: str | bytes) -> DeadLetterEntry:
        """Rebuild an entry from its stored form."""
        data = json.loads(raw)
        data["classification"] = Classification(data["classification"])
        return cls(**data)


class DeadLetterQueue:
    """The dead-letter queue on one Redis connection."""

    def __init__(self, connection: redis.Redis) -> None:
        self.connection = connection

    def add(self, entry: DeadLetterEntry, pipeline: Pipeline | None = None) -> None:
        """Store ``entry``; with ``pipeline``, as part of the caller's transaction."""
        target = pipeline if pipeline is not None else self.connection.pipeline()
        score = datetime.fromisoformat(entry.last_failed_at).timestamp()
        target.set(_keys.dead_letter_entry(entry.id), entry.to_json())
        target.zadd(_keys.DEAD_LETTER_INDEX, {entry.id: score})
        if pipeline is None:
            target.execute()

    def get(self, entry_id: str) -> DeadLetterEntry:
        """The entry with this id; raises NoSuchEntryError."""
        raw = self.connection.get(_keys.dead_letter_entry(entry_id))
        if raw is None:
            raise NoSuchEntryError(entry_id)
        return DeadLetterEntry.from_json(raw)

    def exists(self, entry_id: str) -> bool:
        """Whether an entry has this id."""
        return bool(self.connection.exists(_keys.dead_letter_entry(entry_id)))

    def list(self, limit: int | None = None) -> builtins.list[DeadLetterEntry]:
        """Entries, most recent failure first."""
        end = -1 if limit is None else limit - 1
        ids = [
            i.decode() if isinstance(i, bytes) else str(i)
            for i in self.connection.zrevrange(_keys.DEAD_LETTER_INDEX, 0, end)
        ]
        if not ids:
            return []
        raws = self.connection.mget([_keys.dead_letter_entry(i) for i in ids])
        return [DeadLetterEntry.from_json(raw) for raw in raws if raw is not None]

    def __len__(self) -> int:
        return int(self.connection.zcard(_keys.DEAD_LETTER_INDEX))

    def len(self) -> int:
        """How many entries there are."""
        return len(self)
