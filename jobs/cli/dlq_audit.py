"""How ``stalwart dlq`` shows an entry's audit trail and the changes of an edited replay.

An edited replay's record holds the arguments it ran with and a per-field diff,
both redacted when they were written (``jobs.dead_letter.edits``); they are
shown a line each under the record. A record is data from Redis: whatever its
shape, it is shown (as JSON if it is not what a replay writes), never trusted
to be well-formed, and every line goes through ``visible``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .render import visible

_HEAD = ("at", "by", "action", "result")
ARROW = "→"


def _value(value: Any) -> str:
    return json.dumps(value, default=str)


def change_line(change: Mapping[str, Any]) -> str:
    """One change of an edited replay: ``changed amount_cents: 1900 → 4900``, ``added note: "fixed"``."""
    field, kind = change.get("field"), change.get("change")
    if kind == "added":
        return visible(f"added {field}: {_value(change.get('to'))}")
    if kind == "removed":
        return visible(f"removed {field} (was {_value(change.get('from'))})")
    return visible(f"{kind} {field}: {_value(change.get('from'))} {ARROW} {_value(change.get('to'))}")


def _changes(record: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    """The record's changes if they have the shape a replay writes, else None."""
    changes = record.get("changes")
    if isinstance(changes, list) and all(isinstance(c, Mapping) and "field" in c for c in changes):
        return changes
    return None


def audit_lines(record: Mapping[str, Any]) -> list[str]:
    """One audit record as lines: when, who, what, with what result; an edit's changes and arguments below."""
    changes = _changes(record)
    nested = ("changes", "kwargs") if changes is not None else ()
    extra = {key: value for key, value in record.items() if key not in (*_HEAD, *nested)}
    detail = f"  {_value(extra)}" if extra else ""
    what = f"{record.get('action')}: {record.get('result')}"
    lines = [visible(f"  {record.get('at')}  {record.get('by')}  {what}{detail}")]
    if changes is not None:
        lines += [f"      {change_line(change)}" for change in changes] or ["      no argument changed"]
        lines.append(visible(f"      arguments: {_value(record.get('kwargs'))}"))
    return lines
