"""The types of the ``stalwart`` command's option values: each parses one string, or raises
``argparse.ArgumentTypeError`` with a message that says what a right value looks like."""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def age(text: str) -> timedelta:
    """``15m``, ``2h``, ``7d``... as a timedelta (argparse type)."""
    found = _AGE.match(text.strip())
    if not found:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age; use a number and a unit, e.g. 15m, 2h, 7d")
    try:
        return timedelta(**{_UNITS[found.group(2)]: float(found.group(1))})
    except OverflowError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is too long an age; use a shorter one, e.g. 90d"
        ) from None


def moment(text: str) -> datetime:
    """An ISO 8601 time or an age back from now (argparse type)."""
    if _AGE.match(text.strip()):
        back = age(text)
        try:
            return datetime.now(timezone.utc) - back
        except OverflowError:
            raise argparse.ArgumentTypeError(
                f"{text!r} reaches back before the year 1; use a shorter age or an ISO 8601 time"
            ) from None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time; use ISO 8601 (2026-11-27T10:00) or an age such as 15m, 2h, 7d"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def aware_time(text: str) -> datetime:
    """An ISO 8601 time with its time zone (argparse type): a job due at a time must not depend on the
    machine's zone."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time; use ISO 8601 with a time zone, e.g. 2026-12-01T03:00:00+00:00"
        ) from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no time zone; add one, e.g. {parsed.isoformat()}+00:00 (UTC) or +01:00"
        )
    return parsed


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    return parse


def positive_number(text: str) -> float:
    """An argparse type: a finite number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text!r}")
    return value


def queue_name(text: str) -> str:
    """An argparse type: a queue name (not empty)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("a queue needs a name, e.g. --queue default")
    return text


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def assignment(text: str) -> tuple[str, Any]:
    """An argparse type: ``FIELD=VALUE``, the value read as JSON, or taken as a string if it is not JSON.

    ``amount_cents=4900`` is a number, ``note=fixed`` and ``zip=01234`` are strings (not JSON), and
    ``note='"4900"'`` is the string "4900". ``NaN`` and ``Infinity`` are strings: JSON has no such numbers.
    """
    field, equals, value = text.partition("=")
    if not equals or not field.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not FIELD=VALUE; e.g. --set amount_cents=4900 or --set note='\"fixed\"'"
        )
    try:
        return field.strip(), json.loads(value, parse_constant=_no_constant)
    except ValueError:  # not JSON (json.JSONDecodeError is a ValueError): the text itself
        return field.strip(), value
    except RecursionError:
        raise argparse.ArgumentTypeError(
            f"the value of {field.strip()!r} is nested too deeply to read; pass flatter data"
        ) from None


LIMIT = bounded_int(1, 1_000_000_000)
