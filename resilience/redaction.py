"""Redaction: values whose names look secret are shown as ``[redacted]``.

The original values stay where they are needed (a job's payload, for replay);
everything meant for people or other systems (logs, alerts, listings) goes
through ``redact`` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"

DEFAULT_SECRET_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "card_number",
    "cvv",
    "authorization",
    "private_key",
)


def _pattern() -> re.Pattern[str]:
    extra = os.environ.get("STALWART_SECRET_WORDS", "")
    words = [*DEFAULT_SECRET_WORDS, *(w.strip().lower() for w in extra.split(",") if w.strip())]
    return re.compile("|".join(re.escape(w) for w in words))


_SECRET = _pattern()


def is_secret_name(name: str) -> bool:
    """Whether a field called ``name`` should never be shown (``api_key``, ``user_password``...)."""
    return bool(_SECRET.search(name.lower().replace("-", "_")))


def redact(values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``values`` with secret-looking keys replaced by ``[redacted]``, nested dicts included."""
    shown: dict[str, Any] = {}
    for key, value in values.items():
        if is_secret_name(str(key)):
            shown[key] = REDACTED
        elif isinstance(value, Mapping):
            shown[key] = redact(value)
        elif isinstance(value, list):
            shown[key] = [redact(v) if isinstance(v, Mapping) else v for v in value]
        else:
            shown[key] = value
    return shown
