"""Starting an attempt: it starts only while its execution is registered and its id is still waiting.

A worker takes a job's id from its queue into the queue's intermediate list,
registers an execution in the started registry, then (in the work-horse, for a
forking worker) marks the job started and takes the id off the intermediate
list. A worker stalled in between (SIGSTOP, a paused VM, a long GC pause) lets
the execution's heartbeat lapse: the reaper drops the execution, sees a job
that never started, and puts its id back on its queue. If the stalled worker
then woke and marked the job started (as RQ's ``prepare_job_execution`` does,
unconditionally), the job ran in no registry at all: killed then, it stayed
``started`` for ever, where no reaper looks (found by ``make chaos``: one job of
1,000, neither ended nor dead-lettered); not killed, it could run twice, here
and from its queue. So the start is one script: the job is marked started,
with its attempt number and token, only if its execution is still registered
and its id not back on its queue; otherwise the attempt does not run
here, and its execution is dropped.
"""

from __future__ import annotations

from datetime import datetime

from redis.client import Pipeline
from rq.job import JobStatus
from rq.queue import Queue
from rq.utils import now, utcformat
from rq.worker import BaseWorker

from .. import _keys
from .job_format import SafeRQJob, attempt_token
from .lua import script

# KEYS: the job's hash, its queue's started registry, its queue's intermediate list, the reaper's note of
# when it first saw the id waiting there, the queue. (An id dequeued without the intermediate list, as RQ
# takes from several queues at once, is not in it: it starts unless it is on its queue again; only then is
# the queue searched.), the worker's hash and its executions. ARGV: the execution's member in the
# registry, the job id, the time, the worker's name, the attempt's number and token, the status, the
# attempt and token fields, the worker's heartbeat TTL. The worker's heartbeat (RQ's, which its
# prepare_job_execution sent with the start) is renewed whatever happens, in the same round trip.
# Returns STARTED, GIVEN_UP (the execution was dropped) or REQUEUED (the id was put back on its queue).
_START = """
redis.call('HSET', KEYS[6], 'last_heartbeat', ARGV[3])
redis.call('EXPIRE', KEYS[6], ARGV[10])
redis.call('EXPIRE', KEYS[7], ARGV[10])
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return 0
end
if redis.call('LREM', KEYS[3], 1, ARGV[2]) == 0 and redis.call('LPOS', KEYS[5], ARGV[2]) then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 2
end
redis.call('DEL', KEYS[4])
redis.call('HSET', KEYS[1], 'status', ARGV[7], 'started_at', ARGV[3], 'last_heartbeat', ARGV[3],
           'worker_name', ARGV[4], ARGV[8], ARGV[5], ARGV[9], ARGV[6])
redis.call('PERSIST', KEYS[1])
return 1
"""
GIVEN_UP, STARTED, REQUEUED = 0, 1, 2


def start_attempt(worker: BaseWorker, job: SafeRQJob, queue: Queue, heartbeat_ttl: int) -> int:
    """Mark ``job`` started by ``worker`` as its execution ``job.execution_id``: ``STARTED``; or ``GIVEN_UP``
    (the execution is no longer registered) or ``REQUEUED`` (the id is back on its queue), and nothing
    ran. Either way the worker's heartbeat is renewed."""
    execution_id = job.execution_id or ""
    number = job.previous_attempts + 1
    token = attempt_token(number, execution_id)
    at = now()
    started = worker.connection.register_script(_START)(
        keys=[
            job.key,
            queue.started_job_registry.key,
            queue.intermediate_queue_key,
            _keys.dequeued(job.id),
            queue.key,
            worker.key,
            worker.executions_key,
        ],
        args=[
            f"{job.id}:{execution_id}",
            job.id,
            utcformat(at),
            worker.name,
            number,
            token,
            JobStatus.STARTED.value,
            _keys.FIELD_ATTEMPT,
            _keys.FIELD_TOKEN,
            heartbeat_ttl,
        ],
    )
    worker.last_heartbeat = at
    if started == STARTED:
        job.mark_started(worker.name, at, token)
    return int(started)


# KEYS: the job's hash. ARGV: the time. Renews the job's heartbeat field only while its hash exists.
_RENEW = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'last_heartbeat', ARGV[1])
  return 1
end
return 0
"""


def renew_job_heartbeat(pipeline: Pipeline, job_key: str, at: datetime) -> None:
    """Write the job's ``last_heartbeat`` in ``pipeline``, if its hash still exists (never creating one)."""
    script(_RENEW)(keys=[job_key], args=[utcformat(at)], client=pipeline)
