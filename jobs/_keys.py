"""Every Redis key and job-hash field the framework writes, in one place.

RQ owns its own keys (``rq:job:<id>``, ``rq:queue:<name>``, ...). Ours live
under ``stalwart:`` so that they can be listed, sized and cleaned as a whole.
"""

from __future__ import annotations

PREFIX = "stalwart:"

# Dead-letter queue: one hash and one audit list per entry; sorted sets of entry
# ids scored by the time of the last failure, for all entries and per filter value.
DEAD_LETTER_ENTRY = PREFIX + "dlq:entry:"
DEAD_LETTER_AUDIT = PREFIX + "dlq:audit:"
DEAD_LETTER_INDEX = PREFIX + "dlq:index"
DEAD_LETTER_BY_JOB = PREFIX + "dlq:job:"
DEAD_LETTER_BY_ERROR = PREFIX + "dlq:error:"
DEAD_LETTER_BY_CLASS = PREFIX + "dlq:class:"
DEAD_LETTER_BY_STATUS = PREFIX + "dlq:status:"
DEAD_LETTER_ALERTED = PREFIX + "dlq:alerted"

# The reaper (abandoned.py): each round, one worker settles each queue's abandoned jobs, and one
# reports the gauges; each holds a short lock for it.
REAPER = PREFIX + "reaper"

# Alerts (telemetry/): the outbox every alert is pushed to, each dispatcher's list of the alerts it is
# sending (with its lease, renewed while it lives, and the set of dispatchers), and the items no
# dispatcher could read, set aside for a person.
ALERTS_OUTBOX = PREFIX + "alerts:outbox"
ALERTS_DISPATCHERS = PREFIX + "alerts:dispatchers"
ALERTS_UNREADABLE = PREFIX + "alerts:unreadable"

# Fields we add to RQ's job hash (rq:job:<id>). They ride in RQ's own pipelines.
FIELD_ATTEMPT = "stalwart_attempt"
FIELD_OUTCOME = "stalwart_outcome"
FIELD_HISTORY = "stalwart_history"
FIELD_SNOOZED_SINCE = "stalwart_snoozed_since"
# How many times the job has taken its worker down (the reaper's count; see runtime/reaper.py).
FIELD_KILLS = "stalwart_kills"


def dead_letter_entry(entry_id: str) -> str:
    """The key of one dead-letter entry."""
    return DEAD_LETTER_ENTRY + entry_id


def dead_letter_audit(entry_id: str) -> str:
    """The key of one entry's audit trail."""
    return DEAD_LETTER_AUDIT + entry_id


def dead_letter_job(job: str) -> str:
    """The index of entries of one job."""
    return DEAD_LETTER_BY_JOB + job


def dead_letter_error(error_type: str) -> str:
    """The index of entries with one error type."""
    return DEAD_LETTER_BY_ERROR + error_type


def dead_letter_class(classification: str) -> str:
    """The index of entries with one classification."""
    return DEAD_LETTER_BY_CLASS + classification


def dead_letter_status(status: str) -> str:
    """The index of entries with one status."""
    return DEAD_LETTER_BY_STATUS + status


def dead_letter_indexes(job: str, error_type: str, classification: str, status: str) -> list[str]:
    """Every index an entry with these values belongs to."""
    return [
        DEAD_LETTER_INDEX,
        dead_letter_job(job),
        dead_letter_error(error_type),
        dead_letter_class(classification),
        dead_letter_status(status),
    ]


def reaper_lock(queue: str) -> str:
    """The lock of the worker settling one queue's abandoned jobs this round."""
    return f"{REAPER}:{queue}"


def alerts_sending(dispatcher: str) -> str:
    """The list of alerts one dispatcher has taken from the outbox and not yet delivered."""
    return f"{PREFIX}alerts:sending:{dispatcher}"


def alerts_lease(dispatcher: str) -> str:
    """The lease of one dispatcher: while it exists, its sending list is its own."""
    return f"{PREFIX}alerts:lease:{dispatcher}"
