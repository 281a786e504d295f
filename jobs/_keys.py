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

# Each worker process says it is alive (its Reaper thread renews a short-lived key every heartbeat interval):
# a job whose heartbeats lapsed counts as having killed its worker only if that key has lapsed too.
WORKER_ALIVE = PREFIX + "alive:"

# Fields we add to RQ's job hash (rq:job:<id>). They ride in RQ's own pipelines.
FIELD_ATTEMPT = "stalwart_attempt"
FIELD_OUTCOME = "stalwart_outcome"
FIELD_HISTORY = "stalwart_history"
FIELD_SNOOZED_SINCE = "stalwart_snoozed_since"
# The token of the job's current attempt ("<attempt>:<execution id>"), written when the attempt starts and
# removed by whoever settles it: a settler that finds it gone or replaced came second (finishing/fence.py).
FIELD_TOKEN = "stalwart_token"


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


def worker_alive(worker_name: str) -> str:
    """The key that says the worker process named ``worker_name`` (RQ's name) is alive."""
    return WORKER_ALIVE + worker_name


def reaper_lock(queue: str) -> str:
    """The lock of the worker settling one queue's abandoned jobs this round."""
    return f"{REAPER}:{queue}"
