"""What stalwart reads of RQ's job hash: an allowlist of fields, each parsed strictly; reading never raises.

Anyone who can write to Redis can write a job hash. RQ's own ``Job.restore``
loads every field it knows and acts on them: a forged ``webhooks`` field makes
the worker send requests anywhere, a forged ``retries_left`` makes RQ run a
dead-lettered job again; and a field it cannot parse raises out of RQ's dequeue,
leaving the job nowhere. Stalwart reads the fields it needs (``FIELDS``) and
nothing else, so no other field, RQ's or anyone's, can steer a worker.

A field that is there but malformed makes the hash ``corrupt`` (its job is then
poison, never run): a hash damaged in one field cannot be trusted in the others.
RQ's dependency list is read for its form only (``CHECKED``): stalwart never
uses it, but RQ's own tools restore the hash with RQ's parser, which fails on it.

The payload (``data``) is inflated at most to the payload size limit: a small
compressed field that inflates to gigabytes costs the worker nothing.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from rq.job import JobStatus
from rq.utils import parse_timeout, str_to_date

from .. import _keys
from ..model.limits import Limits
from ..model.truncation import NAME_CHARS, shorten

# RQ's exc_info (a failure's text, compressed): read for people, so bounded like other text for people.
_EXC_INFO_BYTES = 64 * 1024


def _text(raw: bytes) -> str:
    return raw.decode("utf-8")


def _name(raw: bytes) -> str:
    text = raw.decode("utf-8")
    if len(text) > NAME_CHARS:
        raise ValueError(f"{len(text):,} characters long")
    return text


def _description(raw: bytes) -> str:
    # RQ writes a call string with every argument for jobs enqueued through it: for people, so cut short.
    return shorten(raw.decode("utf-8"), NAME_CHARS)


def _date(raw: bytes) -> datetime:
    # RQ's own form (``2026-11-30T20:18:04.467201Z``) is read by the standard library's C parser: RQ's
    # strptime took a tenth of a fast worker's time; anything else goes through RQ's parser, and its rules.
    if (
        len(raw) == 27
        and raw[10:11] == b"T"
        and raw[19:20] == b"."
        and raw[26:27] == b"Z"
        and raw[:4].isdigit()
    ):
        return datetime.fromisoformat(raw[:26].decode("ascii")).replace(tzinfo=timezone.utc)
    return str_to_date(raw)


def _whole(raw: bytes) -> int:
    value = int(raw)
    if value < -1:
        raise ValueError("below -1")
    return value


def _count(raw: bytes) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("negative")
    return value


def _timeout(raw: bytes) -> int | None:
    return parse_timeout(raw.decode("utf-8"))


def _status(raw: bytes) -> JobStatus:
    return JobStatus(raw.decode("utf-8"))


def _flag(raw: bytes) -> bool:
    return bool(int(raw))


def _finite(raw: bytes) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError("not finite")
    return value


def _history(raw: bytes) -> list[dict[str, Any]]:
    records = json.loads(raw)
    # Attempt records are flat: a dict of plain values each. Nothing deeper is ours to walk.
    flat = (str, int, float, bool, type(None))
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and all(isinstance(v, flat) for v in r.values()) for r in records
    ):
        raise ValueError("not a list of attempt records")
    return records


def _claim(raw: bytes) -> str:
    text = raw.decode("utf-8")
    if len(text) > 1024:
        raise ValueError(f"{len(text):,} characters long")
    return text


def _ids(raw: bytes) -> list[str]:
    ids = json.loads(raw)
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError("not a list of job ids")
    return ids


# The fields stalwart reads, and what each must be. Everything else in the hash is ignored.
FIELDS: dict[str, tuple[Callable[[bytes], Any], str]] = {
    "created_at": (_date, "a timestamp"),
    "enqueued_at": (_date, "a timestamp"),
    "started_at": (_date, "a timestamp"),
    "ended_at": (_date, "a timestamp"),
    "last_heartbeat": (_date, "a timestamp"),
    "origin": (_name, "a queue name"),
    "worker_name": (_name, "a worker name"),
    "description": (_description, "UTF-8 text"),
    "timeout": (_timeout, "a timeout"),
    "result_ttl": (_whole, "a number of seconds"),
    "failure_ttl": (_whole, "a number of seconds"),
    "ttl": (_whole, "a number of seconds"),
    "status": (_status, "a job status"),
    "enqueue_at_front": (_flag, "0 or 1"),
    _keys.FIELD_ATTEMPT: (_count, "a count of attempts"),
    _keys.FIELD_HISTORY: (_history, "a JSON list of attempt records"),
    _keys.FIELD_SNOOZED_SINCE: (_finite, "a time"),
    _keys.FIELD_KILLS: (_count, "a count of deaths"),
    _keys.FIELD_UNIQUE: (_claim, "a unique job's claim key"),
}
# Read for their form only; their values are never used.
CHECKED: dict[str, tuple[Callable[[bytes], Any], str]] = {
    "dependency_ids": (_ids, "a JSON list of job ids"),
    "dependency_id": (_text, "a job id"),
}


@dataclass
class JobHash:
    """The fields of one job hash that stalwart uses, parsed; ``corrupt`` names the first one that was not."""

    data: bytes = b""
    # The payload inflates past the size limit: ``data`` holds only its first ``limit + 1`` bytes.
    oversize: bool = False
    values: dict[str, Any] = field(default_factory=dict)
    exc_info: str | None = None
    corrupt: str | None = None


def read(raw_hash: Mapping[Any, Any], limits: Limits) -> JobHash:
    """The allowlisted fields of ``raw_hash`` (as HGETALL returns it), parsed; never raises."""
    read = JobHash()
    data = _field(raw_hash, "data")
    if data is None:
        read.corrupt = "it has no 'data' field (no payload)"
    else:
        read.data, read.oversize = inflate(data, limits.max_payload_bytes)
    for table, keep in ((FIELDS, True), (CHECKED, False)):
        for name, (parse, what) in table.items():
            raw = _field(raw_hash, name)
            if not raw:
                continue  # RQ writes an empty string for a field with no value
            try:
                value = parse(raw)
            except Exception as err:  # noqa: BLE001 - any parser's failure means the same: a malformed field
                read.corrupt = read.corrupt or (
                    f"its {name!r} field is not {what} ({shorten(repr(raw), 60)}: {shorten(str(err), 100)})"
                )
                continue
            if keep:
                read.values[name] = value
    exc_info = _field(raw_hash, "exc_info")
    if exc_info:
        text, _ = inflate(exc_info, _EXC_INFO_BYTES)
        read.exc_info = text.decode("utf-8", errors="replace")
    return read


def inflate(raw: bytes, limit: int) -> tuple[bytes, bool]:
    """RQ's compressed field inflated to at most ``limit`` bytes; True if it holds more (the rest is dropped).

    Like RQ, a field that is not zlib data is taken as it is.
    """
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(raw, limit + 1)
    except zlib.error:
        data = b""
    if len(data) > limit:
        return data[:limit], True
    if not inflater.eof:
        # Not (whole) zlib data: RQ's own reader falls back to the raw bytes.
        return raw[:limit], len(raw) > limit
    return data, False


def _field(raw_hash: Mapping[Any, Any], name: str) -> bytes | None:
    # Keys and values are bytes, or text from a client created with decode_responses=True.
    value = raw_hash.get(name.encode(), raw_hash.get(name))
    return value if value is None or isinstance(value, bytes) else str(value).encode()
