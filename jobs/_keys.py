"""Every Redis key and job-hash field the framework writes, in one place.

RQ owns its own keys (``rq:job:<id>``, ``rq:queue:<name>``, ...), under the
prefix it reads from ``RQ_KEY_PREFIX``; we reach them only through RQ's classes
and templates, so they follow it. Ours live under ``STALWART_KEY_PREFIX``
(``stalwart`` by default) and a colon, so that they can be listed, sized and
cleaned as a whole, and so that two applications sharing a Redis keep apart
their dead-letter queues, alerts, statistics, circuits and locks.

Keys are functions, not constants: the prefix is the one in force when the key
is used (``settings.current()``), as tests and embedding applications set it.
"""

from __future__ import annotations

from . import settings

# Fields we add to RQ's job hash (rq:job:<id>). They ride in RQ's own pipelines.
FIELD_ATTEMPT = "stalwart_attempt"
FIELD_OUTCOME = "stalwart_outcome"
FIELD_HISTORY = "stalwart_history"
FIELD_SNOOZED_SINCE = "stalwart_snoozed_since"
# How many times the job has taken its worker down (the reaper's count; see runtime/reaper.py).
FIELD_KILLS = "stalwart_kills"
# The token of the job's current attempt ("<attempt>:<execution id>"), written when the attempt starts and
# removed by whoever settles it: a settler that finds it gone or replaced came second (finishing/fence.py).
FIELD_TOKEN = "stalwart_token"
# A unique job's claim key (see ``unique``), released when the job ends.
FIELD_UNIQUE = "stalwart_unique"


def prefix() -> str:
    """What every stalwart key starts with: ``STALWART_KEY_PREFIX`` and a colon (``stalwart:``)."""
    return f"{settings.current().key_prefix}:"


# -- the dead-letter queue: one hash and one audit list per entry; sorted sets of entry ids scored by the
# time of the last failure, for all entries and per filter value.


def dead_letter_entry(entry_id: str) -> str:
    """The key of one dead-letter entry."""
    return f"{prefix()}dlq:entry:{entry_id}"


def dead_letter_audit(entry_id: str) -> str:
    """The key of one entry's audit trail."""
    return f"{prefix()}dlq:audit:{entry_id}"


def dead_letter_index() -> str:
    """The index of every entry."""
    return f"{prefix()}dlq:index"


def dead_letter_job(job: str) -> str:
    """The index of entries of one job."""
    return f"{prefix()}dlq:job:{job}"


def dead_letter_error(error_type: str) -> str:
    """The index of entries with one error type."""
    return f"{prefix()}dlq:error:{error_type}"


def dead_letter_class(classification: str) -> str:
    """The index of entries with one classification."""
    return f"{prefix()}dlq:class:{classification}"


def dead_letter_status(status: str) -> str:
    """The index of entries with one status."""
    return f"{prefix()}dlq:status:{status}"


def dead_letter_indexes(job: str, error_type: str, classification: str, status: str) -> list[str]:
    """Every index an entry with these values belongs to."""
    return [
        dead_letter_index(),
        dead_letter_job(job),
        dead_letter_error(error_type),
        dead_letter_class(classification),
        dead_letter_status(status),
    ]


def dead_letter_scratch(token: str) -> str:
    """A short-lived intersection of indexes (deleted in the pipeline that made it)."""
    return f"{prefix()}dlq:scratch:{token}"


def dead_letter_causes() -> str:
    """The set of every (job, error type) pair an entry was stored with (``<job>|<error type>``), so the
    root causes are counted for the pairs that exist, without scanning the keyspace for indexes."""
    return f"{prefix()}dlq:causes"


def dead_letter_alerted() -> str:
    """Set while the queue is over its alert size, so the alert is raised once."""
    return f"{prefix()}dlq:alerted"


# -- the reaper: each round, one worker settles each queue's abandoned jobs, and one reports the gauges;
# each holds a short lock for it.


def reaper() -> str:
    """The lock of the worker reporting the gauges this round."""
    return f"{prefix()}reaper"


def worker_alive(worker_name: str) -> str:
    """The key that says the worker process named ``worker_name`` (RQ's name) is alive.

    Its Reaper thread renews it every heartbeat interval: a job whose heartbeats lapsed counts as having
    killed its worker only if this key has lapsed too.
    """
    return f"{prefix()}alive:{worker_name}"


def reaper_lock(queue: str) -> str:
    """The lock of the worker settling one queue's abandoned jobs this round."""
    return f"{reaper()}:{queue}"


def dequeued(job_id: str) -> str:
    """When a reaper first saw a job dequeued and not started (it puts it back after a grace period)."""
    return f"{prefix()}dequeued:{job_id}"


# -- time: jobs due later (delayed jobs, retries, snoozes) and the scheduler that moves them when due; unique
# jobs' claims.


def schedule() -> str:
    """Every job due later, across queues, scored by its due time in epoch seconds (Redis's clock).

    RQ's per-queue scheduled registries hold the same ids with the same scores, for RQ's tools; this one
    set lets the scheduler find the next due job in one read.
    """
    return f"{prefix()}schedule:due"


def schedule_wake() -> str:
    """The channel every write of a due time publishes on, so the scheduler wakes for an earlier job."""
    return f"{prefix()}schedule:wake"


def scheduler_leader() -> str:
    """The lease of the one scheduler that moves due jobs across the fleet (its holder's token)."""
    return f"{prefix()}scheduler:leader"


def outbox_alerted() -> str:
    """Set while the growth alert of the outbox in the application's database is raised (re-armed after)."""
    return f"{prefix()}outbox:alerted"


def unique(job: str, idempotency_key: str) -> str:
    """The id of the job holding a unique job's idempotency key (while queued, scheduled or running)."""
    return f"{prefix()}unique:{job}:{idempotency_key}"


# -- telemetry and checks


# Alerts (telemetry/): the outbox every alert is pushed to, each dispatcher's list of the alerts it is
# sending (with its lease, renewed while it lives, and the set of dispatchers), and the items no
# dispatcher could read, set aside for a person.


def alert_outbox() -> str:
    """The list of alerts waiting for a worker's dispatcher."""
    return f"{prefix()}alerts:outbox"


def alert_dispatchers() -> str:
    """The set of dispatchers that may hold alerts they are sending."""
    return f"{prefix()}alerts:dispatchers"


def alert_unreadable() -> str:
    """The list of outbox items no dispatcher could read, kept for a person."""
    return f"{prefix()}alerts:unreadable"


def alerts_sending(dispatcher: str) -> str:
    """The list of alerts one dispatcher has taken from the outbox and not yet delivered."""
    return f"{prefix()}alerts:sending:{dispatcher}"


def alerts_lease(dispatcher: str) -> str:
    """The lease of one dispatcher: while it exists, its sending list is its own."""
    return f"{prefix()}alerts:lease:{dispatcher}"


def stats_bucket(minute: int) -> str:
    """The per-minute hash of counts (``<scope>|<metric>`` fields) for the minute starting at ``minute``."""
    return f"{prefix()}stats:{minute}"


def stats_totals() -> str:
    """The all-time hash of counts (the same ``<scope>|<metric>`` fields): it never expires, so counters
    read from it only go up; only deleting it (or FLUSHALL) resets them."""
    return f"{prefix()}stats:totals"


def stats_durations() -> str:
    """The all-time hash of job durations by histogram bucket (``<job>|<upper bound in seconds>`` fields)."""
    return f"{prefix()}stats:durations"


def check_state(kind: str, name: str) -> str:
    """What an invariant's or a rule's last run found (``kind`` is ``invariant`` or ``rule``)."""
    return f"{prefix()}checks:{kind}:{name}"


# -- state the resilience primitives keep for jobs (passed in: resilience/ knows nothing of settings)


def circuits() -> str:
    """The prefix of every circuit breaker's keys."""
    return f"{prefix()}circuit:"


def idempotency_guards() -> str:
    """The prefix of every idempotency guard's keys."""
    return f"{prefix()}once:"


# -- fleet-wide limits (runtime/limits.py): per limit key, a sorted set of the attempts running (scored by
# when each lapses unless its heartbeat renews it) and a sorted set of recent starts (scored by start time).


def limit_holders(limit_key: str) -> str:
    """The attempts holding one of a limit's concurrency slots."""
    return f"{prefix()}limit:{limit_key}:running"


def limit_starts(limit_key: str) -> str:
    """The starts within a limit's rate window (its sliding log)."""
    return f"{prefix()}limit:{limit_key}:starts"


# -- periodic jobs (runtime/periodic.py): each worker publishes the specs of the periodic jobs it imported;
# per job, a hash of its state (when it was first seen, the last tick recorded, the last enqueued, how the
# last ended), and the ticks enqueued and not yet ended, scored by when each is late.


def periodic_specs() -> str:
    """The hash of every published periodic job's spec (JSON), by job name."""
    return f"{prefix()}periodic:specs"


def periodic_state(name: str) -> str:
    """One periodic job's state: ``start``, ``last_tick``, ``last_enqueued``, ``last_outcome``..."""
    return f"{prefix()}periodic:state:{name}"


def periodic_pending(name: str) -> str:
    """The ticks (ms) of one periodic job enqueued and not yet ended, scored by their deadline (ms)."""
    return f"{prefix()}periodic:pending:{name}"
