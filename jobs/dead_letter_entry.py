"""``DeadLetterEntry``: one dead job, and how it is stored and audited.

Stored as a Redis hash: a small plain ``head`` (what listings and replays read),
a zlib-compressed ``body`` (the history with its tracebacks, and the message),
the ``status`` and the list of ``replays``; the audit trail is a list of its own.
"""

from __future__ import annotations

import builtins
import getpass
import json
import os
import socket
import zlib
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
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
        """This entry after a replay of it died too: the replay's attempts continue its history."""
        return replace(
            self,
            classification=later.classification,
            error_type=later.error_type,
            error_message=later.error_message,
            message=later.message,
            attempts=self.attempts + later.attempts,
            last_failed_at=later.last_failed_at,
            history=[*self.history, *later.history],
            status="dead",
        )

    def _stored(self) -> dict[Any, Any]:
        """The hash fields: a small plain ``head`` (what listings and replays read) and a compressed
        ``body`` (the history with its tracebacks, and the message), plus status and replays."""
        head = {name: getattr(self, name) for name in _HEAD_FIELDS}
        head["classification"] = str(self.classification)
        body = {name: getattr(self, name) for name in _BODY_FIELDS}
        return {
            "head": json.dumps(head, default=str),
            "body": zlib.compress(json.dumps(body, default=str).encode(), 6),
            "status": self.status,
            "replays": json.dumps(self.replays),
        }


_BODY_FIELDS = ("history", "message", "raw_payload")
_HEAD_FIELDS = tuple(
    name
    for name in DeadLetterEntry.__dataclass_fields__
    if name not in (*_BODY_FIELDS, "status", "audit", "replays")
)
HASH_FIELDS = ["head", "body", "status", "replays"]


def failure_score(timestamp: str) -> float:
    """The sort key of an entry in the indexes: the epoch time of its last failure."""
    return datetime.fromisoformat(timestamp).timestamp()


def text(value: bytes | str) -> str:
    """A Redis reply as a string."""
    return value.decode() if isinstance(value, bytes) else value


def operator() -> str:
    """Who is acting, for the audit trail: ``STALWART_OPERATOR``, else user@host."""
    explicit = os.environ.get("STALWART_OPERATOR")
    if explicit:
        return explicit
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid-{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def audit_record(action: str, result: str, by: str | None = None, **details: Any) -> dict[str, Any]:
    """One line of an entry's audit trail: when, by whom, what, with what result."""
    return {
        "at": datetime.now(timezone.utc).isoformat(),
        "by": by or operator(),
        "action": action,
        "result": result,
        **details,
    }


def load_entry(fields: builtins.list[Any], audit: builtins.list[bytes]) -> DeadLetterEntry:
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
