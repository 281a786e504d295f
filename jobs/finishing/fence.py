"""Fencing attempts: each attempt of a job is settled at most once, by whoever comes first.

An attempt can be settled by the worker that ran it (it finished), by a worker
whose work-horse died running it, by the reaper (its heartbeats lapsed) or by
the sweep (RQ failed it behind the worker's back). A stalled worker can finish
an attempt the reaper settled seconds before. So each attempt holds a token:
the worker writes it when the attempt starts (``rq_adapter.start``, with RQ's
"started" fields), and every settler writes in one transaction with
the job's hash watched: it reads the token, decides, and its writes, which
remove the token, land only if the hash did not change in between (else it
reads and decides again). A settler that finds the token gone or replaced knows
that someone else settled the attempt first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from redis.client import Pipeline

from .. import _keys
from ..rq_adapter.job_format import token_execution
from ..rq_adapter.lua import Call, run_together

log = logging.getLogger("stalwart.worker")

Plan = Callable[[Pipeline], None]
# The job-hash fields AttemptState is made of, in its order.
_READ = ["status", _keys.FIELD_TOKEN, _keys.FIELD_OUTCOME, "worker_name", "origin"]


@dataclass(frozen=True)
class AttemptState:
    """What the job's hash says about its current attempt, read with the hash watched."""

    status: str | None
    token: str | None
    outcome: str | None
    worker: str | None
    origin: str | None

    def held_by(self, token: str | None) -> bool:
        """Whether the attempt with ``token`` is still the job's current, unsettled one."""
        return token is not None and self.token == token

    def unsettled(self, execution_id: str | None = None) -> bool:
        """Whether an attempt is still open (started, and not settled by anyone), run as ``execution_id``.

        A started job without a token was started by a worker older than tokens: it counts as open.
        """
        if self.token is None:
            return self.status == "started"
        return execution_id is None or token_execution(self.token) == execution_id


def settle(
    connection: redis.Redis,
    job_key: str,
    decide: Callable[[Pipeline, AttemptState], Plan | None],
) -> bool:
    """Settle an attempt of the job at ``job_key`` at most once; True if ``decide``'s plan was written.

    ``decide`` runs with the job's hash watched and the pipeline in immediate mode: it may
    read more, and watch more keys, before it returns the writes to make (None: write nothing). The plan
    runs in a transaction that fails if anything watched changed meanwhile; then ``decide`` runs again.
    """
    with connection.pipeline() as pipeline:
        while True:
            try:
                raw = _watch_and_read(pipeline, job_key)
                plan = decide(pipeline, AttemptState(*(_text(v) for v in raw)))
                if plan is None:
                    pipeline.unwatch()
                    return False
                pipeline.multi()
                plan(pipeline)
                pipeline.execute()
                return True
            except redis.WatchError:
                log.debug("the job at %s changed while it was being settled; deciding again", job_key)
            finally:
                pipeline.reset()


# KEYS: the job's hash. ARGV: the token field, the token the attempt holds, then each command as its
# number of arguments followed by them. Runs the commands, in order, only while that attempt is still the
# job's current one: 0 if it is not (nothing written), else {1, the error of each command that failed}.
# Like a transaction's, a failed command does not stop the others. A full Redis is the exception: it
# refuses a script's writes that need memory but not those that free it (DEL, HDEL, ZREM), so the token is
# first written again as it is, and if Redis refuses that, nothing is written (Redis decides once per
# script whether it is full).
_APPLY = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
local probe = redis.pcall('HSET', KEYS[1], ARGV[1], ARGV[2])
if type(probe) == 'table' and probe['err'] then
  return {1, probe['err']}
end
local reply = {1}
local i = 3
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local done = redis.pcall(unpack(ARGV, i + 1, i + n))
  if type(done) == 'table' and done['err'] then
    reply[#reply + 1] = done['err']
  end
  i = i + n + 1
end
return reply
"""


_SCRIPTED = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})


def apply_if_held(
    connection: redis.Redis, job_key: str, token: str | None, plan: Plan, rider: Call | None = None
) -> bool | None:
    """Write ``plan`` if the attempt holding ``token`` is still the job's current one, in one round trip:
    True if written, False if not held (nothing written: settle it with ``settle``, which reads what
    happened), None if the plan runs a script of its own (scripts do not nest: use ``settle``).

    The end of almost every attempt comes here first: ``settle`` needs two round trips (WATCH and a
    read, then the transaction), this needs one. ``rider``, a script run after the writes in the same
    round trip (the worker's take of its next job), has its reply (or error) in ``rider.reply``; it is
    not sent when the plan cannot be written here (None).
    """
    if token is None:
        return False
    with connection.pipeline(transaction=False) as collected:
        plan(collected)
        if collected.scripts or any(command[0] in _SCRIPTED for command, _ in collected.command_stack):
            return None
        args: list[Any] = [_keys.FIELD_TOKEN, token]
        for command, _options in collected.command_stack:
            args.append(len(command))
            args.extend(command)
    apply = Call(_APPLY, [job_key], args)
    run_together(connection, [apply] if rider is None else [apply, rider])
    reply = apply.reply
    if isinstance(reply, Exception):
        raise reply
    if reply == 0:
        return False
    errors = [e.decode(errors="replace") if isinstance(e, bytes) else str(e) for e in reply[1:]]
    if errors:
        failed = errors[0]
        full = failed.startswith("OOM") or "-OOM command not allowed" in failed
        kind = redis.exceptions.OutOfMemoryError if full else redis.ResponseError
        raise kind(failed)
    return True


def _watch_and_read(pipeline: Pipeline, job_key: str) -> list[bytes | None]:
    """WATCH the job's hash and read its attempt's fields, in one round trip (redis-py sends each of a
    watching pipeline's commands on its own: two round trips, on the path every job ends through).

    The pipeline is left watching, in immediate mode, as ``pipeline.watch`` leaves it; a connection error
    propagates as it would from ``watch`` (the pipeline's reset drops the connection).
    """
    if pipeline.connection is None:
        pipeline.connection = pipeline.connection_pool.get_connection()
    connection = pipeline.connection
    packed = connection.pack_commands([("WATCH", job_key), ("HMGET", job_key, *_READ)])  # type: ignore[no-untyped-call]
    connection.send_packed_command(packed)  # type: ignore[no-untyped-call]
    pipeline.watching = True
    replies: list[Any] = []
    for _ in range(2):  # both replies are read, whatever the first says, so none is left on the connection
        try:
            replies.append(connection.read_response())
        except redis.ResponseError as err:
            replies.append(err)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return list(replies[1])


def _text(value: bytes | str | None) -> str | None:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def spend(pipeline: Pipeline, job_key: str) -> None:
    """Close the job's current attempt: a settler that comes later finds no token (in ``pipeline``)."""
    pipeline.hdel(job_key, _keys.FIELD_TOKEN)
