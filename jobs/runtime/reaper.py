"""Jobs whose worker died mid-job: noticed within seconds, counted as an attempt, never left ``started``.

A forking worker's parent notices at once when its work-horse dies. When the
whole worker dies (SIGKILL, a lost machine), its jobs' heartbeats stop: every
worker runs a ``Reaper`` thread that, every few seconds, looks for started jobs
whose heartbeat is older than ``STALWART_HEARTBEAT_TTL_S`` and settles them.

Settling an abandoned job records the attempt (outcome ``abandoned``), then:
``poison`` once the job has taken its worker down ``STALWART_KILL_LIMIT`` times (it
must not take the fleet down in a loop); retried if the job is idempotent;
otherwise dead-lettered ``abandoned`` with "verify the side effect first".

Only a death counts toward that limit: a work-horse exit its worker saw, or the
worker that held the job gone (the key each Reaper renews every interval,
``stalwart:alive:<worker>``, has lapsed). Heartbeats that lapsed while the worker
lived (it lost Redis for a while, or stalled) settle the attempt all the same,
without a kill. After its worker starts, and after any Redis error, a Reaper
waits one heartbeat TTL before it settles anything: by then every live worker
has renewed its heartbeats, so an outage's lapses are gone and what is left is
evidence.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable

import redis
from redis.client import Pipeline
from rq import Queue
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from .. import _keys, settings, stats
from ..finishing import fence, records
from ..finishing.path import Ending, finish
from ..model.definition import REGISTRY
from ..model.outcome import Outcome, Status
from ..rq_adapter.job_format import fetch, job_key, token_execution
from ..telemetry.logs import JobContext, job_context
from .dequeued import recover_dequeued

log = logging.getLogger("stalwart.worker")

FIELD_KILLS = _keys.FIELD_KILLS


def settle(
    connection: redis.Redis,
    job_id: str,
    reason: str | None = None,
    *,
    queue: str | None = None,
    members: Iterable[bytes | str] = (),
    execution_id: str | None = None,
    died: bool | None = None,
    status: str = JobStatus.STARTED,
    cutoff: float | None = None,
) -> str | None:
    """Settle one abandoned attempt of a job; returns what became of it (``retried``, ``abandoned``,
    ``poison``), or None if there was no abandoned attempt to settle (it ended, or someone settled it).

    The attempt is the one run as ``execution_id`` (the worker saw its work-horse die), else the job's
    current one, if its entry among ``members`` (the job's lapsed entries in the started registry of
    ``queue``, removed with the settlement) still has a heartbeat older than ``cutoff``. ``status`` is
    what RQ shows for it (``failed`` when RQ failed it behind the worker's back). Fenced
    (``fence.settle``): an attempt that finished, or that another settler took meanwhile, is left alone.

    ``died`` says whether the attempt's end was a death, which counts toward the kill limit; by default
    it is one if the worker that held the job is gone. ``reason`` defaults to what the evidence says.
    """
    names = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
    settled: list[tuple[str, Ending, str | None]] = []

    def decide(pipeline: Pipeline, state: fence.AttemptState) -> fence.Plan | None:
        settled.clear()
        started = _queue(connection, queue or state.origin or "default").started_job_registry.key
        current = execution_id or (token_execution(state.token) if state.token else None)
        open_attempt = state.status == status and state.unsettled(current)
        if open_attempt and cutoff is not None and execution_id is None and state.token is not None:
            score = pipeline.zscore(started, f"{job_id}:{current}")
            lapsed = any(name.partition(":")[2] == current for name in names)
            open_attempt = lapsed and (score is None or cutoff is None or float(score) <= cutoff)
        if not open_attempt:
            if state.status is None:
                log.warning("abandoned job %s has no data left in Redis; forgetting its executions", job_id)
            # It ended, was settled by someone else, or sent a heartbeat meanwhile: only stale entries go.
            keep = current if state.token is not None else None
            stale = [name for name in names if name.partition(":")[2] != keep]
            if not stale:
                return None
            return lambda p: _forget(p, started, stale)
        job = fetch(connection, job_id)
        death = died if died is not None else not worker_alive(connection, state.worker)
        kills = job.kills + (1 if death else 0)  # read with the hash; a malformed count reads as none
        name, _, request_id = job.claimed()
        verdict = _verdict(name, kills)
        why = reason or (_STOPPED if death else _LAPSED).format(ttl=settings.current().heartbeat_ttl_s)
        outcome = records.abandoned(
            job, why, max(job.previous_attempts, 1), kills=kills if verdict == "poison" else None
        )
        if verdict == "retried":
            outcome.status = Status.QUEUED
        ending = finish(connection, job, outcome, fields={FIELD_KILLS: kills})
        settled.append((verdict, ending, request_id))

        def write(p: Pipeline) -> None:
            _forget(p, started, names)
            ending.write(p)
            if verdict == "retried":
                job.set_status(JobStatus.QUEUED, pipeline=p)
                _queue(connection, job.origin).push_job_id(job.id, pipeline=p)
            else:
                job.set_status(JobStatus.FAILED, pipeline=p)

        return write

    if not fence.settle(connection, job_key(job_id), decide) or not settled:
        return None
    verdict, ending, request_id = settled[0]
    with job_context(JobContext(request_id, job_id, ending.outcome.job, ending.outcome.attempt)):
        _log(ending.outcome, verdict)
    ending.after()
    return verdict


_STOPPED = "its worker stopped sending heartbeats for over {ttl} s"
_LAPSED = (
    "its worker is still running but sent no heartbeat for it for over {ttl} s (it lost Redis for a "
    "while, or stalled); not counted as a kill"
)


def worker_alive(connection: redis.Redis, worker_name: str | None) -> bool:
    """Whether the worker process RQ names ``worker_name`` is alive (its Reaper renews a key for it)."""
    return worker_name is not None and bool(connection.exists(_keys.worker_alive(worker_name)))


def liveness_ttl_s(current: settings.Settings) -> int:
    """How long a worker's liveness key lasts: a dead worker's lapses at least one heartbeat interval
    before its jobs' heartbeats do, and a live worker renews it every interval."""
    return max(current.heartbeat_ttl_s - current.heartbeat_interval_s, current.heartbeat_interval_s + 1)


def _queue(connection: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)


def _forget(pipeline: Pipeline, started: str, members: list[str]) -> None:
    """Remove executions from a started registry (in ``pipeline``)."""
    if members:
        pipeline.zrem(started, *members)


def _verdict(name: str, kills: int) -> str:
    """``poison`` after the kill limit; ``retried`` if the job is idempotent; ``abandoned`` otherwise."""
    if kills >= settings.current().kill_limit:
        return "poison"
    job_cls = REGISTRY.get(name)
    return "retried" if job_cls is not None and job_cls.idempotent else "abandoned"


def _log(outcome: Outcome, verdict: str) -> None:
    extra = {
        "outcome": "retrying" if verdict == "retried" else "dead_lettered",
        "classification": verdict if verdict != "retried" else "abandoned",
    }
    if verdict == "retried":
        log.warning(
            "job abandoned mid-job, retrying it (the job is idempotent): %s",
            outcome.error_message,
            extra=extra,
        )
    else:
        log.error("job ended: %s", outcome.message, extra=extra)


def reap(connection: redis.Redis, queues: Iterable[str], now: float | None = None) -> dict[str, str | None]:
    """Settle every started job of ``queues`` whose heartbeat has expired; returns job id to verdict.

    Jobs dequeued but never started by a worker that died are put back on their queue.
    """
    settled: dict[str, str | None] = {}
    cutoff = now if now is not None else time.time()
    for name in queues:
        queue = Queue(name, connection=connection, serializer=JSONSerializer)
        for job_id in recover_dequeued(connection, queue, cutoff, grace_s=settings.current().heartbeat_ttl_s):
            settled[job_id] = "requeued"
        key = queue.started_job_registry.key
        by_job: dict[str, list[bytes | str]] = {}
        for member in connection.zrangebyscore(key, 0, cutoff):
            text = member.decode() if isinstance(member, bytes) else str(member)
            by_job.setdefault(text.split(":", 1)[0], []).append(text)
        for job_id, members in by_job.items():
            try:
                settled[job_id] = settle(connection, job_id, queue=name, members=members, cutoff=cutoff)
            except redis.RedisError:
                raise  # the round fails as a whole, and is tried again
            except Exception:
                # One job whose hash cannot be read must not keep the others from being settled.
                log.exception("could not settle abandoned job %s; trying again next round", job_id)
    return settled


class Reaper(threading.Thread):
    """A worker's background thread: says the worker is alive, settles abandoned jobs, and renews its own
    job's heartbeat."""

    def __init__(
        self,
        connection: redis.Redis,
        queues: list[str],
        beat: Callable[[], None] | None = None,
        worker_name: str | None = None,
    ) -> None:
        super().__init__(name="stalwart-reaper", daemon=True)
        self.connection = connection
        self.queues = queues
        self.beat = beat
        self.worker_name = worker_name
        self.stopping = threading.Event()
        # Since when Redis has answered every round (None: not yet, or not since the last error).
        self.reachable_since: float | None = None

    def run(self) -> None:
        current = settings.current()
        interval = current.heartbeat_interval_s
        while not self.stopping.wait(interval):
            try:
                self.round(current)
            except redis.RedisError as err:
                self.reachable_since = None
                log.warning("could not look for abandoned jobs (%s); trying again in %d s", err, interval)
            except Exception:
                log.exception("looking for abandoned jobs failed; trying again in %d s", interval)

    def round(self, current: settings.Settings) -> None:
        """One round: heartbeats, then (once Redis has answered for a heartbeat TTL) abandoned jobs."""
        interval = current.heartbeat_interval_s
        if self.beat is not None:
            self.beat()
        ready = (
            self.reachable_since is not None
            and time.monotonic() - self.reachable_since >= current.heartbeat_ttl_s
        )
        # One reaper a round for each queue across the fleet; the locks lapse on their own. Per queue: a
        # single lock for the fleet went to the same worker round after round, and a dead worker's job on
        # a queue that worker does not serve stayed started.
        with self.connection.pipeline(transaction=False) as pipeline:
            if self.worker_name is not None:
                pipeline.set(_keys.worker_alive(self.worker_name), os.getpid(), ex=liveness_ttl_s(current))
            for name in self.queues if ready else ():
                pipeline.set(_keys.reaper_lock(name), os.getpid(), nx=True, ex=interval)
            won = pipeline.execute()[1 if self.worker_name is not None else 0 :]
        if self.reachable_since is None:
            self.reachable_since = time.monotonic()
        mine = [name for name, got in zip(self.queues, won, strict=False) if got]
        if mine:
            reap(self.connection, mine)
        if self.connection.set(_keys.reaper(), os.getpid(), nx=True, ex=interval):
            stats.report_gauges(self.connection)

    def stop(self) -> None:
        """Ask the thread to end after its current round."""
        self.stopping.set()
