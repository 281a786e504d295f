"""Edited replays: changing some of an entry's arguments, and what changed, redacted for the audit trail.

A change names a field by its path: ``amount_cents``, or ``address.city`` for a
key inside an object argument. It replaces that one value and leaves the rest of
the arguments as they were; a key may be added to an object that exists, but a
path through a missing object or through a list, a string or a number is
refused (set the whole value instead). Whether the result fits ``perform`` is
checked by the replay, as for any enqueue.

The audit trail keeps what a replay ran with and how it differs from the entry:
each field added, removed or changed (objects are compared key by key, so a
changed ``address.city`` is one change, not a new ``address``). Values are
redacted as everywhere else: a field whose path holds a secret name
(``api_token``, ``card.number``) is ``[redacted]``, and the values of every
secret field, old and new, are scrubbed from the other strings.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from typing import Any

from resilience import REDACTED, Scrubber, is_secret_name

from ..errors import DeadLetterError

ADDED, REMOVED, CHANGED = "added", "removed", "changed"


def apply(kwargs: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``kwargs`` with each ``path: value`` of ``changes`` set; DeadLetterError for a bad path."""
    edited: dict[str, Any] = copy.deepcopy(dict(kwargs))
    for path, value in changes.items():
        keys = split(path)
        node = edited
        for depth, key in enumerate(keys[:-1]):
            inner = ".".join(keys[: depth + 1])
            if key not in node:
                raise DeadLetterError(
                    f"cannot set {path!r}: the arguments have no {inner!r} to set a key in; "
                    f"set {inner!r} whole (a JSON object)"
                )
            if not isinstance(node[key], dict):
                raise DeadLetterError(
                    f"cannot set {path!r}: {inner!r} is {_kind(node[key])}, not an object; "
                    f"set {inner!r} whole instead"
                )
            node = node[key]
        node[keys[-1]] = copy.deepcopy(value)
    return edited


def split(path: str) -> list[str]:
    """The keys of a field path (``address.city``); raises DeadLetterError for an empty key."""
    keys = path.split(".")
    if not all(keys):
        raise DeadLetterError(
            f"{path!r} is not a field name; use a name, or names joined by dots for a key inside an "
            "object argument (address.city)"
        )
    return keys


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number" if isinstance(value, int | float) else f"a {type(value).__name__}"


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each field added, removed or changed from ``old`` to ``new`` (unredacted), objects key by key."""
    return list(_differences(old, new, ()))


def _differences(
    old: Mapping[str, Any], new: Mapping[str, Any], path: tuple[str, ...]
) -> Iterator[dict[str, Any]]:
    for key in [*new, *(k for k in old if k not in new)]:
        field = ".".join((*path, str(key)))
        if key not in old:
            yield {"field": field, "change": ADDED, "to": new[key]}
        elif key not in new:
            yield {"field": field, "change": REMOVED, "from": old[key]}
        elif isinstance(old[key], dict) and isinstance(new[key], dict):
            yield from _differences(old[key], new[key], (*path, str(key)))
        elif not _same(old[key], new[key]):
            yield {"field": field, "change": CHANGED, "from": old[key], "to": new[key]}


def _same(a: Any, b: Any) -> bool:
    # As JSON, so 1 and True (equal in Python) differ, as they do to the job that receives them.
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def audited(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The audit details of a replay with arguments ``new`` of an entry with ``old``: both redacted."""
    scrubber = Scrubber.of(old) + Scrubber.of(new)
    return {"kwargs": scrubber.redact(new), "changes": redacted(diff(old, new), scrubber)}


def redacted(changes: list[dict[str, Any]], scrubber: Scrubber) -> list[dict[str, Any]]:
    """``changes`` (from ``diff``): secret fields' values ``[redacted]``, secrets scrubbed from the rest."""
    shown = []
    for change in changes:
        secret = any(is_secret_name(key) for key in change["field"].split("."))
        record = {"field": change["field"], "change": change["change"]}
        for side in ("from", "to"):
            if side in change:
                record[side] = REDACTED if secret else scrubber.redact({"value": change[side]})["value"]
        shown.append(record)
    return shown
