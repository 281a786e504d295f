"""``jobs.testing``: run what is queued in the test's own process and see how each job ended.

A test enqueues jobs as the application does, then calls ``run_queued``: every
queued job runs in-process through the worker's own code (the same decoding,
retry decisions, dead-lettering, statistics and alerts), and retries scheduled
for later run at once instead of after their backoff. It returns a ``Run``
saying what happened to each job::

    from jobs import testing

    def test_declined_card_is_not_retried():
        redis = testing.fake_redis()
        ChargeCard.enqueue(connection=redis, customer_id=42, card="4000-0000-0000-0002")
        run = testing.run_queued(redis)
        charge = run.one(ChargeCard)
        assert charge.status is Status.NEGATIVE and charge.attempts == 1

It works on fakeredis (``fake_redis()``) or on a real server's connection.
During the run, ``jobs.connect()`` returns the run's connection, so job code
that connects by itself uses it too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis

from . import _keys, stats
from .connection import use
from .dead_letter import DeadLetterEntry, DeadLetterQueue
from .errors import JobsError
from .model.definition import JobDefinition
from .model.outcome import Negative, Status
from .model.payload import PoisonPayload
from .rq_adapter.enqueue import queue
from .rq_adapter.handle import JobHandle
from .rq_adapter.job_format import fetch
from .rq_adapter.queues import has_scheduled, known_queues
from .rq_adapter.schedule import lead_and_move
from .runtime.testing_worker import RecordingWorker
from .telemetry.alerts import Alert

__all__ = ["JobRun", "Run", "RunawayJobs", "alerts", "fake_redis", "run_queued", "use"]

# Statistics are kept per minute; a run's are the difference between two readings of this window.
_STATS_WINDOW_S = 3600.0


class RunawayJobs(JobsError):
    """Jobs were still queued or scheduled after the most rounds a run allows."""


@dataclass(frozen=True)
class JobRun:
    """How one job ended in a run: its status, result, attempts, and dead-letter entry if any."""

    id: str
    job: str
    kwargs: dict[str, Any]
    status: Status
    attempts: int
    result: Any = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    dead_letter: DeadLetterEntry | None = None

    @property
    def negative(self) -> Negative | None:
        """The job's Negative, when it ended as one."""
        return self.result if isinstance(self.result, Negative) else None

    @property
    def retried(self) -> bool:
        """Whether it took more than one attempt."""
        return self.attempts > 1


@dataclass
class Run:
    """Everything one ``run_queued`` call ran, in the order each job first ran."""

    jobs: list[JobRun]
    alerts: list[Alert]
    stats: dict[str, dict[str, float]]
    skipped_wait_s: float
    rounds: int

    def of(self, job: type[JobDefinition] | str) -> list[JobRun]:
        """The runs of one job class (or job name)."""
        name = job if isinstance(job, str) else job.name
        return [run for run in self.jobs if run.job == name]

    def one(self, job: type[JobDefinition] | str) -> JobRun:
        """The only run of ``job``; raises AssertionError if there were none or several."""
        runs = self.of(job)
        if len(runs) != 1:
            name = job if isinstance(job, str) else job.name
            raise AssertionError(f"expected exactly one run of {name}, found {len(runs)}")
        return runs[0]

    def count(self, status: Status, job: type[JobDefinition] | str | None = None) -> int:
        """How many jobs (of ``job``, or all) ended with ``status``."""
        runs = self.jobs if job is None else self.of(job)
        return sum(1 for run in runs if run.status is status)

    def stat(self, scope: type[JobDefinition] | str, metric: str) -> float:
        """One statistic this run added: ``run.stat(ChargeCard, "negative.card_declined")``."""
        name = scope if isinstance(scope, str) else scope.name
        return self.stats.get(name, {}).get(metric, 0.0)


def fake_redis() -> redis.Redis:
    """An empty in-memory Redis (fakeredis, with Lua for circuit breakers)."""
    try:
        import fakeredis
    except ImportError as err:
        raise JobsError(
            "jobs.testing.fake_redis needs fakeredis; install it with `pip install 'stalwart[testing]'`"
        ) from err
    client: redis.Redis = fakeredis.FakeRedis()
    return client


def alerts(connection: redis.Redis) -> list[Alert]:
    """The alerts waiting in the outbox (raised and not yet handed to a sink), oldest first."""
    return [Alert.from_json(raw) for raw in connection.lrange(_keys.alert_outbox(), 0, -1)]


def run_queued(
    connection: redis.Redis | None = None,
    *,
    queues: Sequence[str] | None = None,
    max_rounds: int = 100,
) -> Run:
    """Run every job queued (on ``queues``, or on every queue), and every retry they schedule, until none
    is left.

    Each round drains the queues in-process, then moves every scheduled retry
    to its queue at once. Jobs that enqueue jobs, and replays from the
    dead-letter queue, run too. Raises RunawayJobs if jobs are still waiting
    after ``max_rounds`` rounds (a circuit breaker that stays open keeps
    snoozing a job, since no real time passes).
    """
    client = connection if connection is not None else fake_redis()
    outbox_before = client.llen(_keys.alert_outbox())
    stats_before = stats.read(client, _STATS_WINDOW_S)
    ran: dict[str, None] = {}
    skipped = 0.0
    rounds = 0
    with use(client), _quiet_rq():
        while True:
            rq_queues = _queues(client, queues)
            if not (any(q.count for q in rq_queues) or has_scheduled(client, rq_queues)):
                break
            if rounds == max_rounds:
                waiting = [q.name for q in rq_queues if q.count] + [
                    q.name for q in rq_queues if client.zcard(q.scheduled_job_registry.key)
                ]
                raise RunawayJobs(
                    f"jobs are still waiting on {sorted(set(waiting))} after {max_rounds} rounds; a circuit "
                    "breaker that stays open, a rate limit or max_concurrency the jobs keep running into, "
                    "or a job that enqueues itself, never ends without real time (reset the breaker, or "
                    "lift the limit, in the test; or raise max_rounds)"
                )
            rounds += 1
            worker = RecordingWorker(rq_queues, client, ran)
            worker.work(burst=True, with_scheduler=False, logging_level=None)
            # Every job due later moves now, however far off: no real time passes in a test.
            skipped = max(skipped, lead_and_move(client, upto="+inf").skipped_s)
    return Run(
        jobs=[_job_run(client, job_id) for job_id in ran],
        alerts=[Alert.from_json(raw) for raw in client.lrange(_keys.alert_outbox(), outbox_before, -1)],
        stats=_difference(stats.read(client, _STATS_WINDOW_S), stats_before),
        skipped_wait_s=max(skipped, 0.0),
        rounds=rounds,
    )


def _queues(client: redis.Redis, names: Sequence[str] | None) -> list[Any]:
    """The named queues, or every queue this Redis has seen (RQ keeps their names) plus ``default``."""
    if names is None:
        names = sorted(known_queues(client) | {"default"})
    return [queue(name, client) for name in names]


@contextmanager
def _quiet_rq() -> Iterator[None]:
    """Our own log lines say how each job went; RQ's per-job INFO lines would only repeat them."""
    rq_log = logging.getLogger("rq.worker")
    level = rq_log.level
    rq_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        rq_log.setLevel(level)


def _job_run(client: redis.Redis, job_id: str) -> JobRun:
    rq_job = fetch(client, job_id)
    try:
        decoded = rq_job.decoded()
        name, kwargs = decoded.job.name, decoded.kwargs
    except PoisonPayload:
        name, kwargs = str(rq_job.func_name), {}
    handle = JobHandle(job_id, name, client)
    status = handle.status()
    dlq = DeadLetterQueue(client)
    return JobRun(
        id=job_id,
        job=name,
        kwargs=kwargs,
        status=status,
        attempts=rq_job.previous_attempts,
        result=handle.result() if status in (Status.SUCCEEDED, Status.NEGATIVE) else None,
        failures=list(rq_job.history),
        dead_letter=dlq.get(job_id) if status is Status.DEAD_LETTERED and dlq.exists(job_id) else None,
    )


def _difference(after: dict[str, dict[str, float]], before: dict[str, dict[str, float]]) -> dict[str, Any]:
    result: dict[str, dict[str, float]] = {}
    for scope, metrics in after.items():
        for metric, value in metrics.items():
            added = value - before.get(scope, {}).get(metric, 0.0)
            if added:
                result.setdefault(scope, {})[metric] = added
    return result
