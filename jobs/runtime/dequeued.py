"""Jobs a worker dequeued but never started (it died in between): put back on their queue; they never ran.

RQ moves a job to an intermediate list when it dequeues it, and recovers jobs
stuck there only during its maintenance, minutes later, by failing them. The
reaper puts them back on their queue after a heartbeat TTL instead.
"""

from __future__ import annotations

import logging

import redis
from rq import Queue

from .. import _keys

log = logging.getLogger("stalwart.worker")

# Put a job back on its queue if it is still in the intermediate list (a worker that had dequeued it died
# before starting it). Atomic: a worker that starts it meanwhile removes it first, and then this does nothing.
_REQUEUE = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  redis.call('DEL', KEYS[3])
  return 1
end
redis.call('DEL', KEYS[3])
return 0
"""


def recover_dequeued(connection: redis.Redis, queue: Queue, now: float, grace_s: float) -> list[str]:
    """Put back jobs that a worker dequeued but never started (it died in between); they never ran.

    RQ moves a job to an intermediate list when it dequeues it, and recovers
    jobs stuck there only during maintenance, minutes later.
    """
    recovered = []
    intermediate = queue.intermediate_queue_key
    started = {
        (m.decode() if isinstance(m, bytes) else str(m)).split(":", 1)[0]
        for m in connection.zrange(queue.started_job_registry.key, 0, -1)
    }
    requeue = connection.register_script(_REQUEUE)
    for raw in connection.lrange(intermediate, 0, -1):
        job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
        if job_id in started:
            continue
        seen_key = _keys.dequeued(job_id)
        connection.set(seen_key, now, nx=True, ex=24 * 3600)
        first_seen = float(connection.get(seen_key) or now)
        if now - first_seen < grace_s:
            continue
        if requeue(keys=[intermediate, queue.key, seen_key], args=[job_id]) == 1:
            recovered.append(job_id)
            log.warning(
                "job %s was dequeued by a worker that died or stalled before starting it; it is back "
                "on %s (it never ran)",
                job_id,
                queue.name,
                extra={"job_id": job_id, "queue": queue.name},
            )
    return recovered
