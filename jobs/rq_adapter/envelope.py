"""What RQ stores around a stalwart payload: ``[ENTRY_POINT, None, [], payload]``, and its size.

The size limit bounds this serialized form (before RQ compresses it), on both
sides: ``enqueue`` measures it before writing, and the worker measures the same
bytes before decoding them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rq.serializers import JSONSerializer

from ..errors import PayloadError
from ..model.definition import JobDefinition
from ..model.limits import Limits

# The one function name every stalwart job carries in RQ's payload. Workers
# compare against it and never import it: a payload naming anything else is poison.
ENTRY_POINT = "stalwart.run"
UNDECODABLE = "<undecodable>"
# The levels RQ's data adds around an argument: its list, the payload, the payload's kwargs.
ENVELOPE_DEPTH = 3
# A payload too big to decode still names its job in its first bytes: enough for the record of it.
CLAIMED_NAME = re.compile(
    rb'^\s*\[\s*"stalwart\.run"\s*,\s*null\s*,\s*\[\s*\]\s*,\s*\{\s*"job"\s*:\s*("(?:[^"\\]|\\.){1,400}")'
)


def serialized(payload: Mapping[str, Any]) -> bytes:
    """RQ's data for a job carrying ``payload`` (before RQ compresses it): what the size limit bounds."""
    return JSONSerializer.dumps([ENTRY_POINT, None, [], payload])  # type: ignore[no-untyped-call,no-any-return]


def check_size(job: type[JobDefinition], payload: Mapping[str, Any], limits: Limits) -> None:
    """Raise PayloadError if ``payload`` is over the size limit, measured as the worker will measure it."""
    size, limit = len(serialized(payload)), limits.max_payload_bytes
    if size > limit:
        raise PayloadError(
            job.name,
            None,
            f"has a payload of {size} bytes, over the {limit}-byte limit; store large data elsewhere "
            "and pass its id (or raise STALWART_MAX_PAYLOAD_BYTES)",
        )


def openers(data: bytes) -> int:
    # Lists and dicts cannot nest deeper than the JSON opens them: when this is under the limit (almost
    # always), the payload need not be walked.
    return data.count(b"[") + data.count(b"{")
