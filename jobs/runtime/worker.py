"""``Worker``: runs stalwart jobs from one or more queues.

Two modes: ``"fork"`` (the default) runs each job in a fresh work-horse process
(RQ's forking loop), so a job that crashes or leaks cannot take the worker
down; ``"inprocess"`` runs jobs in the worker's own process, on stalwart's own
loop (``engine.py``: three round trips a job), in ``threads`` threads at once
(one by default). A pool of such processes is ``pool.WorkerPool``. Both run a
scheduler thread
(scheduler.py: one leads across the fleet), which moves delayed jobs and
retries to their queues when due, and, given the application's database
(``outbox``), an outbox relay thread (``jobs.outbox.Relay``).
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any, Literal

import redis
from rq.exceptions import StopRequested
from rq.serializers import JSONSerializer

from .. import settings as _settings
from ..connection import connect
from ..connection.outage import describe, is_outage
from ..model.definition import REGISTRY
from ..outbox import Relay
from ..outbox.database import check_url
from ..rq_adapter.dequeue import ReliableQueue
from ..rq_adapter.job_format import SafeRQJob
from ..rq_adapter.queues import next_due
from ..settings import Settings
from ..telemetry.dispatcher import Dispatcher, close_all
from ..telemetry.sinks import Sink, sinks_from_settings
from . import announce, periodic
from .announce import COLD, DRAINED, RECYCLED
from .engine import Engine
from .reaper import Reaper
from .rq_worker import ForkingWorker, InProcessWorker
from .scheduler import Scheduler
from .tally import Tally

Mode = Literal["fork", "inprocess"]
log = logging.getLogger("stalwart.worker")
_MAX_BURST_WAIT_S = 1.0
_MAX_RESTART_BACKOFF_S = 30.0


class Worker:
    """Takes jobs from ``queues`` (in priority order) and runs them.

    ``sinks`` are where alerts go (by default the ones ``SENTRY_DSN`` and
    ``STALWART_ALERT_COMMAND`` ask for); ``settings`` by default are the process's. ``outbox``
    (by default ``STALWART_OUTBOX_URL``) is the database whose outbox this worker relays to Redis.
    """

    def __init__(
        self,
        queues: Sequence[str] = ("default",),
        *,
        connection: redis.Redis | None = None,
        mode: Mode = "fork",
        sinks: Sequence[Sink] | None = None,
        settings: Settings | None = None,
        outbox: str | None = None,
        threads: int = 1,
        name: str | None = None,
    ) -> None:
        if mode not in ("fork", "inprocess"):
            raise ValueError(f"mode must be 'fork' or 'inprocess', got {mode!r}")
        if threads < 1 or (threads > 1 and mode == "fork"):
            raise ValueError(
                f"threads must be 1, or more in mode 'inprocess'; got {threads} in mode {mode!r}"
            )
        if isinstance(queues, str) or not queues:
            raise ValueError("queues must be a non-empty list of queue names, e.g. ['default']")
        self.settings = settings or _settings.current()
        self.connection = connection if connection is not None else connect()
        self.mode: Mode = mode
        self.threads = threads
        # The name RQ's records give this worker (by default RQ's: a fresh one for each loop).
        self.name = name
        self._loops = 0
        # Why the last ``work`` returned (its stop line's reason).
        self.stopped_because: str | None = None
        self.sinks = list(sinks) if sinks is not None else sinks_from_settings(self.settings)
        self.outbox = outbox if outbox is not None else self.settings.outbox_url
        if self.outbox:
            check_url(self.outbox)  # a URL it cannot use stops the worker now, with what to do
        # RQ's own registry and maintenance code reads jobs through the queue's job class: SafeRQJob too.
        self.queues = [
            ReliableQueue(q, connection=self.connection, serializer=JSONSerializer, job_class=SafeRQJob)
            for q in queues
        ]
        # How the attempts of the running ``work()`` ended, and the signals that asked it to stop.
        self._tally: Tally | None = None
        self._max_jobs: int | None = None
        self._relay: Relay | None = None
        self._signals: list[int] = []

    def _rq_worker(self) -> ForkingWorker | Engine:
        """The loop to run: RQ's forking worker, or ours around RQ's worker record."""
        cls = ForkingWorker if self.mode == "fork" else InProcessWorker
        self._loops += 1
        named: dict[str, str] = {}
        if self.name is not None:
            # Another loop of the same process (after an outage) must not clash with the last one's record.
            named["name"] = self.name if self._loops == 1 else f"{self.name}.{self._loops}"
        worker = cls(
            self.queues,
            connection=self.connection,
            serializer=JSONSerializer,
            job_class=SafeRQJob,
            queue_class=ReliableQueue,
            disable_default_exception_handler=True,
            log_job_description=True,
            job_monitoring_interval=self.settings.heartbeat_interval_s,
            **named,
        )
        worker.tally = self._tally
        worker.stop_signals = self._signals
        if isinstance(worker, ForkingWorker):
            return worker
        return Engine(
            worker,
            threads=self.threads,
            max_jobs=self._max_jobs,
            tally=self._tally,
            stop_signals=self._signals,
        )

    def work(self, burst: bool = False, max_jobs: int | None = None) -> None:
        """Run jobs until stopped (SIGTERM/SIGINT finish the current job first).

        With ``burst``, return once nothing is queued and nothing is scheduled:
        jobs scheduled for later are waited for, so a script can drain a queue
        whose jobs retry. With ``max_jobs``, return once that many attempts have run (a pool's child is
        replaced then).

        One log line says it started (queues, mode, Redis, version, pid), one that it
        stopped (why, and how the jobs it ran ended).

        The objects alive when it starts are frozen out of garbage collection
        (``gc.freeze``): a worker process keeps them for good anyway.
        """
        self._signals.clear()
        self._max_jobs = max_jobs
        replaced = self._note_signals()
        self._tally = tally = Tally()
        served = [q.name for q in self.queues]
        announce.quiet_rq()
        announce.started(served, self._shown_mode(), burst, self.connection)
        # What start-up created (modules, the application's imports) lives as long as the process: keep
        # it out of later collections, which stay short, and which would otherwise walk it again and
        # again (in a forking worker, while the next job waits).
        gc.collect()
        gc.freeze()
        why, level = "an error", logging.ERROR
        # The relay needs no RQ loop: it runs for the whole of ``work``, and waits out a Redis outage (its
        # rows wait in the database) on its own backoff while the loop restarts.
        self._relay = relay = Relay(self.outbox, self.connection) if self.outbox else None
        if relay is not None:
            relay.start()
        self.stopped_because = None
        try:
            why, level = self._loop(burst), logging.INFO
            self.stopped_because = why
        except BaseException as err:
            why, level = announce.ended_by(err)
            raise
        finally:
            if relay is not None:
                relay.stop()
                self._relay = None
            for number, handler in replaced.items():
                signal.signal(number, handler)
            close_all(self.sinks)
            # After an error Redis may be what failed: the stop line must not wait on it.
            counted = burst and level < logging.ERROR
            waiting = announce.waiting_elsewhere(self.connection, served) if counted else {}
            announce.stopped(why, tally, waiting, level=level)
            tally.close()
            self._tally = None

    def _shown_mode(self) -> str:
        return f"{self.mode}, {self.threads} threads" if self.threads > 1 else self.mode

    def _note_signals(self) -> dict[int, Any]:
        """Until RQ installs its handlers, SIGTERM and SIGINT are noted, not fatal: the worker stops at its
        next safe point (before building RQ's worker, in a back-off wait, as RQ's loop begins) and says so.

        Nothing is raised from the handler: an exception at an arbitrary point of start-up could leave
        RQ's scheduler process running, and the worker with it. Returns the handlers replaced (restored
        when ``work`` returns); none off the main thread, where Python allows no handlers.
        """
        if threading.current_thread() is not threading.main_thread():
            return {}

        def note(number: int, frame: FrameType | None) -> None:
            self._signals.append(number)

        return {number: signal.signal(number, note) for number in (signal.SIGTERM, signal.SIGINT)}

    def _loop(self, burst: bool) -> str:
        """RQ's work loop, started again when it ends on an error or a Redis outage, until stopped or drained;
        returns why it stopped.

        A Redis outage (gone, silent, full, refusing writes) is one line saying which, then a back-off
        (1 s, doubling to 30 s), never the end of the process.
        """
        backoff = 1.0
        worker: ForkingWorker | Engine | None = None
        while not self._signals:  # (a signal noted before RQ's handlers were installed: stop here)
            try:
                # Building RQ's worker talks to Redis: a Redis that is still gone when the loop restarts
                # is waited out like the outage that ended the last loop, not a crash.
                worker = self._rq_worker()
                began = time.monotonic()
                worked = self._run(worker, burst)
                if (worked and not burst) or time.monotonic() - began >= _MAX_RESTART_BACKOFF_S:
                    # It ran jobs, or a good while: whatever ended it is a new episode, not the last one
                    # going on, so the wait before restarting it starts from 1 s again.
                    backoff = 1.0
                ended = self._ended(worker)
                if ended is not None:
                    return ended
                if worker.outage is not None:
                    log.warning("%s; trying again in %.0f s", describe(worker.outage), backoff)
                elif burst and self._drained():
                    return DRAINED
                elif burst and (worked or not any(q.count for q in self.queues)):
                    backoff = 1.0
                    continue
                else:
                    # Jobs wait but this round ran none (or a long-running loop returned): do not spin.
                    log.warning("the RQ worker loop ended on an error; starting it again in %.0f s", backoff)
            except redis.RedisError as err:
                if not is_outage(err):
                    raise
                log.warning("%s; trying again in %.0f s", describe(err), backoff)
            except StopRequested:
                # SIGTERM between two RQ loops: RQ's handler says so by raising
                return self._stopped_by()
            try:
                if self._stop_requested_during(worker, backoff):
                    return self._stopped_by()
            except StopRequested:
                # SIGTERM while waiting to restart: RQ's handler says so by raising
                return self._stopped_by()
            backoff = min(backoff * 2, _MAX_RESTART_BACKOFF_S)
        return self._stopped_by()

    def _stopped_by(self) -> str:
        """What asked the worker to stop (the first signal received), for its stop line."""
        return announce.signal_name(self._signals[0] if self._signals else None)

    def _drained(self) -> bool:
        """In burst mode: nothing queued, nothing scheduled, and nothing in the outbox (this round moves what
        it holds); waits for the next scheduled job otherwise."""
        if any(q.count for q in self.queues):
            return False
        if self._relay is not None and self._relay.relay_once().rows:
            return False
        due = next_due(self.connection, self.queues)
        if due is None:
            return True
        time.sleep(min(max(due - time.time(), 0.01), _MAX_BURST_WAIT_S))
        return False

    def _ended(self, worker: ForkingWorker | Engine) -> str | None:
        """Why the worker stops after the loop that just returned: stopped, or its share of jobs run; None
        if it goes on."""
        if isinstance(worker, Engine) and worker.cold:
            return COLD
        if _asked_to_stop(worker):
            return self._stopped_by()
        ran = worker.jobs_run if isinstance(worker, Engine) else 0
        if worker.outage is None and self._max_jobs is not None and ran >= self._max_jobs:
            return RECYCLED
        return None

    def _stop_requested_during(self, worker: ForkingWorker | Engine | None, seconds: float) -> bool:
        """Wait ``seconds``; True if SIGTERM or SIGINT asked the worker to stop meanwhile.

        With no RQ worker built yet, RQ's signal handlers are not installed either: the worker's own
        note the signal (``_note_signals``; no job is running).
        """
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._signals or (worker is not None and _asked_to_stop(worker)):
                return True
            time.sleep(0.1)
        return bool(self._signals) or (worker is not None and _asked_to_stop(worker))

    def _run(self, worker: ForkingWorker | Engine, burst: bool) -> bool:
        """One work loop, with the Reaper, Scheduler and alert Dispatcher threads alongside it; True if it
        ran any job."""
        if isinstance(worker, Engine):
            beat, name = worker.beat, worker.identity.name
        else:
            beat, name = worker.beat, worker.name
        reaper = Reaper(
            self.connection,
            [q.name for q in self.queues],
            beat=beat,
            worker_name=name,
        )
        # The periodic jobs this process imported, for whichever worker's scheduler leads to tick.
        periodic.publish(self.connection, REGISTRY.registered().values())
        reaper.start()
        # A burst worker moves what is due itself, once per loop (rq_worker._start_scheduler).
        scheduler = None if burst else Scheduler(self.connection, name)
        if scheduler is not None:
            scheduler.start()
        dispatcher = Dispatcher(self.connection, self.sinks) if self.sinks else None
        if dispatcher is not None:
            dispatcher.start()
        try:
            if isinstance(worker, Engine):
                return worker.work(burst=burst)
            return bool(worker.work(burst=burst, with_scheduler=burst, logging_level=None))
        finally:
            reaper.stop()
            if scheduler is not None:
                scheduler.stop()
            if dispatcher is not None:
                dispatcher.stop(close_sinks=False)


def _asked_to_stop(worker: ForkingWorker | Engine) -> bool:
    """Whether SIGTERM or SIGINT reached this loop (RQ's records it in one of two ways)."""
    if isinstance(worker, Engine):
        return worker.asked_to_stop()
    return bool(worker._stop_requested or worker._shutdown_requested_date is not None)
