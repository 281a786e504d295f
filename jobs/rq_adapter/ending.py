"""The end of an attempt, in RQ's format, written by stalwart: what RQ's success and failure paths write.

RQ's own success path rewrites the whole job hash (payload included, encoded
again) and builds its records through several objects for every job: most of a
fast worker's time. These functions queue the same writes in the caller's
pipeline (the end of an attempt is one fenced write: ``finishing/fence.py``),
and only the fields that change. ``tests/integration/test_rq_format.py``
compares them with what RQ itself writes, field by field, so an RQ upgrade that
changes its format fails there, loudly.
"""

from __future__ import annotations

import json
from base64 import b64encode
from datetime import datetime
from typing import Any

from redis.client import Pipeline
from rq.defaults import RQ_KEY_PREFIX
from rq.job import JobStatus
from rq.registry import FinishedJobRegistry, StartedJobRegistry
from rq.results import Result
from rq.utils import current_timestamp, utcformat

from .take import _EXECUTION_PREFIX, _EXECUTIONS_PREFIX

_RESULTS_MAXLEN = 10


def execution_done(pipeline: Pipeline, job_id: str, queue: str, execution_id: str, worker_name: str) -> None:
    """The execution's records go (RQ's ``Execution.delete``): its hash, and its entries in the started
    registry, the job's executions registry and the worker's index."""
    member = f"{job_id}:{execution_id}"
    pipeline.delete(f"{_EXECUTION_PREFIX}{member}")
    pipeline.zrem(StartedJobRegistry.key_template.format(queue), member)
    pipeline.zrem(f"{_EXECUTIONS_PREFIX}{job_id}", execution_id)
    if worker_name:
        pipeline.srem(f"{RQ_KEY_PREFIX}:worker:{worker_name}:executions", member)


def worker_counts(pipeline: Pipeline, worker_key: str, *, succeeded: bool, working_s: float | None) -> None:
    """RQ's counters in the worker's hash: jobs that succeeded or failed, and the time spent working."""
    pipeline.hincrby(worker_key, "successful_job_count" if succeeded else "failed_job_count", 1)
    if working_s is not None:
        pipeline.hincrbyfloat(worker_key, "total_working_time", working_s)


def succeeded(
    pipeline: Pipeline,
    *,
    job_key: str,
    job_id: str,
    queue: str,
    result: Any,
    result_ttl: int,
    ended_at: datetime,
    worker_name: str,
    execution_id: str,
    started_at: datetime | None,
) -> None:
    """A job that returned ``result``: finished, its result kept ``result_ttl`` seconds (-1: for ever; 0:
    the job is deleted at once, as RQ does), in the finished registry."""
    if result_ttl == 0:
        pipeline.delete(job_key)
        return
    pipeline.hset(job_key, mapping={"status": JobStatus.FINISHED.value, "ended_at": utcformat(ended_at)})
    record: dict[Any, Any] = {"type": Result.Type.SUCCESSFUL.value, "worker_name": worker_name}
    if result is not None:
        record["return_value"] = b64encode(json.dumps(result).encode()).decode()
    record["execution_id"] = execution_id
    if started_at is not None:
        record["execution_started_at"] = started_at.timestamp()
    record["execution_ended_at"] = ended_at.timestamp()
    results = Result.get_key(job_id)  # type: ignore[no-untyped-call]
    pipeline.xadd(results, record, maxlen=_RESULTS_MAXLEN)
    score: int | str = "+inf" if result_ttl < 0 else current_timestamp() + result_ttl
    pipeline.zadd(FinishedJobRegistry.key_template.format(queue), {job_id: score})
    if result_ttl > 0:
        pipeline.expire(results, result_ttl)
        pipeline.expire(job_key, result_ttl)
    else:
        pipeline.persist(results)
        pipeline.persist(job_key)


def failed(pipeline: Pipeline, job_key: str, ended_at: datetime) -> None:
    """A job that failed for good: RQ's status and end time. Not RQ's failed registry: stalwart's dead-letter
    entry holds the failure, and what waits in RQ's failed registries is what RQ failed behind the
    worker's back (the sweep's work list)."""
    pipeline.hset(job_key, mapping={"status": JobStatus.FAILED.value, "ended_at": utcformat(ended_at)})
