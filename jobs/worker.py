"""``Worker``: runs stalwart jobs from one or more queues, on RQ's worker classes.

Two modes: ``"fork"`` (the default) runs each job in a fresh work-horse process,
so a job that crashes or leaks cannot take the worker down; ``"inprocess"`` runs
jobs in the worker's own process, for speed. Both always run RQ's scheduler,
without which retried and scheduled jobs would wait forever.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Literal

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from ._rq import ForkingWorker, InProcessWorker
from ._rq_job import SafeRQJob
from .abandoned import Reaper, heartbeat_interval_s
from .connection import connect
from .errors import ConfigurationError

Mode = Literal["fork", "inprocess"]
log = logging.getLogger("stalwart.worker")
_MAX_BURST_WAIT_S = 1.0


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
        """
        self._announce(burst)
        if not burst:
            self._run(self._rq_worker(), burst=False)
            return
        while True:
            self._run(self._rq_worker(), burst=True)
            if any(q.count for q in self.queues):
                continue
            next_due = self._next_scheduled()
            if next_due is None:
                return
            time.sleep(min(max(next_due - time.time(), 0.01), _MAX_BURST_WAIT_S))

    def _run(self, worker: ForkingWorker | InProcessWorker, burst: bool) -> None:
        """One RQ work loop, with the Reaper thread alongside it."""
        reaper = Reaper(self.connection, [q.name for q in self.queues], beat=worker.beat)
        reaper.start()
        try:
            worker.work(burst=burst, with_scheduler=True, logging_level=None)
        finally:
            reaper.stop()

    def _next_scheduled(self) -> float | None:
        """The epoch time at which the earliest scheduled job on our queues is due, or None."""
        earliest: float | None = None
        for queue in self.queues:
            first = self.connection.zrange(queue.scheduled_job_registry.key, 0, 0, withscores=True)
            if first:
                due = float(first[0][1])
                earliest = due if earliest is None else min(earliest, due)
        return earliest
