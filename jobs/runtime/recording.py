"""Recording how an attempt ended: RQ's bookkeeping and the finishing path's writes, in one fenced write.

The worker writes the end of an attempt itself rather than through RQ's
``handle_job_success``/``handle_job_failure``, for two reasons. The writes must
land only while the attempt is still the job's current one (``fence.settle``):
RQ's own writes (status, registries, result) overwrote a job the reaper had
settled meanwhile. And a Redis outage must not lose them: RQ logged the failed
write and moved on, leaving the job ``started`` for the reaper, which then
counted the lost write as a dead worker. Here the write is retried until Redis
answers; the fence makes a retry that comes after a settlement a late finish.

RQ's writes are the ones its success, retry and failure paths make for a job
like ours; what stalwart jobs never have (dependents, repeats, callbacks,
webhooks, RQ's own retries) is not looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from redis.client import Pipeline
from rq.executions import Execution
from rq.job import JobStatus
from rq.queue import Queue
from rq.utils import now

from ..finishing import fence
from ..finishing.path import Ending, Late
from ..model.outcome import Outcome, Status
from ..rq_adapter import ending as ending_rq
from ..rq_adapter.job_format import SafeRQJob
from ..rq_adapter.lua import Call
from ..rq_adapter.schedule import schedule_in
from . import limits
from .outages import through_outages


class RQWorker(Protocol):
    """What recording uses of RQ's worker."""

    connection: Any
    name: str
    key: str
    default_result_ttl: int
    executions: dict[str, Any]


@dataclass
class Recorder:
    """Records the end of one attempt of ``job``, run by ``worker`` as ``execution``."""

    worker: RQWorker
    job: SafeRQJob
    queue: Queue
    execution: Execution
    # A worker waits a Redis outage out rather than lose the end of an attempt that ran; jobs.testing's
    # in-process run raises it instead, so a user's test sees it rather than hanging.
    patient: bool = True

    def record(self, outcome: Outcome, ending: Ending, rider: Call | None = None) -> None:
        """Write how the attempt ended, once, through any Redis outage; a late end is recorded as such.

        ``rider`` (the worker's take of its next job) is sent in the same round trip as the end, if the
        end's first try can be written in one (``fence.apply_if_held``); its reply is in ``rider.reply``.
        """
        job = self.job
        job.ended_at = now()
        late: Late | None = None

        def decide(pipeline: Pipeline, state: fence.AttemptState) -> fence.Plan:
            nonlocal late
            if state.held_by(job.token):
                late = None
                return lambda p: self._ended(outcome, ending, p)
            late = found = ending.late(pipeline, state)
            return lambda p: self._late(outcome, found, p)

        def write() -> None:
            nonlocal late, rider
            connection = self.worker.connection
            ended: fence.Plan = lambda p: self._ended(outcome, ending, p)  # noqa: E731
            # The rider goes with the first try only: a take whose reply an outage lost may have run.
            sent, rider = rider, None
            written = fence.apply_if_held(connection, job.key, job.token, ended, sent)
            if written:
                late = None
                return
            fence.settle(connection, job.key, decide)

        if self.patient:
            through_outages(write, f"how job {job.id} ended")
        else:
            write()
        if late is not None:
            late.log()
        else:
            ending.after()

    def _ended(self, outcome: Outcome, ending: Ending, pipeline: Pipeline) -> None:
        """RQ's writes for this outcome, and the finishing path's, in ``pipeline``."""
        self._release(outcome, pipeline)
        if outcome.status is Status.SCHEDULED:
            self._scheduled(outcome, pipeline)
        elif outcome.status is Status.DEAD_LETTERED:
            job = self.job
            job._status = JobStatus.FAILED
            ending_rq.failed(pipeline, job.key, job.ended_at or now())
            self._execution_done(pipeline)
            self._counts(pipeline, succeeded=False)
        else:
            self._succeeded(outcome, pipeline)
        ending.write(pipeline)

    def _late(self, outcome: Outcome, late: Late, pipeline: Pipeline) -> None:
        """An attempt someone else settled first: its result recorded (if so decided), its execution gone."""
        self._release(outcome, pipeline)
        if late.records_result:
            self._succeeded(outcome, pipeline)
        else:
            self._execution_done(pipeline)
        late.write(pipeline)

    def _succeeded(self, outcome: Outcome, pipeline: Pipeline) -> None:
        """RQ's writes for a job that returned: its status, its result (kept ``result_ttl``), registries."""
        job, worker, execution = self.job, self.worker, self.execution
        job._result = outcome.stored_result
        job._status = JobStatus.FINISHED
        self._counts(pipeline, succeeded=True)
        ending_rq.succeeded(
            pipeline,
            job_key=job.key,
            job_id=job.id,
            queue=self.queue.name,
            result=outcome.stored_result,
            result_ttl=job.get_result_ttl(worker.default_result_ttl),
            ended_at=job.ended_at or now(),
            worker_name=worker.name,
            execution_id=execution.id,
            started_at=execution.created_at,
        )
        self._execution_done(pipeline)

    def _scheduled(self, outcome: Outcome, pipeline: Pipeline) -> None:
        """The job is due again after the backoff (to the microsecond, on Redis's clock); the worker never
        sleeps on it: the scheduler moves it when due (rq_adapter/schedule.py)."""
        job = self.job
        job._status = JobStatus.SCHEDULED
        self._execution_done(pipeline)
        job.set_status(JobStatus.SCHEDULED, pipeline=pipeline)
        # When due, it goes to the front of its queue: the backoff is a retry's wait, not the backoff plus
        # however long a backlog of new jobs takes to drain.
        pipeline.hset(job.key, "enqueue_at_front", 1)
        schedule_in(pipeline, job.id, self.queue.name, outcome.retry_in_s or 0.0)
        self._counts(pipeline, succeeded=False, working=False)

    def _execution_done(self, pipeline: Pipeline) -> None:
        self.worker.executions.pop(self.execution.id, None)
        ending_rq.execution_done(pipeline, self.job.id, self.queue.name, self.execution.id, self.worker.name)

    def _counts(self, pipeline: Pipeline, *, succeeded: bool, working: bool = True) -> None:
        started, ended = self.job.started_at, self.job.ended_at
        working_s = (ended - started).total_seconds() if working and started and ended else None
        ending_rq.worker_counts(pipeline, self.worker.key, succeeded=succeeded, working_s=working_s)

    def _release(self, outcome: Outcome, pipeline: Pipeline) -> None:
        """The attempt's concurrency slot, if its job has a limit, goes back as its end is recorded."""
        held = limits.slot(outcome.job, self.job.id, self.execution.id)
        if held is not None:
            limits.release(pipeline, held)
