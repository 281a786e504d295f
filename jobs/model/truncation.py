"""Text for people, bounded: a prefix of anything too long, and a marker saying it was cut and from what.

An error message can be megabytes long, a forged payload's job name too. What
people read (an entry's message and errors, alerts, Sentry events, log lines)
is cut to a size they can read and every channel can carry; what replay needs
(a job's arguments) is never cut.
"""

from __future__ import annotations

import json
from typing import Any

# Sentry keeps 8,192 characters of a message; one paragraph about one failure fits in far less.
MESSAGE_CHARS = 8_000
# A traceback's frames and the start of its message.
TRACEBACK_CHARS = 16_000
# Names and ids (a job name, a request id, a tag value: Sentry keeps 200 characters of a tag).
NAME_CHARS = 200
# A look at a payload that cannot be decoded.
PREVIEW_CHARS = 2_000


def shorten(text: str, limit: int, *, total: str | None = None) -> str:
    """``text`` if at most ``limit`` characters, else a prefix and a "truncated" marker, ``limit`` in all.

    The marker gives the original size (``total`` when the caller knows it better, e.g. "over 512 KB").
    What it returns is within the limit, so shortening it again changes nothing.
    """
    if len(text) <= limit:
        return text
    marker = cut_marker(total or f"{len(text):,} characters")
    return text[: max(limit - len(marker), 0)] + marker


def fit_json(text: str, limit: int) -> str:
    """``text``, shortened so that it takes at most ``limit`` characters once encoded as a JSON string.

    Quotes, backslashes and control characters take more room encoded; cutting by characters alone
    could leave an alert over its size.
    """
    if len(json.dumps(text)) <= limit:
        return text
    room = limit
    while True:
        candidate = shorten(text, room)
        size = len(json.dumps(candidate))
        if size <= limit or room == 0:
            return candidate
        room = max(room * limit // size - 1, 0)


def cut_marker(total: str) -> str:
    """What follows a prefix that was cut: the word "truncated" (searchable) and the original size."""
    return f"… [truncated: {total} in all]"


def shorten_json(value: Any, limit: int) -> Any:
    """``value`` if its JSON is at most ``limit`` characters, else that JSON as shortened text."""
    encoded = json.dumps(value, default=str)
    return value if len(encoded) <= limit else shorten(encoded, limit)
