"""The worker ``jobs.testing.run_queued`` runs: stalwart's in-process worker, shaped for a test run."""

from __future__ import annotations

import threading
from typing import Any

import redis
from rq.executions import Execution
from rq.job import Job as RQJob
from rq.queue import Queue
from rq.serializers import JSONSerializer

from ..rq_adapter.job_format import SafeRQJob
from .rq_worker import InProcessWorker
from .watchdog import Watchdog


class RecordingWorker(InProcessWorker):
    """The in-process worker for ``jobs.testing``: notes each job it runs, leaves signals to the test
    runner (Ctrl-C stops the tests as usual), and its time limit works off the main thread too."""

    def __init__(self, queues: list[Queue], connection: redis.Redis, ran: dict[str, None]) -> None:
        super().__init__(
            queues,
            connection=connection,
            serializer=JSONSerializer,
            job_class=SafeRQJob,
            disable_default_exception_handler=True,
        )
        self._ran = ran
        self.waits_out_outages = False  # a user's test must see an outage, not hang on it
        if threading.current_thread() is not threading.main_thread():
            # No signal alarm off the main thread: the watchdog's limit (never RQ's timer, which rewrites
            # the exception class's constructor for the whole process).
            self.death_penalty_class = Watchdog().limit

    def _install_signal_handlers(self) -> None:
        """RQ's handlers would replace the test runner's SIGINT and SIGTERM handling for good."""

    def perform_job(self, rq_job: RQJob, queue: Queue, execution: Execution) -> bool:
        self._ran.setdefault(rq_job.id, None)
        return super().perform_job(rq_job, queue, execution)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        """RQ's loop; a Redis outage that ended it is raised: a test sees it, not a quietly partial run."""
        worked = bool(super().work(*args, **kwargs))
        if self.outage is not None:
            raise self.outage
        return worked
