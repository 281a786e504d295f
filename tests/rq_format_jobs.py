"""Jobs that photograph what their worker wrote to Redis while they run: one plain RQ function, one
stalwart job, for ``tests/integration/test_rq_format.py``."""

from __future__ import annotations

import json
from typing import Any

import redis
from rq import get_current_job

from jobs import Job
from jobs.connection import connect


def photograph(connection: redis.Redis, job_id: str, queue: str) -> dict[str, Any]:
    """Every record of a running job: its hash, its executions, registries, and its worker's records."""
    job = _text_hash(connection.hgetall(f"rq:job:{job_id}"))
    members = [_text(m) for m in connection.zrange(f"rq:wip:{queue}", 0, -1)]
    member = next(m for m in members if m.startswith(f"{job_id}:"))
    execution_id = member.partition(":")[2]
    worker_name = job["worker_name"]
    return {
        "job": job,
        "job_ttl": connection.ttl(f"rq:job:{job_id}"),
        "started_member": member,
        "started_score": connection.zscore(f"rq:wip:{queue}", member),
        "execution": _text_hash(connection.hgetall(f"rq:execution:{member}")),
        "execution_ttl": connection.ttl(f"rq:execution:{member}"),
        "executions": {
            _text(k): v for k, v in connection.zrange(f"rq:executions:{job_id}", 0, -1, withscores=True)
        },
        "execution_id": execution_id,
        "worker_executions": sorted(
            _text(m) for m in connection.smembers(f"rq:worker:{worker_name}:executions")
        ),
        "worker": _text_hash(connection.hgetall(f"rq:worker:{worker_name}")),
        "intermediate": [_text(m) for m in connection.lrange(f"rq:queue:{queue}:intermediate", 0, -1)],
    }


def photographed_by_rq(n: int) -> int:
    """Plain RQ's job: photographs its records under the key ``photo:rq``."""
    job = get_current_job()
    assert job is not None
    connection = job.connection
    connection.set("photo:rq", json.dumps(photograph(connection, job.id, job.origin)))
    return n


class Photographed(Job):
    name = "format.Photographed"
    queue = "format"

    def perform(self, n: int) -> int:
        connection = connect()
        connection.set("photo:stalwart", json.dumps(photograph(connection, self.job_id, "format")))
        return n


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _text_hash(raw: dict[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}
