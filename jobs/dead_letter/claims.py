"""Changing the status of dead-letter entries atomically: check and set in one step, in Redis.

Two operators (or an operator and a worker) acting on one entry at once must not
both win: a replay, a discard or a "finished late" resolution takes an entry
only if it still has the status the operation expects. The check, the status
change, the audit record and, for a replay, the enqueue of its job run in one
Lua script, so there is no moment when an entry is claimed but its job not
enqueued, or a job enqueued for an entry someone else took.

One script call moves any number of entries (a batch of a bulk replay is one
round trip); each entry is moved or left alone on its own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.client import Pipeline

from .. import _keys
from ..rq_adapter.enqueue import RawJob, queues_key
from .storage import text

# KEYS: the index of the `from` status, of the `to` status, of all entries, RQ's set of queues; then four
# per entry: its hash, its audit list, the job hash and queue of its replay (unused without a replay).
# ARGV: `from`, `to`, the audit record for an entry that is not `from` ('' for none); then per entry: its
# id, its audit record, its replay's job id ('' for none), n, and n field/value pairs of the job hash.
# Returns one value per entry: '' if it moved, else its status ('missing' if it is gone).
_MOVE = """
local results = {}
local a = 4
for k = 5, #KEYS, 4 do
  local id, audit, job_id, n = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  local fields = a + 4
  a = fields + 2 * n
  local status = redis.call('HGET', KEYS[k], 'status')
  if not status and redis.call('EXISTS', KEYS[k]) == 1 then
    status = 'dead'  -- an entry written without a status is dead (storage.decode reads it so)
  end
  if status == ARGV[1] then
    local score = redis.call('ZSCORE', KEYS[1], id) or redis.call('ZSCORE', KEYS[3], id) or '0'
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZADD', KEYS[2], score, id)
    redis.call('HSET', KEYS[k], 'status', ARGV[2])
    if job_id ~= '' then
      local replays = cjson.decode(redis.call('HGET', KEYS[k], 'replays') or '[]')
      table.insert(replays, job_id)
      redis.call('HSET', KEYS[k], 'replays', cjson.encode(replays))
      redis.call('HSET', KEYS[k + 2], unpack(ARGV, fields, fields + 2 * n - 1))
      redis.call('RPUSH', KEYS[k + 3], job_id)
      redis.call('SADD', KEYS[4], KEYS[k + 3])
    end
    redis.call('RPUSH', KEYS[k + 1], audit)
    results[#results + 1] = ''
  else
    if status and ARGV[3] ~= '' then
      redis.call('RPUSH', KEYS[k + 1], ARGV[3])
    end
    results[#results + 1] = status or 'missing'
  end
end
return results
"""


@dataclass(frozen=True)
class Claim:
    """One entry to move, the audit record that says why, and (for a replay) the job enqueued with it."""

    entry_id: str
    audit: dict[str, Any]
    job: RawJob | None = None


def move(
    client: redis.Redis | Pipeline,
    claims: Sequence[Claim],
    source: str,
    target: str,
    otherwise: dict[str, Any] | None = None,
) -> list[str] | None:
    """Move each claimed entry from status ``source`` to ``target``, only if it still has ``source``.

    ``otherwise`` is appended to the audit of an entry that exists but has another status. Run on a
    connection, returns one value per claim: ``""`` if it moved, else the entry's status (``"missing"``
    if it is gone); in a pipeline, queues the call and returns None (the pipeline's result is that list).
    """
    keys = [
        _keys.dead_letter_status(source),
        _keys.dead_letter_status(target),
        _keys.dead_letter_index(),
        queues_key(),
    ]
    args: list[Any] = [source, target, json.dumps(otherwise) if otherwise is not None else ""]
    for claim in claims:
        job = claim.job
        keys += [
            _keys.dead_letter_entry(claim.entry_id),
            _keys.dead_letter_audit(claim.entry_id),
            job.key if job is not None else _keys.dead_letter_entry(claim.entry_id),
            job.queue_key if job is not None else _keys.dead_letter_entry(claim.entry_id),
        ]
        pairs = [item for field in (job.fields.items() if job is not None else ()) for item in field]
        args += [claim.entry_id, json.dumps(claim.audit), job.id if job is not None else "", len(pairs) // 2]
        args += pairs
    if isinstance(client, Pipeline):
        # EVAL, not EVALSHA: a pipeline would first ask whether the script is loaded, a round trip.
        client.eval(_MOVE, len(keys), *keys, *args)
        return None
    return [text(status) for status in client.register_script(_MOVE)(keys=keys, args=args)]
