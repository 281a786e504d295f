"""Taking a job: one script takes the next id off its queue and starts the attempt, in one round trip.

RQ spends seven round trips between a job waiting and the job running: it
moves the id into the queue's intermediate list, reads the hash, registers an
execution (a pipeline), renews the worker's heartbeat, marks the job started
(another pipeline), and takes the id off the intermediate list. Here one
script does all of it, atomically, writing what RQ writes (so ``rq info``,
rq-dashboard and stalwart's reaper read it as RQ's own; a test compares the
two field by field):

- the execution's hash, its entry in the job's executions registry, in the
  queue's started registry and in the worker's index of executions, with RQ's
  scores and TTLs;
- the job marked started, as ``start.start_attempt`` marks it (with the
  attempt's number and fencing token; the hash made persistent);
- the worker's heartbeat and ``busy`` state.

Because taking and starting are one step, a job is never between two lists:
no worker can die or stall holding an id that no registry shows (the window
``start.py`` guards for RQ's dequeue). The script returns the job's hash, so
the worker reads nothing more before running it.

A queue that is empty costs nothing more than the script's LPOPs. While every
queue is empty, ``wait_and_take`` blocks (BLMOVE, into the first queue's
intermediate list, as ``dequeue.ReliableQueue`` does) and then starts the id
it moved with the same script, which takes it off that list: a worker that
dies in between leaves the id where the reaper puts it back on its queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from rq.defaults import RQ_KEY_PREFIX
from rq.executions import ExecutionRegistry
from rq.intermediate_queue import IntermediateQueue
from rq.job import JobStatus
from rq.queue import Queue
from rq.registry import StartedJobRegistry
from rq.utils import utcformat

from .. import _keys
from .dequeue import BLOCK_S
from .job_format import job_key
from .lua import Call, script

# KEYS: the worker's hash, its index of executions; then per queue, in priority order: the queue, its
# started registry, its intermediate list. ARGV: the job-hash key prefix, the execution-hash key prefix,
# the executions-registry key prefix, the execution id, the time as RQ writes it in a hash (UTC ISO),
# the same as epoch seconds, the heartbeat TTL, the worker's name, the worker's TTL, the attempt and token
# field names, the started status, the dequeued-note key prefix, and the id to start from the first
# queue's intermediate list ('' to take from the queues).
#
# Returns nil when every queue is empty (or the given id is no longer in the intermediate list: the
# reaper put it back); {index, id, 'wrongtype', Redis's error} for a key that holds no hash (the id is
# left in the queue's intermediate list, for the worker to dead-letter as poison); else {index, id, token,
# fields...} with the job's hash as it was before the start's writes (HGETALL's reply). An id whose job
# is gone (deleted, expired) is dropped, as RQ's dequeue drops it, and the next one taken.
_TAKE = """
local n_queues = (#KEYS - 2) / 3
local exec_id, at, at_s, ttl = ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local worker_name, worker_ttl = ARGV[8], tonumber(ARGV[9])
-- A write that needs memory comes first: a full Redis refuses it, and so the whole script, before an id is
-- popped (a pop frees memory, so a full Redis allows it: the id would be lost when the next write failed).
redis.call('HSET', KEYS[1], 'last_heartbeat', at)

local function start(index, id)
  local job = ARGV[1] .. id
  local kind = redis.call('TYPE', job)['ok']
  if kind == 'none' then
    return nil
  end
  if kind ~= 'hash' then
    redis.call('RPUSH', KEYS[3 * index + 2], id)
    local refused = redis.pcall('HGETALL', job)
    return {index, id, 'wrongtype', refused['err'] or kind}
  end
  local member = id .. ':' .. exec_id
  local execution = ARGV[2] .. member
  redis.call('HSET', execution, 'id', exec_id, 'job_id', id, 'created_at', ARGV[6], 'last_heartbeat', ARGV[6],
             'worker_name', worker_name)
  redis.call('EXPIRE', execution, ttl)
  local executions = ARGV[3] .. id
  redis.call('ZADD', executions, at_s + ttl + 60, exec_id)
  redis.call('EXPIRE', executions, ttl + 60)
  redis.call('ZADD', KEYS[3 * index + 1], at_s + ttl, member)
  redis.call('SADD', KEYS[2], member)
  redis.call('EXPIRE', KEYS[2], ttl + 60)
  redis.call('HSET', KEYS[1], 'state', 'busy')
  redis.call('EXPIRE', KEYS[1], worker_ttl)
  -- The hash as it was, for the worker to read (a corrupt field is seen, not overwritten first).
  local fields = redis.call('HGETALL', job)
  local previous = tonumber(redis.call('HGET', job, ARGV[10])) or 0
  if previous ~= previous or previous < 0 or previous > 1000000000 then
    previous = 0  -- not a count (the worker finds the field corrupt): never an error mid-script
  end
  local number = string.format('%d', math.floor(previous) + 1)
  local token = number .. ':' .. exec_id
  redis.call('HSET', job, 'status', ARGV[12], 'started_at', at, 'last_heartbeat', at,
             'worker_name', worker_name, ARGV[10], number, ARGV[11], token)
  redis.call('PERSIST', job)
  local reply = {index, id, token}
  for i = 1, #fields do
    reply[#reply + 1] = fields[i]
  end
  return reply
end

if ARGV[14] ~= '' then
  local id = ARGV[14]
  if redis.call('LREM', KEYS[5], 1, id) == 0 then
    return nil
  end
  redis.call('DEL', ARGV[13] .. id)
  return start(1, id)
end
for index = 1, n_queues do
  for _ = 1, 100 do
    local id = redis.call('LPOP', KEYS[3 * index])
    if not id then
      break
    end
    local started = start(index, id)
    if started then
      return started
    end
  end
end
return nil
"""
_EXECUTION_PREFIX = f"{RQ_KEY_PREFIX}:execution:"
_EXECUTIONS_PREFIX = ExecutionRegistry.key_template.format("")


@dataclass(frozen=True)
class Taken:
    """A job taken off ``queue`` and started as execution ``execution_id`` (its hash as Redis returned it)."""

    queue: str
    job_id: str
    execution_id: str
    token: str
    at: datetime
    fields: dict[bytes, bytes]
    # The key holds no hash (Redis's error reading it as one): nothing was started; the id waits in the
    # queue's intermediate list.
    wrongtype: str = ""


@dataclass(frozen=True)
class Taker:
    """What taking needs to know about one worker: who it is, and its queues in priority order."""

    worker_key: str
    executions_key: str
    worker_name: str
    worker_ttl: int
    queues: tuple[str, ...]

    def keys(self) -> list[str]:
        found = [self.worker_key, self.executions_key]
        for name in self.queues:
            found += [_queue_key(name), _started_key(name), _intermediate_key(name)]
        return found


def take(client: redis.Redis, taker: Taker, call: TakeCall) -> Taken | None:
    """Run the take ``call`` (``taking``): the job it started, or None if every queue was empty."""
    return taken(taker, call, script(_TAKE)(keys=call.keys, args=call.args, client=client))


def taking(
    taker: Taker, execution_id: str, *, at: datetime, heartbeat_ttl: int, from_waiting: str = ""
) -> TakeCall:
    """Take the first job of the first non-empty queue and start it as ``execution_id``: the call, to run
    with ``take`` or along with other scripts (``lua.run_together``, read with ``taken``). With
    ``from_waiting``, start that id, which ``wait`` moved into the first queue's intermediate list."""
    args = [
        job_key(""),
        _EXECUTION_PREFIX,
        _EXECUTIONS_PREFIX,
        execution_id,
        utcformat(at),
        repr(at.timestamp()),
        heartbeat_ttl,
        taker.worker_name,
        taker.worker_ttl,
        _keys.FIELD_ATTEMPT,
        _keys.FIELD_TOKEN,
        JobStatus.STARTED.value,
        _keys.dequeued(""),
        from_waiting,
    ]
    return TakeCall(_TAKE, taker.keys(), args, execution_id=execution_id, at=at)


class TakeCall(Call):
    """A take to send along with other scripts: its execution id and time, for reading its reply."""

    def __init__(self, source: str, keys: list[Any], args: list[Any], *, execution_id: str, at: datetime):
        super().__init__(source, keys, args)
        self.execution_id, self.at = execution_id, at


def taken(taker: Taker, call: TakeCall, reply: Any) -> Taken | None:
    """What a take's ``reply`` says: the job it started, or None (every queue was empty)."""
    if reply is None:
        return None
    execution_id, at = call.execution_id, call.at
    index, job_id = int(reply[0]), _text(reply[1])
    queue = taker.queues[index - 1]
    if reply[2] == b"wrongtype":
        return Taken(queue, job_id, execution_id, "", at, {}, wrongtype=_text(reply[3]))
    raw: list[Any] = reply[3:]
    fields = dict(zip(raw[0::2], raw[1::2], strict=True))
    return Taken(queue, job_id, execution_id, _text(reply[2]), at, fields)


def wait(client: redis.Redis, taker: Taker, timeout_s: float = BLOCK_S) -> str | None:
    """Block up to ``timeout_s`` for a job on the first queue, moving its id into the queue's intermediate
    list (start it with a take ``taking(..., from_waiting=id)``); None if none came."""
    first = taker.queues[0]
    moved = client.execute_command(  # type: ignore[no-untyped-call]
        "BLMOVE", _queue_key(first), _intermediate_key(first), "LEFT", "RIGHT", timeout_s
    )
    return None if moved is None else _text(moved)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _queue_key(name: str) -> str:
    return f"{Queue.redis_queue_namespace_prefix}{name}"


def _started_key(name: str) -> str:
    return StartedJobRegistry.key_template.format(name)


def _intermediate_key(name: str) -> str:
    return str(IntermediateQueue.get_intermediate_queue_key(_queue_key(name)))
