"""``Worker``: runs stalwart jobs from one or more queues, on RQ's worker classes.

Two modes: ``"fork"`` (the default) runs each job in a fresh work-horse process,
so a job that crashes or leaks cannot take the worker down; ``"inprocess"`` runs
jobs in the worker's own process, for speed. Both always run RQ's scheduler,
without which retried and scheduled jobs would wait forever.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Literal

import redis
from rq import Queue
from rq.exceptions import StopRequested
from rq.serializers import JSONSerializer

from ._rq import ForkingWorker, InProcessWorker
from ._rq_job import SafeRQJob
from .abandoned import Reaper, heartbeat_interval_s
from .alerts import Dispatcher, sinks_from_environment
from .connection import connect
from .errors import ConfigurationError

Mode = Literal["fork", "inprocess"]
log = logging.getLogger("stalwart.worker")
_MAX_BURST_WAIT_S = 1.0
_MAX_RESTART_BACKOFF_S = 30.0


def import_job_modules(modules: Iterable[str]) -> None:
    """Import the modules that define job classes, so their jobs are registered.

    The current directory is importable, as it is for ``python -m``. Raises
    ConfigurationError with the module's name and what to check.
    """
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ConfigurationError(
                f"cannot import {module!r} ({type(err).__name__}: {err}); check the module name "
                "and that its folder is the current directory or on PYTHONPATH"
            ) from err


def add_import_option(parser: argparse.ArgumentParser, what: str, required: bool = True) -> None:
    """The ``--import MODULE`` option whose values ``import_job_modules`` takes."""
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        required=required,
        metavar="MODULE",
        help=f"module that {what} (repeatable)",
    )


class Worker:
    """Takes jobs from ``queues`` (in priority order) and runs them."""

    def __init__(
        self,
        queues: Sequence[str] = ("default",),
        *,
        connection: redis.Redis | None = None,
        mode: Mode = "fork",
    ) -> None:
        if mode not in ("fork", "inprocess"):
            raise ValueError(f"mode must be 'fork' or 'inprocess', got {mode!r}")
        if isinstance(queues, str) or not queues:
            raise ValueError("queues must be a non-empty list of queue names, e.g. ['default']")
        self.connection = connection if connection is not None else connect()
        self.mode: Mode = mode
        self.queues = [Queue(q, connection=self.connection, serializer=JSONSerializer) for q in queues]

    def _rq_worker(self) -> ForkingWorker | InProcessWorker:
        cls = ForkingWorker if self.mode == "fork" else InProcessWorker
        return cls(
            self.queues,
            connection=self.connection,
            serializer=JSONSerializer,
            job_class=SafeRQJob,
            disable_default_exception_handler=True,
            log_job_description=True,
            job_monitoring_interval=heartbeat_interval_s(),
        )

    def _announce(self, burst: bool) -> None:
        # Our start and end lines describe every job; RQ's own per-job INFO lines
        # (dequeued, "Job OK", "Successfully completed") would triple them, so RQ's
        # worker logs warnings and errors only.
        logging.getLogger("rq.worker").setLevel(logging.WARNING)
        if burst:
            # A burst worker takes and releases the scheduler lock on every round while retries wait:
            # RQ would log "Acquired scheduler lock" about once a second.
            logging.getLogger("rq.scheduler").setLevel(logging.WARNING)
        log.info(
            "worker started: queues %s, mode %s%s",
            ", ".join(q.name for q in self.queues),
            self.mode,
            ", burst" if burst else "",
            extra={"queue": [q.name for q in self.queues]},
        )

    def work(self, burst: bool = False) -> None:
        """Run jobs until stopped (SIGTERM/SIGINT finish the current job first).

        With ``burst``, return once nothing is queued and nothing is scheduled:
        jobs scheduled for later are waited for, so a script can drain a queue
        whose jobs retry.

        The objects alive when it starts are frozen out of garbage collection
        (``gc.freeze``): a worker process keeps them for good anyway.
        """
        self._announce(burst)
        # What start-up created (modules, the application's imports) lives as long as the process: keep
        # it out of later collections, which stay short, and which would otherwise walk it again and
        # again (in a forking worker, while the next job waits).
        gc.collect()
        gc.freeze()
        backoff = 1.0
        worker: ForkingWorker | InProcessWorker | None = None
        while True:
            try:
                # Building RQ's worker talks to Redis: a Redis that is still gone when the loop restarts
                # is waited out like the outage that ended the last loop, not a crash.
                worker = self._rq_worker()
                worked = self._run(worker, burst)
                if _asked_to_stop(worker):
                    return
                if burst:
                    if self._drained():
                        return
                    if worked or not any(q.count for q in self.queues):
                        backoff = 1.0
                        continue
                    # Jobs wait but this round ran none: RQ's loop ended on an error. Do not spin.
                log.warning("the RQ worker loop ended on an error; starting it again in %.0f s", backoff)
            except (redis.ConnectionError, redis.TimeoutError) as err:
                log.warning("lost Redis (%s); reconnecting in %.0f s", err, backoff)
            except StopRequested:
                return  # SIGTERM between two RQ loops: RQ's handler says so by raising
            try:
                if self._stop_requested_during(worker, backoff):
                    return
            except StopRequested:
                return  # SIGTERM while waiting to restart: RQ's handler says so by raising
            backoff = min(backoff * 2, _MAX_RESTART_BACKOFF_S)

    def _drained(self) -> bool:
        """In burst mode: nothing queued and nothing scheduled; waits for the next scheduled job otherwise."""
        if any(q.count for q in self.queues):
            return False
        next_due = self._next_scheduled()
        if next_due is None:
            return True
        time.sleep(min(max(next_due - time.time(), 0.01), _MAX_BURST_WAIT_S))
        return False

    @staticmethod
    def _stop_requested_during(worker: ForkingWorker | InProcessWorker | None, seconds: float) -> bool:
        """Wait ``seconds``; True if SIGTERM or SIGINT asked the worker to stop meanwhile.

        With no RQ worker built yet, RQ's signal handlers are not installed either, and a SIGTERM
        ends the process at once (no job is running).
        """
        if worker is None:
            time.sleep(seconds)
            return False
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if _asked_to_stop(worker):
                return True
            time.sleep(0.1)
        return _asked_to_stop(worker)

    def _run(self, worker: ForkingWorker | InProcessWorker, burst: bool) -> bool:
        """One RQ work loop, with the Reaper thread alongside it; True if it ran any job."""
        reaper = Reaper(
            self.connection,
            [q.name for q in self.queues],
            beat=worker.beat,
            keep_scheduler=None if burst else worker.keep_scheduler,
        )
        reaper.start()
        sinks = sinks_from_environment()
        dispatcher = Dispatcher(self.connection, sinks) if sinks else None
        if dispatcher is not None:
            dispatcher.start()
        try:
            return bool(worker.work(burst=burst, with_scheduler=True, logging_level=None))
        finally:
            reaper.stop()
            if dispatcher is not None:
                dispatcher.stop()

    def _next_scheduled(self) -> float | None:
        """The epoch time at which the earliest scheduled job on our queues is due, or None."""
        earliest: float | None = None
        for queue in self.queues:
            first = self.connection.zrange(queue.scheduled_job_registry.key, 0, 0, withscores=True)
            if first:
                due = float(first[0][1])
                earliest = due if earliest is None else min(earliest, due)
        return earliest


def _asked_to_stop(worker: ForkingWorker | InProcessWorker) -> bool:
    """Whether SIGTERM or SIGINT reached this RQ worker (RQ records it in one of two ways)."""
    return bool(worker._stop_requested or worker._shutdown_requested_date is not None)
