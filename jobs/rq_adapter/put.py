"""Putting one checked job into Redis in one script: now or later, and once only if it is unique.

The script writes the job hash RQ's own ``enqueue`` writes (``enqueue.raw_job``,
compared with RQ's field by field in tests/integration/test_bulk_enqueue.py),
then either pushes the id on its queue or makes it due later
(``schedule.make_due``), and lists the queue in RQ's set of queues: one round
trip, and nothing half-written if the connection drops.

A job put ``if_absent`` (the outbox's relay: its ids are fixed by the outbox's rows) is written
only if no job hash has its id yet; otherwise nothing is written and the reply says the job was
already there, so a relay that died between writing a job and deleting its row never writes it twice.

A unique job (``unique = True``) first looks at the claim on its idempotency
key: while the job holding it is queued, scheduled or started, nothing is
written and the holder's id is returned. Dead-lettered, finished, or gone, the
holder no longer blocks, and the new job takes the claim. It is released when
the job ends (``release_unique``, in the finishing path's writes), compared
with the id first so that an old job cannot free a newer one's claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

import redis
from redis.client import Pipeline
from rq.job import Job as RQJob

from .. import _keys
from .enqueue import RawJob, queues_key
from .lua import COMPARE_AND_DELETE, script
from .schedule import MAKE_DUE, registry_key

When = Literal["now", "in", "at"]

# Writes one job: the hash, then its queue or its due time, then its claim if unique. Returns {1, id, due
# ('' if queued now)} or, when the claim is held, {0, the holder's id} and writes nothing.
_PUT_ONE = (
    MAKE_DUE
    + """
local function put_one(job_key, id, queue_key, registry, due_set, claim, when, seconds, job_prefix, channel,
                       fields)
  if claim ~= '' then
    local holder = redis.call('GET', claim)
    if holder then
      local status = redis.call('HGET', job_prefix .. holder, 'status')
      if status == 'queued' or status == 'scheduled' or status == 'started' then
        return {0, holder}
      end
    end
  end
  redis.call('HSET', job_key, unpack(fields))
  local due = ''
  if when ~= 'now' then
    local at = tonumber(seconds)
    local now = redis_now()
    if when == 'in' then
      at = at + now
    end
    if at > now then
      redis.call('HSET', job_key, 'status', 'scheduled')
      redis.call('HDEL', job_key, 'enqueued_at')
      due = make_due(registry, due_set, channel, id, at)
    end
  end
  if due == '' then
    redis.call('RPUSH', queue_key, id)
  end
  if claim ~= '' then
    redis.call('SET', claim, id)
  end
  return {1, id, due}
end
"""
)

# KEYS: job hash, queue, RQ's set of queues, the queue's scheduled registry, the set across queues.
# ARGV: job id, when ('now'; 'in': seconds from Redis's now; 'at': epoch seconds), seconds, the unique
# claim ('' if none), job key prefix, wake channel, '1' to write only if the job hash does not exist
# (else {2, id} and nothing is written), then the hash's fields and values.
_PUT = (
    _PUT_ONE
    + """
if ARGV[7] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then
  return {2, ARGV[1]}
end
local fields = {}
for i = 8, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('SADD', KEYS[3], KEYS[2])
return put_one(KEYS[1], ARGV[1], KEYS[2], KEYS[4], KEYS[5], ARGV[4], ARGV[2], ARGV[3], ARGV[5], ARGV[6],
               fields)
"""
)

# KEYS: queue, RQ's set of queues. ARGV: job key prefix, then per job: id, unique claim ('' if none),
# the number of hash fields and values, and those. Every job goes on the queue now; one script, so a
# full Redis refuses its first write and nothing at all is written. Returns the replies of ``put_one``.
_PUT_MANY = (
    _PUT_ONE
    + """
redis.call('SADD', KEYS[2], KEYS[1])
local replies = {}
local i = 2
while i <= #ARGV do
  local id, claim, count = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local fields = {}
  for j = i + 3, i + 2 + count do
    fields[#fields + 1] = ARGV[j]
  end
  replies[#replies + 1] = put_one(ARGV[1] .. id, id, KEYS[1], '', '', claim, 'now', '0', ARGV[1], '', fields)
  i = i + 3 + count
end
return replies
"""
)


@dataclass(frozen=True)
class Put:
    """What putting a job did: its id (the holder's when deduplicated), and its due time if later.

    ``existed``: put ``if_absent``, and a job with this id was already in Redis; nothing was written.
    """

    id: str
    deduplicated: bool = False
    due: float | None = None
    existed: bool = False


def unique_claim(job: str, idempotency_key: str) -> str:
    """The key a unique job's idempotency key is claimed under."""
    return _keys.unique(job, idempotency_key)


def put(
    client: redis.Redis | Pipeline,
    raw: RawJob,
    queue: str,
    *,
    when: When = "now",
    seconds: float = 0.0,
    claim: str | None = None,
    if_absent: bool = False,
) -> Any:
    """Write ``raw`` and put it on ``queue`` (``when``), unless ``claim`` is held; read it with ``reply``.

    ``if_absent``: write nothing if a job hash with ``raw``'s id exists already (``Put.existed``).

    With a pipeline, the reply comes from its ``execute()``; read it with ``reply``.
    """
    fields = dict(raw.fields)
    if claim is not None:
        fields[_keys.FIELD_UNIQUE] = claim
    flat: list[Any] = []
    for name, value in fields.items():
        flat.extend((name, value))
    return script(_PUT)(
        keys=[raw.key, raw.queue_key, queues_key(), registry_key(queue), _keys.schedule()],
        args=[
            raw.id,
            when,
            repr(float(seconds)),
            claim or "",
            RQJob.redis_job_namespace_prefix,
            _keys.schedule_wake(),
            "1" if if_absent else "0",
            *flat,
        ],
        client=client,
    )


def put_many(client: redis.Redis, jobs: list[tuple[RawJob, str | None]]) -> list[Put]:
    """Write every job of ``jobs`` (each with its unique claim, or None) on their one queue, in one script."""
    if not jobs:
        return []
    args: list[Any] = [RQJob.redis_job_namespace_prefix]
    for raw, claim in jobs:
        fields = dict(raw.fields)
        if claim is not None:
            fields[_keys.FIELD_UNIQUE] = claim
        args.extend((raw.id, claim or "", 2 * len(fields)))
        for name, value in fields.items():
            args.extend((name, value))
    replies = script(_PUT_MANY)(keys=[jobs[0][0].queue_key, queues_key()], args=args, client=client)
    return [reply(r) for r in cast(list[Any], replies)]


def reply(raw_reply: Any) -> Put:
    """What ``put``'s script answered."""
    values = cast(list[Any], raw_reply)
    text = [v.decode() if isinstance(v, bytes) else str(v) for v in values[1:]]
    if int(values[0]) == 0:
        return Put(text[0], deduplicated=True)
    if int(values[0]) == 2:
        return Put(text[0], existed=True)
    return Put(text[0], due=float(text[1]) if len(text) > 1 and text[1] else None)


def release_unique(pipeline: Pipeline, claim: str, job_id: str) -> None:
    """Free ``claim`` if job ``job_id`` still holds it, in ``pipeline`` (the job has ended).

    Only a key of the unique claims' own form is touched, whatever the job hash says.
    """
    if claim.startswith(_keys.unique("", "").rstrip(":")):
        script(COMPARE_AND_DELETE)(keys=[claim], args=[job_id], client=pipeline)
