"""How one dead-letter entry is laid out in Redis.

A hash per entry: a small plain ``head`` (what listings and replays read), a
zlib-compressed ``body`` (the history with its tracebacks, and the message),
the ``status`` and the list of ``replays``. The audit trail is a list of its own.
Arguments too large for the head (over ``HEAD_KWARGS_CHARS`` as JSON) are kept
whole, compressed, in a ``kwargs`` field of their own, which replays read too.
"""

from __future__ import annotations

import json
import zlib
from datetime import datetime
from typing import Any

from ..model.entry import DeadLetterEntry
from ..model.outcome import Classification

_BODY_FIELDS = ("history", "message")
_HEAD_FIELDS = tuple(
    name
    for name in DeadLetterEntry.__dataclass_fields__
    if name not in (*_BODY_FIELDS, "status", "audit", "replays")
)
# Every other field is read with ``HASH_FIELDS[::2]`` (head, status, kwargs) when the body is not needed.
HASH_FIELDS = ["head", "body", "status", "replays", "kwargs"]
# Arguments larger than this (as JSON) leave the head, so that listings stay small.
HEAD_KWARGS_CHARS = 8_000


def encode(entry: DeadLetterEntry) -> dict[Any, Any]:
    """The hash fields that store ``entry`` (its audit trail is stored apart)."""
    head = {name: getattr(entry, name) for name in _HEAD_FIELDS}
    head["classification"] = str(entry.classification)
    body = {name: getattr(entry, name) for name in _BODY_FIELDS}
    kwargs = json.dumps(entry.kwargs, default=str)
    fields: dict[Any, Any] = {
        "body": zlib.compress(json.dumps(body, default=str).encode(), 6),
        "status": entry.status,
        "replays": json.dumps(entry.replays),
        "kwargs": b"",
    }
    if len(kwargs) > HEAD_KWARGS_CHARS:
        del head["kwargs"]
        fields["kwargs"] = zlib.compress(kwargs.encode(), 6)
    fields["head"] = json.dumps(head, default=str)
    return fields


def decode(fields: list[Any], audit: list[bytes]) -> DeadLetterEntry:
    """Rebuild an entry from its hash fields (``HASH_FIELDS`` order) and its audit list."""
    head, body, status, replays, kwargs = fields
    data = json.loads(head)
    if kwargs:
        data["kwargs"] = json.loads(zlib.decompress(kwargs))
    data["classification"] = Classification(data["classification"])
    # Entries written before raw_payload moved to the head keep it in the body.
    data.update(json.loads(zlib.decompress(body)) if body else {"history": [], "message": ""})
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
