"""Fleet-wide limits: ``max_concurrency`` (running at once) and ``rate_limit`` (starts per window), in Redis.

A job class that declares either asks its limit before each attempt (the
``fleet_limits`` step of ``attempt.STEPS``). Both are kept per limit key (the
job's ``limit_key``, else its name), in two sorted sets, by one Lua script that
reads Redis's own clock (``TIME``), so the hosts' clocks never enter into it:

- the *holders*: the attempts running, each scored by when its slot lapses (now
  plus the heartbeat TTL). The worker's heartbeat renews it (``renew``, from
  ``maintain_heartbeats``, in both worker modes); the pipeline that records the
  attempt's end gives it back (``release``); a worker that died gives it back
  when its heartbeats lapse, as the slot expires.
- the *starts*: a sliding log of start times, so the rate holds in every window
  of ``per_s`` seconds, not only in aligned buckets; a refusal says when the
  next start will be allowed.

A job over its limit is snoozed: rescheduled without using an attempt, and never
dead-lettered for waiting (a backlog behind a limit is normal; see docs/limits.md).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from redis.client import Pipeline

from .. import _keys, settings
from ..errors import UnknownJobError
from ..model.definition import REGISTRY, JobDefinition
from ..model.outcome import Outcome, Status

# How long a job turned away by a full concurrency limit waits: short (slots come back as jobs end, at times
# nobody knows), and spread out so that jobs turned away together do not all come back together.
CONCURRENCY_WAIT_S = (0.2, 1.0)

# KEYS: holders, starts. ARGV: member, max_concurrency (0: none), slot TTL in s, rate starts (0: none), per_s.
# Returns {admitted, concurrency full, seconds until the rate allows a start (-1: it does now)}.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local member, most, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local starts, per = tonumber(ARGV[4]), tonumber(ARGV[5])
local full, wait = 0, -1
if most > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.6f', now))
  if not redis.call('ZSCORE', KEYS[1], member) and redis.call('ZCARD', KEYS[1]) >= most then
    full = 1
  end
end
if starts > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.6f', now - per))
  local count = redis.call('ZCARD', KEYS[2])
  if count >= starts then
    -- the start whose leaving the window brings the count under the limit
    local oldest = redis.call('ZRANGE', KEYS[2], count - starts, count - starts, 'WITHSCORES')
    wait = math.max(0, tonumber(oldest[2]) + per - now)
  end
end
if full == 1 or wait >= 0 then
  return {0, full, string.format('%.6f', wait)}
end
local function keep(key, seconds)
  local ms = math.ceil(seconds * 1000)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
if most > 0 then
  redis.call('ZADD', KEYS[1], string.format('%.6f', now + ttl), member)
  keep(KEYS[1], ttl)
end
if starts > 0 then
  redis.call('ZADD', KEYS[2], string.format('%.6f', now), member)
  keep(KEYS[2], per)
end
return {1, 0, '-1'}
"""

# KEYS: holders. ARGV: member, slot TTL in s. A holder still in the set gets another TTL; one that is gone
# (it lapsed and another attempt took its place) is not put back: that would exceed the limit.
_RENEW = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local t = redis.call('TIME')
local ttl = tonumber(ARGV[2])
local lapses = tonumber(t[1]) + tonumber(t[2]) / 1000000 + ttl
redis.call('ZADD', KEYS[1], 'XX', string.format('%.6f', lapses), ARGV[1])
local ms = math.ceil(ttl * 1000)
if redis.call('PTTL', KEYS[1]) < ms then redis.call('PEXPIRE', KEYS[1], ms) end
return 1
"""


@dataclass(frozen=True)
class Admission:
    """Whether an attempt may start now; if not, which limit refused it and when to try again."""

    allowed: bool
    concurrency_full: bool = False
    retry_in_s: float = 0.0


def limit_key(job: type[JobDefinition]) -> str | None:
    """The name a job's limits are kept under (its ``limit_key``, else its name), or None if it has none."""
    if job.max_concurrency is None and job.rate_limit is None:
        return None
    return job.limit_key or job.name


def holder(job_id: str, execution_id: str | None) -> str:
    """The member an attempt holds a slot as: the job and RQ's execution (each attempt its own)."""
    return f"{job_id}:{execution_id or ''}"


def acquire(
    connection: redis.Redis,
    job: type[JobDefinition],
    member: str,
    jitter: Callable[[float, float], float] = random.uniform,
) -> Admission:
    """Take a concurrency slot and a start for ``member``, atomically, if the job's limits allow both.

    Refused by its rate, a job waits exactly until the next start is allowed; by a full concurrency limit,
    a short wait drawn by ``jitter`` from ``CONCURRENCY_WAIT_S`` (the longer of the two if both refuse).
    """
    key = limit_key(job)
    if key is None:
        return Admission(True)
    starts, per_s = job.rate_limit or (0, 0.0)
    admitted, full, wait = connection.register_script(_ACQUIRE)(
        keys=[_keys.limit_holders(key), _keys.limit_starts(key)],
        args=[member, job.max_concurrency or 0, settings.current().heartbeat_ttl_s, starts, per_s],
    )
    if int(admitted) == 1:
        return Admission(True)
    retry_in_s = max(float(wait), 0.0)
    if int(full) == 1:
        retry_in_s = max(retry_in_s, jitter(*CONCURRENCY_WAIT_S))
    return Admission(False, int(full) == 1, retry_in_s)


def slot(job_name: str, job_id: str, execution_id: str | None) -> tuple[str, str] | None:
    """The holders key and member of the slot an attempt of ``job_name`` holds, if its class has a
    concurrency limit (whether it took the slot or not: giving back a slot not held changes nothing)."""
    try:
        job = REGISTRY.resolve(job_name)
    except UnknownJobError:
        return None
    key = limit_key(job)
    if key is None or job.max_concurrency is None:
        return None
    return _keys.limit_holders(key), holder(job_id, execution_id)


def renew(connection: redis.Redis, held: tuple[str, str]) -> bool:
    """Another heartbeat TTL for a slot still held; False if it had lapsed and been taken."""
    key, member = held
    renewed = connection.register_script(_RENEW)(
        keys=[key], args=[member, settings.current().heartbeat_ttl_s]
    )
    return int(renewed) == 1


def release(pipeline: Pipeline, held: tuple[str, str]) -> None:
    """Give the slot back, in the pipeline that records the attempt's end."""
    key, member = held
    pipeline.zrem(key, member)


def snooze(job: type[JobDefinition], job_id: str, attempt: int, admission: Admission) -> Outcome:
    """The outcome of a job turned away by its limits: rescheduled, no attempt used, never given up on."""
    retry_in_s = admission.retry_in_s
    outcome = Outcome(
        Status.SCHEDULED, job.name, job_id, attempt - 1, attempt - 1, 0.0, retry_in_s=retry_in_s
    )
    if admission.concurrency_full:
        why = f"{job.max_concurrency} already running (max_concurrency)"
    else:
        starts, per_s = job.rate_limit or (0, 0.0)
        why = f"{starts} started in the last {per_s:g} s (rate_limit)"
    shared = f" under limit_key {job.limit_key!r}" if job.limit_key else ""
    outcome.message = (
        f"{job.name} (job {job_id}) is over its limit{shared}: {why}; snoozed for {retry_in_s:.1f} s "
        "without using an attempt"
    )
    # It passed its circuit (the outer step) to get here: a circuit's give-up clock starts again from now.
    outcome.snoozed_since = time.time()
    return outcome
