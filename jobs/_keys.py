"""Every Redis key and job-hash field the framework writes, in one place.

RQ owns its own keys (``rq:job:<id>``, ``rq:queue:<name>``, ...). Ours live
under ``stalwart:`` so that they can be listed, sized and cleaned as a whole.
"""

from __future__ import annotations

PREFIX = "stalwart:"

# Dead-letter queue: one hash per entry, and a sorted set of entry ids by time.
DEAD_LETTER_ENTRY = PREFIX + "dlq:entry:"
DEAD_LETTER_INDEX = PREFIX + "dlq:index"

# Fields we add to RQ's job hash (rq:job:<id>). They ride in RQ's own pipelines.
FIELD_ATTEMPT = "stalwart_attempt"
FIELD_OUTCOME = "stalwart_outcome"
FIELD_HISTORY = "stalwart_history"

# The one function name every stalwart job carries in RQ's payload. Workers
# compare against it and never import it: a payload naming anything else is poison.
ENTRY_POINT = "stalwart.run"


def dead_letter_entry(entry_id: str) -> str:
    """The key of one dead-letter entry."""
    return DEAD_LETTER_ENTRY + entry_id
