"""How one dead-letter entry is laid out in Redis.

A hash per entry: a small plain ``head`` (what listings and replays read), a
zlib-compressed ``body`` (the history with its tracebacks, and the message),
the ``status`` and the list of ``replays``. The audit trail is a list of its own.
"""

from __future__ import annotations

import json
import zlib
from datetime import datetime
from typing import Any

from ..model.entry import DeadLetterEntry
from ..model.outcome import Classification

_BODY_FIELDS = ("history", "message", "raw_payload")
_HEAD_FIELDS = tuple(
    name
    for name in DeadLetterEntry.__dataclass_fields__
    if name not in (*_BODY_FIELDS, "status", "audit", "replays")
)
HASH_FIELDS = ["head", "body", "status", "replays"]


def encode(entry: DeadLetterEntry) -> dict[Any, Any]:
    """The hash fields that store ``entry`` (its audit trail is stored apart)."""
    head = {name: getattr(entry, name) for name in _HEAD_FIELDS}
    head["classification"] = str(entry.classification)
    body = {name: getattr(entry, name) for name in _BODY_FIELDS}
    return {
        "head": json.dumps(head, default=str),
        "body": zlib.compress(json.dumps(body, default=str).encode(), 6),
        "status": entry.status,
        "replays": json.dumps(entry.replays),
    }


def decode(fields: list[Any], audit: list[bytes]) -> DeadLetterEntry:
    """Rebuild an entry from its hash fields (``HASH_FIELDS`` order) and its audit list."""
    head, body, status, replays = fields
    data = json.loads(head)
    data["classification"] = Classification(data["classification"])
    data.update(
        json.loads(zlib.decompress(body)) if body else {"history": [], "message": "", "raw_payload": None}
    )
    data["status"] = text(status) if status is not None else "dead"
    data["replays"] = json.loads(replays) if replays else []
    data["audit"] = [json.loads(a) for a in audit]
    return DeadLetterEntry(**data)


def failure_score(timestamp: str) -> float:
    """The sort key of an entry in the indexes: the epoch time of its last failure."""
    return datetime.fromisoformat(timestamp).timestamp()


def text(value: bytes | str) -> str:
    """A Redis reply as a string."""
    return value.decode() if isinstance(value, bytes) else value
