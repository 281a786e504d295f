"""stalwart's own work loop, on RQ's data model: one round trip a job, instead of RQ's twenty.

1. ``take.take``: one script takes the next job off the queues and starts it
   (execution, registries, started fields, attempt token, worker heartbeat)
   and returns its hash; a test compares what it writes with RQ's own writes.
2. The attempt runs (``attempt.run_for_worker``: the same steps as RQ's loop).
3. ``recording.Recorder`` writes its end, fenced by the attempt's token
   (``fence.apply_if_held``), and the take of the next job rides in the same
   round trip, decided as the attempt ends (not if a stop came meanwhile).

Heartbeats are renewed by the Reaper thread for every job running in the
process, once per interval. ``threads`` loops run at once, each taking its own
jobs. With one thread, in the main thread, ``timeout_s`` is a signal alarm;
otherwise the watchdog (``watchdog.py``) raises ``TimeLimitExceeded`` in the
job's thread: Python code stops at once, a call blocked in C returns first.

A warm stop (``stopping.py``) lets the running jobs finish; a cold stop settles
them as abandoned at once (not a death: a person stopped them) and returns.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any, cast

import redis
from rq.executions import Execution
from rq.queue import Queue
from rq.serializers import JSONSerializer
from rq.timeouts import UnixSignalDeathPenalty
from rq.utils import now

from .. import settings as _settings
from ..connection.outage import describe, is_outage
from ..finishing.path import finish
from ..rq_adapter.ending import execution_done
from ..rq_adapter.job_format import SafeRQJob
from ..rq_adapter.schedule import adopt, lead_and_move
from ..rq_adapter.take import TakeCall, Taken, Taker, take, taking, wait
from ..rq_adapter.take import taken as taken_by
from . import attempt as attempts
from . import heartbeats, recording
from .quarantine import quarantine
from .reaper import settle
from .rq_worker import InProcessWorker
from .stopping import StopSignals
from .tally import DEAD_LETTERED, Tally, outcome_of, outcome_of_verdict
from .watchdog import Watchdog

log = logging.getLogger("stalwart.worker")

_COLD = "its worker was stopped by a second stop signal (a cold shutdown)"


class Engine:
    """Runs jobs from ``identity``'s queues in ``threads`` loops in this process, until stopped or drained.

    ``identity`` is RQ's worker record (its name, hash, registration, maintenance and the counters RQ
    keeps): the loop is ours, the record RQ's, so RQ's tools list this worker as one of theirs.
    """

    def __init__(
        self,
        identity: InProcessWorker,
        *,
        threads: int = 1,
        max_jobs: int | None = None,
        tally: Tally | None = None,
        stop_signals: list[int] | None = None,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.identity = identity
        self.connection: redis.Redis = identity.connection
        self.threads = threads
        self.max_jobs = max_jobs
        self.tally = tally
        self.stop_signals = stop_signals if stop_signals is not None else []
        current = _settings.current()
        self.heartbeat_ttl = current.heartbeat_ttl_s
        self.worker_ttl = identity.job_monitoring_interval + 60
        self.taker = Taker(
            identity.key,
            identity.executions_key,
            identity.name,
            self.worker_ttl,
            tuple(q.name for q in identity.queues),
        )
        self._queues: dict[str, Queue] = {q.name: q for q in identity.queues}
        # The attempts running now, by execution id: their heartbeats are renewed, a cold stop settles them.
        self.running: dict[str, tuple[SafeRQJob, Execution]] = {}
        self._slots: dict[str, tuple[str, str] | None] = {}
        self._lock = threading.Lock()
        self.signals = StopSignals(self.stop_signals, self._cold)
        # The Redis outage that ended the loop (None: it ended for another reason).
        self.outage: BaseException | None = None
        self.jobs_run = 0
        self._busy = False
        # Time limits for jobs off the main thread (the main thread's are a signal alarm).
        self._watchdog = Watchdog()

    # -- the process's side: start, signals, threads, stop ---------------------------------------------

    def work(self, burst: bool = False) -> bool:
        """Run jobs until stopped (or, with ``burst``, until the queues are empty); True if any ran."""
        replaced = self.signals.install()
        try:
            self.identity.register_birth()  # type: ignore[no-untyped-call]
            try:
                if burst:
                    # A burst worker moves what is due itself, once per loop (no scheduler thread runs).
                    adopt(self.connection, list(self.taker.queues))
                    lead_and_move(self.connection)
                if self.threads == 1:
                    self._loop(
                        burst, UnixSignalDeathPenalty if replaced else self._watchdog.limit, maintains=True
                    )
                else:
                    self._run_threads(burst)
            finally:
                self._register_death()
        except redis.RedisError as err:
            if not is_outage(err):
                raise
            self.outage = err
        finally:
            self.signals.restore(replaced)
        return self.jobs_run > 0

    @property
    def stopping(self) -> threading.Event:
        """Set once this loop is to take no more jobs."""
        return self.signals.stopping

    @property
    def cold(self) -> bool:
        """Whether a cold stop settled the jobs that were running."""
        return self.signals.cold

    def clean_registries(self) -> None:
        """RQ's registry maintenance, as this loop runs it (``rq_worker._Bookkeeping.clean_registries``)."""
        self.identity.clean_registries()

    def asked_to_stop(self) -> bool:
        """Whether SIGTERM or SIGINT asked this loop to stop."""
        return bool(self.stop_signals)

    def beat(self) -> None:
        """Renew the worker's heartbeat and every running attempt's (the Reaper calls this each interval)."""
        with self._lock:
            running = list(self.running.values())
        heartbeats.renew(
            cast(heartbeats.Beating, self.identity), self.worker_ttl, self.heartbeat_ttl, running, self._slots
        )

    def _cold(self) -> None:
        """A cold stop: settle the attempts running here (called in the main thread, by the signal)."""
        if self.threads == 1:
            # Out of the job running in this thread, which settles it as it unwinds (``_run``): not from
            # here, where this thread may be half-way through taking a connection from redis-py's pool.
            raise SystemExit(0)
        # The main thread only waits for the job threads: settling from here is safe.
        self._settle_running(_COLD)

    def _settle_running(self, reason: str) -> None:
        """Settle every attempt still running here as abandoned (not a death: a person stopped them)."""
        with self._lock:
            running = list(self.running.values())
        for job, execution in running:
            try:
                verdict = settle(self.connection, job.id, reason, execution_id=execution.id, died=False)
            except redis.RedisError as err:
                log.error(
                    "could not settle job %s at the cold shutdown (%s); the reaper settles it once its "
                    "heartbeat lapses",
                    job.id,
                    describe(err),
                    extra={"job_id": job.id},
                )
                continue
            self._count(outcome_of_verdict(verdict))

    def _run_threads(self, burst: bool) -> None:
        loops = [
            threading.Thread(
                target=self._thread_loop, args=(burst, n == 0), name=f"stalwart-job-{n + 1}", daemon=True
            )
            for n in range(self.threads)
        ]
        for loop in loops:
            loop.start()
        # The main thread waits for the loops, waking often enough to handle signals as they come.
        while any(loop.is_alive() for loop in loops) and not self.cold:
            for loop in loops:
                loop.join(timeout=0.2)

    def _thread_loop(self, burst: bool, maintains: bool) -> None:
        try:
            self._loop(burst, self._watchdog.limit, maintains)
        except Exception:
            log.exception("a job loop ended on an error; the worker stops")
            self.stopping.set()

    def _register_death(self) -> None:
        try:
            self.identity.register_death()
        except redis.RedisError as err:
            if not is_outage(err):
                raise
            log.debug("could not record worker %s's end (%s); its record expires", self.identity.name, err)

    # -- one loop: take, run, record --------------------------------------------------------------------

    def _loop(self, burst: bool, death_penalty: Any, maintains: bool) -> None:
        """Take, run and record jobs until stopped; ``maintains``: this loop also runs RQ's registry
        maintenance and ours (one loop per process does)."""
        taken: Taken | None = None
        # A job taken along with the last one's end is started: it runs even if a stop came meanwhile.
        while taken is not None or not self.stopping.is_set():
            try:
                if taken is None:
                    if maintains and self.identity.should_run_maintenance_tasks:
                        self.identity.run_maintenance_tasks()
                    taken = self._next(burst)
                    if taken is None:
                        if burst:
                            return
                        continue
                current, taken = taken, None
                taken = self._taken_along(self._run(current, death_penalty))
            except redis.RedisError as err:
                if not is_outage(err):
                    raise
                self.outage = self.outage or err
                self.stopping.set()
                return
            if self.max_jobs is not None and self.jobs_run >= self.max_jobs:
                self.stopping.set()

    def _rider(self) -> TakeCall | None:
        """The take of the next job, to send with this one's end (one round trip for both); None when this
        loop is stopping or will have run its share."""
        if self.stopping.is_set() or (self.max_jobs is not None and self.jobs_run + 1 >= self.max_jobs):
            return None
        return self._taking()

    def _taking(self, from_waiting: str = "") -> TakeCall:
        """A take as a new execution of this worker, now."""
        return taking(
            self.taker,
            uuid.uuid4().hex,
            at=now(),
            heartbeat_ttl=self.heartbeat_ttl,
            from_waiting=from_waiting,
        )

    def _taken_along(self, rider: TakeCall | None) -> Taken | None:
        """The job the rider started, if it was sent and started one (an error it met, such as Redis being
        full, is met again, and handled, by the next take)."""
        if rider is None or rider.reply is None or isinstance(rider.reply, Exception):
            return None
        return taken_by(self.taker, rider, rider.reply)

    def _next(self, burst: bool) -> Taken | None:
        """The next job, started; None if the queues are empty (after waiting a while, unless ``burst``)."""
        taken = take(self.connection, self.taker, self._taking())
        if taken is not None or burst:
            return taken
        if self._busy:
            self._busy = False
            self.connection.hset(self.identity.key, "state", "idle")
        waiting = wait(self.connection, self.taker)
        if waiting is None:
            return None
        return take(self.connection, self.taker, self._taking(waiting))

    def _run(self, taken: Taken, death_penalty: Any) -> TakeCall | None:
        """Run the attempt ``taken`` started and record its end; returns the take of the next job sent with
        the end, if one was."""
        self._busy = True
        queue = self._queues[taken.queue]
        job = SafeRQJob(taken.job_id, connection=self.connection, serializer=JSONSerializer)
        if taken.wrongtype:
            job.restore({b"data": b""})
            job.corrupt, job.key_is_not_a_hash = f"its key holds no hash ({taken.wrongtype})", True
            quarantine(self.connection, job, queue)
            self._count(DEAD_LETTERED)
            return None
        job.restore(taken.fields)
        job.execution_id = taken.execution_id
        job.mark_started(self.identity.name, taken.at, taken.token)
        execution = Execution(taken.execution_id, taken.job_id, self.connection, self.identity.name)
        execution.created_at = execution.last_heartbeat = taken.at
        if job.corrupt:
            self._quarantine_started(job, queue, execution)
            return None
        with self._lock:
            self.running[execution.id] = (job, execution)
        try:
            return self._attempt(job, queue, execution, death_penalty)
        finally:
            if self.cold and self.threads == 1:
                # The SystemExit a cold stop raised in this thread ended the attempt (or the job caught it
                # and ended on its own; it is not recorded either way): settled here, fenced as any end.
                self._settle_running(_COLD)
            with self._lock:
                self.running.pop(execution.id, None)
                self.jobs_run += 1

    def _attempt(
        self, job: SafeRQJob, queue: Queue, execution: Execution, death_penalty: Any
    ) -> TakeCall | None:
        number = job.previous_attempts + 1
        outcome = attempts.run_for_worker(attempts.Attempt(job, number, self.connection, death_penalty))
        if self.cold:
            return None  # settled as abandoned already; a late record would only say so again
        recorder = recording.Recorder(self.identity, job, queue, execution)
        ending = finish(self.connection, job, outcome)
        # Whether to take the next job is decided now, as the attempt ends: not if a stop came meanwhile.
        rider = self._rider()
        recorder.record(outcome, ending, rider)
        self._count(outcome_of(outcome.status))
        return rider

    def _quarantine_started(self, job: SafeRQJob, queue: Queue, execution: Execution) -> None:
        """A job whose hash is corrupt is dead-lettered as poison; its execution goes with it."""
        with self.connection.pipeline() as pipeline:
            execution_done(pipeline, job.id, queue.name, execution.id, self.identity.name)
            pipeline.execute()
        quarantine(self.connection, job, queue)
        self._count(DEAD_LETTERED)

    def _count(self, outcome: str | None) -> None:
        if self.tally is not None and outcome is not None:
            with self._lock:
                self.tally.add(outcome)
