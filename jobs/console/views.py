"""What the console shows and reads, without HTTP: filters from a query, entries redacted, edits from a form.

Pure functions, so the rules (what a filter accepts, what is redacted, how an edit is read) are the same
for the pages and the JSON API, and are tested without a server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from resilience import Scrubber

from ..dead_letter import DeadLetterEntry
from ..dead_letter.store import STATUSES
from ..errors import DeadLetterError
from ..model.outcome import Classification

CLASSIFICATIONS = tuple(c.value for c in Classification)
_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_LIMIT = 1000


class BadRequest(ValueError):
    """A query or form the console cannot use; its text says what to send instead."""


@dataclass(frozen=True)
class Filters:
    """The dead-letter filters of a page or an API call, checked; ``since`` as given and as a time."""

    job: str | None = None
    error_type: str | None = None
    classification: str | None = None
    status: str | None = None
    since: str | None = None

    @classmethod
    def of(cls, query: Mapping[str, str]) -> Filters:
        """The filters in ``query`` (empty values ignored); BadRequest for a value no entry can have."""
        given = {name: (query.get(name) or "").strip() or None for name in cls.__dataclass_fields__}
        if given["classification"] not in (None, *CLASSIFICATIONS):
            raise BadRequest(f"classification must be one of {', '.join(CLASSIFICATIONS)}")
        if given["status"] not in (None, *STATUSES):
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
        filters = cls(**given)
        filters.since_time()  # checked now, so a bad one is refused before anything is read
        return filters

    def since_time(self) -> datetime | None:
        """``since`` as a time: an age back from now (15m, 2h, 7d) or an ISO 8601 time."""
        if self.since is None:
            return None
        found = _AGE.match(self.since)
        if found:
            try:
                return datetime.now(timezone.utc) - timedelta(seconds=float(found[1]) * _UNITS[found[2]])
            except OverflowError:
                raise BadRequest(f"since={self.since} reaches back too far; use a shorter age") from None
        try:
            parsed = datetime.fromisoformat(self.since)
        except ValueError:
            raise BadRequest(
                "since must be an age (15m, 2h, 7d) or an ISO 8601 time (2026-11-27T10:00)"
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)

    def store_filters(self) -> dict[str, Any]:
        """The keyword arguments of ``DeadLetterQueue.ids``/``count``/``replay_all`` for these filters."""
        return {
            "job": self.job,
            "error_type": self.error_type,
            "classification": self.classification,
            "status": self.status,
            "since": self.since_time(),
        }

    def query(self, **more: Any) -> str:
        """These filters (and ``more``) as a query string, for links that keep them."""
        pairs = {**{k: getattr(self, k) for k in self.__dataclass_fields__}, **more}
        return urlencode({k: v for k, v in pairs.items() if v not in (None, "")})

    @property
    def any(self) -> bool:
        """Whether any filter is set."""
        return any(getattr(self, k) is not None for k in self.__dataclass_fields__)


def limit_of(text: str | None, default: int = 50) -> int:
    """A ``limit`` query value: a whole number from 1 to ``MAX_LIMIT``."""
    if text in (None, ""):
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return value


def shown(entry: DeadLetterEntry) -> dict[str, Any]:
    """The entry as the console shows it: arguments redacted by name, their secret values scrubbed from
    every other string (message, tracebacks, raw payload, audit)."""
    record: dict[str, Any] = json.loads(entry.to_json())
    return Scrubber.of(entry.kwargs).redact(record)


_AUDIT_HEAD = ("at", "by", "action", "result")


def audit_rows(records: list[Any]) -> list[dict[str, Any]]:
    """Audit records as rows: when, who, what, result, and the other details a line each (an edited
    replay's changes as ``changed month: "2026-06" → "2026-07"``). A record is data from Redis: whatever
    its shape, it is shown, never trusted to be well-formed."""
    rows = []
    for record in records:
        if not isinstance(record, Mapping):
            rows.append({"at": "", "by": "", "action": "", "result": "", "details": [_json(record)]})
            continue
        details = [
            f"{key}: {_json(value)}"
            for key, value in record.items()
            if key not in (*_AUDIT_HEAD, "changes", "kwargs")
        ]
        changes = record.get("changes")
        if isinstance(changes, list):
            details += [_change_line(change) for change in changes]
        elif changes is not None:
            details.append(f"changes: {_json(changes)}")
        if "kwargs" in record:
            details.append(f"arguments: {_json(record['kwargs'])}")
        rows.append({**{k: str(record.get(k, "")) for k in _AUDIT_HEAD}, "details": details})
    return rows


def _change_line(change: Any) -> str:
    if not isinstance(change, Mapping):
        return _json(change)
    field, kind = change.get("field"), change.get("change")
    if kind == "added":
        return f"added {field}: {_json(change.get('to'))}"
    if kind == "removed":
        return f"removed {field} (was {_json(change.get('from'))})"
    return f"{kind} {field}: {_json(change.get('from'))} → {_json(change.get('to'))}"


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def changes_of(text: str) -> dict[str, Any] | None:
    """The ``FIELD=VALUE`` lines of a replay form: each VALUE read as JSON, else taken as a string (as
    ``stalwart dlq replay --set`` reads it); None when there are none; DeadLetterError for a bad line."""
    changes: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        field, equals, value = line.partition("=")
        field = field.strip()
        if not equals or not field:
            raise DeadLetterError(f"{line.strip()!r} is not FIELD=VALUE; e.g. amount_cents=4900")
        if field in changes:
            raise DeadLetterError(f"{field} is set twice; set each field once")
        try:
            changes[field] = json.loads(value, parse_constant=_no_constant)
        except ValueError:
            changes[field] = value.strip()
        except RecursionError:
            raise DeadLetterError(f"the value of {field} is nested too deeply to read") from None
    return changes or None


def kwargs_of(value: Any) -> dict[str, Any] | None:
    """New arguments given whole (the API's ``kwargs``, a form's JSON): a JSON object, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value, parse_constant=_no_constant)
        except ValueError as err:
            raise DeadLetterError(f'the arguments are not JSON ({err}); e.g. {{"order_id": 7}}') from None
        except RecursionError:
            raise DeadLetterError("the arguments are nested too deeply to read") from None
    if not isinstance(value, dict):
        raise DeadLetterError(
            'the arguments must be a JSON object of keyword arguments, e.g. {"order_id": 7}'
        )
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not JSON numbers: the text is a string


def ago(timestamp: str, now: datetime) -> str:
    """How long before ``now`` ``timestamp`` was (``42s ago``, ``5m ago``, ``7h ago``, ``12d ago``)."""
    try:
        then = datetime.fromisoformat(timestamp)
    except ValueError:
        return timestamp[:19]
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size, below in (("s", 1, 60), ("m", 60, 3600), ("h", 3600, 48 * 3600)):
        if seconds < below:
            return f"{seconds // size}{unit} ago"
    return f"{seconds // 86400}d ago"
