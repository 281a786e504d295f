"""Jobs due later: writing their due times, and moving them to their queues when due.

A job due later (``enqueue_in``/``enqueue_at``, a retry after its backoff, a
snooze) is in two sorted sets with the same score, its due time in epoch
seconds to the microsecond: RQ's scheduled registry of its queue (what ``rq
info``, rq-dashboard and ``stalwart stats`` count) and one set across queues
(``_keys.schedule``), where the scheduler finds the next due job in one read.
RQ's registry keeps whole seconds and its scheduler truncates them: half of
RQ's retries ran early. Ours keeps the exact time.

One clock decides: Redis's (``TIME``, read inside the scripts). A delay is added
to Redis's time when the job is written, and a job moves when Redis's time has
reached its due time, so a producer or worker whose clock is off cannot make a
job run early or late; ``enqueue_at`` takes an absolute time, which is compared
with Redis's clock.

Every write of a due time publishes on ``_keys.schedule_wake``: the scheduler
sleeps until the next due time it knows of, and wakes at once for an earlier one.

Moving is one script: it takes the due ids from the set, and for each one still
in its queue's registry (RQ's own scheduler, if one runs, may have moved it)
marks the job queued and pushes it (retries to the front: their backoff was
their wait), all atomically. Any number of movers can run it at once and each
job moves once; ``lead_and_move`` also renews the caller's lease first, so only
the leader moves (``runtime.scheduler``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import redis
from redis.client import Pipeline
from rq.job import Job as RQJob
from rq.queue import Queue
from rq.registry import ScheduledJobRegistry
from rq.utils import now, utcformat

from .. import _keys
from .lua import COMPARE_AND_DELETE, TIME_HELPERS, script

# The writes that make a job due later, shared by every script that does (``put`` too).
MAKE_DUE = (
    TIME_HELPERS
    + """
local function make_due(registry, due_set, channel, id, due)
  local score = exact(due)
  redis.call('ZADD', registry, score, id)
  redis.call('ZADD', due_set, score, id)
  redis.call('PUBLISH', channel, score)
  return score
end
"""
)

# KEYS: the queue's registry, the set across queues. ARGV: wake channel, job id, delay in seconds.
_SCHEDULE = (
    MAKE_DUE
    + """
return make_due(KEYS[1], KEYS[2], ARGV[1], ARGV[2], redis_now() + tonumber(ARGV[3]))
"""
)

# KEYS: leader lease, the set across queues, RQ's set of queues. ARGV: token ('' moves without a lease),
# lease in ms, job key prefix, queue key prefix, registry key prefix, most to move, enqueued_at stamp,
# move what is due up to this time ('' for now; '+inf' for everything).
# Returns {moved, next due ('' if none), Redis's time, longest wait skipped} or {-1, lease ms left}.
_LEAD_AND_MOVE = (
    TIME_HELPERS
    + """
if ARGV[1] ~= '' then
  local holder = redis.call('GET', KEYS[1])
  if not holder then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  elseif holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  else
    return {-1, redis.call('PTTL', KEYS[1])}
  end
end
local now = redis_now()
local upto = exact(now)
if ARGV[8] ~= '' then upto = ARGV[8] end
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', upto, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[6]))
local moved = 0
local skipped = 0
for i = 1, #due, 2 do
  local id = due[i]
  local score = tonumber(due[i + 1])
  redis.call('ZREM', KEYS[2], id)
  local job = ARGV[3] .. id
  local fields = redis.call('HMGET', job, 'origin', 'enqueue_at_front', 'status')
  local origin = fields[1]
  if origin and redis.call('ZREM', ARGV[5] .. origin, id) == 1 then
    local queue = ARGV[4] .. origin
    -- Any other status is left as it is: a corrupt one makes the job poison when it is dequeued.
    if fields[3] == 'scheduled' then
      redis.call('HSET', job, 'status', 'queued', 'enqueued_at', ARGV[7])
    end
    if fields[2] == '1' then
      redis.call('LPUSH', queue, id)
    else
      redis.call('RPUSH', queue, id)
    end
    redis.call('SADD', KEYS[3], queue)
    moved = moved + 1
    if score - now > skipped then skipped = score - now end
  end
end
local head = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {moved, head[2] or '', exact(now), exact(skipped)}
"""
)

# KEYS: the set across queues. ARGV: registry keys. Adds the ids of RQ's registries the set lacks: jobs
# scheduled by RQ itself, or by a stalwart older than this scheduler (a rolling deploy), move too.
_ADOPT = """
local adopted = 0
for i = 1, #ARGV do
  local entries = redis.call('ZRANGE', ARGV[i], 0, -1, 'WITHSCORES')
  for j = 1, #entries, 2 do
    adopted = adopted + redis.call('ZADD', KEYS[1], 'NX', entries[j + 1], entries[j])
  end
end
return adopted
"""


# How many due jobs one move takes at most (then it runs again at once).
MOVE_BATCH = 500


@dataclass(frozen=True)
class Round:
    """What one ``lead_and_move`` found: whether the caller leads, what moved, and the next due time."""

    leading: bool
    moved: int = 0
    next_due: float | None = None
    now: float = 0.0
    # The longest wait skipped (jobs moved before their due time, on purpose: ``promote_all``).
    skipped_s: float = 0.0
    # While another leads: how long its lease has left.
    lease_left_s: float = 0.0


def registry_key(queue: str) -> str:
    """The key of RQ's scheduled registry of ``queue`` (it follows ``RQ_KEY_PREFIX``)."""
    return ScheduledJobRegistry.key_template.format(queue)


def schedule_in(pipeline: Pipeline | redis.Redis, job_id: str, queue: str, delay_s: float) -> None:
    """Make ``job_id`` due ``delay_s`` seconds from now (Redis's clock), in ``pipeline``.

    The caller marks the job ``scheduled`` (RQ's status) in the same pipeline.
    """
    script(_SCHEDULE)(
        keys=[registry_key(queue), _keys.schedule()],
        args=[_keys.schedule_wake(), job_id, repr(max(float(delay_s), 0.0))],
        client=pipeline,
    )


def lead_and_move(
    connection: redis.Redis,
    token: str = "",
    lease_s: float = 0.0,
    *,
    upto: str = "",
    batch: int = MOVE_BATCH,
) -> Round:
    """Renew (or take) the lease ``token`` names, then move the jobs now due; with no token, move only.

    ``upto="+inf"`` moves everything scheduled, due or not (``jobs.testing``).
    """
    reply = cast(
        list[Any],
        script(_LEAD_AND_MOVE)(
            keys=[_keys.scheduler_leader(), _keys.schedule(), str(Queue.redis_queues_keys)],
            args=[
                token,
                int(lease_s * 1000),
                RQJob.redis_job_namespace_prefix,
                Queue.redis_queue_namespace_prefix,
                registry_key(""),
                batch,
                utcformat(now()),
                upto,
            ],
            client=connection,
        ),
    )
    if int(reply[0]) < 0:
        return Round(leading=False, lease_left_s=max(int(reply[1]), 0) / 1000)
    head = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
    return Round(
        leading=True,
        moved=int(reply[0]),
        next_due=float(head) if head else None,
        now=float(reply[2]),
        skipped_s=float(reply[3]),
    )


def adopt(connection: redis.Redis, queues: list[str]) -> int:
    """Add to the set across queues what RQ's registries of ``queues`` hold and it lacks; returns how many."""
    keys, registries = [_keys.schedule()], [registry_key(q) for q in queues]
    return int(script(_ADOPT)(keys=keys, args=registries, client=connection))


def resign(connection: redis.Redis, token: str) -> bool:
    """Give up the lease ``token`` holds (another scheduler takes over at once); False if it was not held."""
    return bool(script(COMPARE_AND_DELETE)(keys=[_keys.scheduler_leader()], args=[token], client=connection))


def next_due(connection: redis.Redis) -> float | None:
    """The epoch time (Redis's clock) at which the earliest job due later is due, or None."""
    head = cast(list[tuple[bytes, float]], connection.zrange(_keys.schedule(), 0, 0, withscores=True))
    return float(head[0][1]) if head else None


def redis_time(connection: redis.Redis) -> float:
    """Redis's clock, in epoch seconds: the one that decides when a job is due."""
    seconds, micros = connection.time()
    return seconds + micros / 1_000_000
