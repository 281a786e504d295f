"""A worker's first and last log lines: how it runs, and why it stopped having run what.

The start line names the queues (and how they relate to the queues its jobs
use), the mode, the Redis (no password), the stalwart version and the pid; a
queue that none of its jobs use gets a warning, since the worker would wait
there for nothing. The stop line says why (burst drained, the signal, the
error), how the attempts it ran ended, and, for a burst worker, the jobs left
waiting on queues it does not serve.
"""

from __future__ import annotations

import logging
import os
import signal
from importlib import metadata

import redis

from ..connection.client import shown_url
from ..connection.outage import describe, is_outage
from ..model.definition import REGISTRY
from ..rq_adapter.queues import queue_counts
from .tally import Tally

log = logging.getLogger("stalwart.worker")

DRAINED = "burst drained: nothing queued or scheduled on its queues"
RECYCLED = "ran its share of jobs (--max-jobs-per-child): its pool starts a fresh process in its place"
COLD = "a second signal (cold shutdown: the jobs still running were settled as abandoned)"


def job_queues() -> list[str]:
    """The queues of the jobs this process can run (every registered job), in the order they registered."""
    return list(dict.fromkeys(job.queue for job in REGISTRY.registered().values()))


def quiet_rq() -> None:
    """RQ logs warnings and errors only: our start, stop and per-job lines say the rest.

    RQ's per-job INFO lines (dequeued, "Job OK", "Successfully completed") would triple ours, and its
    scheduler's would repeat: a burst worker takes and releases the scheduler lock on every round while
    retries wait ("Acquired scheduler lock", about once a second).
    """
    for name in ("rq.worker", "rq.scheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)


def started(queues: list[str], mode: str, burst: bool, connection: redis.Redis) -> None:
    """Log the start line, and a warning for each queue none of the jobs this worker can run use."""
    used = job_queues()
    where = shown_url(connection)
    log.info(
        "worker started: queues %s (%s); mode %s%s; Redis %s; stalwart %s; pid %d",
        ", ".join(queues),
        _whose(queues, used),
        mode,
        ", burst" if burst else "",
        where,
        VERSION,
        os.getpid(),
        extra={"queue": queues, "mode": mode, "burst": burst, "redis": where, "version": VERSION},
    )
    idle = [name for name in queues if name not in used]
    if not used:
        log.warning(
            "this worker knows no jobs (no Job subclass was imported): every job it takes will be "
            "dead-lettered as poison; import the modules that define them (stalwart worker --import MODULE)"
        )
    elif idle:
        log.warning(
            "no job this worker can run uses queue %s, so it will wait there for nothing; its jobs use %s "
            "(`stalwart worker` with no --queue serves those)",
            ", ".join(idle),
            ", ".join(used),
            extra={"queue": idle},
        )


def stopped(why: str, tally: Tally, waiting: dict[str, int], *, level: int = logging.INFO) -> None:
    """Log the stop line: why, how the attempts it ran ended, and the jobs ``waiting`` elsewhere."""
    elsewhere = ""
    if waiting:
        total = sum(waiting.values())
        shown = ", ".join(f"{name} ({count})" for name, count in waiting.items())
        jobs = "1 job waits" if total == 1 else f"{total} jobs wait"
        elsewhere = f"; {jobs} on queues it does not serve: {shown}"
    log.log(
        level,
        "worker stopped: %s; %s%s",
        why,
        tally.summary(),
        elsewhere,
        extra={"stop_reason": why, "ran": tally.as_dict(), "waiting": waiting},
    )


def waiting_elsewhere(connection: redis.Redis, served: list[str]) -> dict[str, int]:
    """Jobs queued or scheduled on the queues a worker does not serve, by queue (empty if Redis fails)."""
    try:
        counts = queue_counts(connection)
    except redis.RedisError as err:
        log.warning("could not count the jobs on other queues (%s)", describe(err) if is_outage(err) else err)
        return {}
    return {
        name: c["queued"] + c["scheduled"]
        for name, c in sorted(counts.items())
        if name not in served and c["queued"] + c["scheduled"]
    }


def signal_name(number: int | None) -> str:
    """What asked a worker to stop: the signal RQ's handler received, else RQ's shutdown command."""
    if number is None:
        return "asked to stop"
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def ended_by(error: BaseException) -> tuple[str, int]:
    """Why a worker stopped on ``error`` (raised out of its loop), and the level to say it at."""
    if isinstance(error, SystemExit):
        # RQ's cold shutdown: a second SIGTERM or SIGINT; it killed the running work-horse, if any.
        return "a second signal (cold shutdown: a running job was stopped)", logging.WARNING
    if isinstance(error, KeyboardInterrupt):
        return "SIGINT", logging.INFO  # before RQ's handlers were installed
    return f"an error: {type(error).__name__}: {error}", logging.ERROR


def _whose(served: list[str], used: list[str]) -> str:
    """How the queues served relate to the jobs' queues, for the start line."""
    if not used:
        return "it knows no jobs"
    if set(served) == set(used):
        return "all its jobs' queues"
    return f"its jobs use {', '.join(used)}"


def _version() -> str:
    try:
        return metadata.version("stalwart")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


VERSION = _version()
