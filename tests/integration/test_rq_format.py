"""What stalwart's own loop writes to Redis is what RQ writes, field by field.

stalwart takes, starts and ends jobs with its own scripts and writes (``rq_adapter/take.py``,
``rq_adapter/ending.py``), so that ``rq info``, rq-dashboard and RQ's own registry code read its jobs
and workers as RQ's. A job is run by plain RQ 3's SimpleWorker and by stalwart's in-process worker; each
photographs its records while it runs, and both are read again once they have ended. What each worker
added or changed is compared: the same fields, in the same formats, with stalwart's own fields named
here. An RQ upgrade that changes its format fails here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from jobs import Worker
from tests.rq_format_jobs import Photographed, photographed_by_rq
from tests.workers import REPO

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
EPOCH = re.compile(r"^\d{10}\.\d+$")
# Fields only stalwart writes as an attempt starts (its attempt count and fencing token), and ends it.
STALWART_STARTED = {"stalwart_attempt", "stalwart_token"}
STALWART_ENDED = {"stalwart_outcome"}
# RQ's end rewrites the whole hash, these two with times a moment later than its start wrote: stalwart's
# end leaves the start's values.
RQ_REWRITTEN = {"started_at", "last_heartbeat"}


def _hash(connection: redis.Redis, key: str) -> dict[str, str]:
    return {k.decode(): v.decode(errors="replace") for k, v in connection.hgetall(key).items()}


def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {field for field, value in after.items() if before.get(field) != value}


def _shape(value: str) -> str:
    """A value's format: an ISO time, epoch seconds, a number, or the value itself."""
    if ISO.match(value):
        return "iso"
    if EPOCH.match(value):
        return "epoch"
    if re.fullmatch(r"-?\d+(\.\d+)?", value):
        return "number"
    if re.fullmatch(r"[0-9a-f]{32}", value):
        return "hex name"
    if re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", value):
        return "uuid"
    return value


def _run_rq(connection: redis.Redis, url: str) -> tuple[str, dict[str, str]]:
    queue = Queue("plain", connection=connection, serializer=JSONSerializer)
    job = queue.enqueue(photographed_by_rq, 7, result_ttl=86400)
    before = _hash(connection, job.key.decode() if isinstance(job.key, bytes) else job.key)
    script = (
        "import redis, rq; from rq.serializers import JSONSerializer; "
        f"c = redis.Redis.from_url({url!r}); "
        "q = rq.Queue('plain', connection=c, serializer=JSONSerializer); "
        "rq.SimpleWorker([q], connection=c, serializer=JSONSerializer).work(burst=True)"
    )
    subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True, capture_output=True, timeout=60)
    return job.id, before


def _run_stalwart(connection: redis.Redis) -> tuple[str, dict[str, str]]:
    handle = Photographed.enqueue(n=7, connection=connection)
    before = _hash(connection, f"rq:job:{handle.id}")
    Worker(["format"], connection=connection, mode="inprocess").work(burst=True)
    return handle.id, before


def _photo(connection: redis.Redis, which: str) -> dict[str, Any]:
    raw = connection.get(f"photo:{which}")
    assert raw is not None, f"the {which} job did not run"
    found: dict[str, Any] = json.loads(raw)
    return found


def test_a_started_job_is_recorded_as_rq_records_it(connection: redis.Redis, redis_url: str) -> None:
    # Given a job run by plain RQ and one run by stalwart, each photographing its records as it runs
    rq_id, rq_before = _run_rq(connection, redis_url)
    ours_id, ours_before = _run_stalwart(connection)
    theirs, ours = _photo(connection, "rq"), _photo(connection, "stalwart")

    # Then the job hash gained the same fields, in the same formats (plus stalwart's attempt and token)
    rq_started = _changed(rq_before, theirs["job"])
    ours_started = _changed(ours_before, ours["job"])
    assert ours_started == rq_started | STALWART_STARTED
    for field in rq_started:
        assert _shape(ours["job"][field]) == _shape(theirs["job"][field]), field
    assert ours["job"]["status"] == theirs["job"]["status"] == "started"
    assert ours["job_ttl"] == theirs["job_ttl"] == -1  # persistent while it runs

    # And the execution: its hash, its registries, the worker's index of it, in RQ's formats
    assert set(ours["execution"]) == set(theirs["execution"])
    for field, value in theirs["execution"].items():
        assert _shape(ours["execution"][field]) == _shape(value), field
    assert ours["execution"]["job_id"] == ours_id and theirs["execution"]["job_id"] == rq_id
    assert ours["started_member"] == f"{ours_id}:{ours['execution_id']}"
    assert theirs["started_member"] == f"{rq_id}:{theirs['execution_id']}"
    assert list(ours["executions"]) == [ours["execution_id"]]
    assert list(theirs["executions"]) == [theirs["execution_id"]]
    assert ours["worker_executions"] == [ours["started_member"]]
    assert theirs["worker_executions"] == [theirs["started_member"]]
    assert ours["intermediate"] == theirs["intermediate"] == []
    assert ours["execution_ttl"] > 0 and theirs["execution_ttl"] > 0

    # And the worker's hash is RQ's, busy with the job
    assert set(theirs["worker"]) <= set(ours["worker"])
    assert ours["worker"]["state"] == theirs["worker"]["state"] == "busy"
    for field in ("birth", "last_heartbeat"):
        assert _shape(ours["worker"][field]) == _shape(theirs["worker"][field]) == "iso"


def test_an_ended_job_is_recorded_as_rq_records_it(connection: redis.Redis, redis_url: str) -> None:
    # Given a job run to its end by plain RQ and one by stalwart
    rq_id, _ = _run_rq(connection, redis_url)
    ours_id, _ = _run_stalwart(connection)
    theirs_running, ours_running = _photo(connection, "rq")["job"], _photo(connection, "stalwart")["job"]
    theirs, ours = _hash(connection, f"rq:job:{rq_id}"), _hash(connection, f"rq:job:{ours_id}")

    # Then the job hash changed the same fields as RQ's end did (RQ rewrites the whole hash; only what
    # changed counts), in the same formats, plus stalwart's outcome; the attempt's token is gone
    rq_ended = _changed(theirs_running, theirs)
    ours_ended = _changed(ours_running, ours)
    assert rq_ended - RQ_REWRITTEN == {"status", "ended_at"}
    assert ours_ended == rq_ended - RQ_REWRITTEN | STALWART_ENDED
    for field in rq_ended:
        assert _shape(ours[field]) == _shape(theirs[field]), field
    assert ours["status"] == theirs["status"] == "finished"
    assert "stalwart_token" not in ours
    assert connection.ttl(f"rq:job:{ours_id}") == connection.ttl(f"rq:job:{rq_id}") == 86400

    # And the result: a stream entry with the same fields, the same value, the same expiry
    [(_, rq_result)] = connection.xrange(f"rq:results:{rq_id}")
    [(_, our_result)] = connection.xrange(f"rq:results:{ours_id}")
    assert set(our_result) == set(rq_result)
    assert our_result[b"return_value"] == rq_result[b"return_value"]
    assert our_result[b"type"] == rq_result[b"type"]
    assert connection.ttl(f"rq:results:{ours_id}") == connection.ttl(f"rq:results:{rq_id}") == 86400

    # And the registries: finished (with RQ's score), no longer started, the execution gone
    rq_score = connection.zscore("rq:finished:plain", rq_id)
    our_score = connection.zscore("rq:finished:format", ours_id)
    assert rq_score is not None and our_score is not None and abs(our_score - rq_score) < 60
    assert connection.zcard("rq:wip:plain") == connection.zcard("rq:wip:format") == 0
    assert connection.zcard(f"rq:executions:{ours_id}") == connection.zcard(f"rq:executions:{rq_id}") == 0
    assert not connection.keys(f"rq:execution:{ours_id}:*") and not connection.keys(f"rq:execution:{rq_id}:*")
