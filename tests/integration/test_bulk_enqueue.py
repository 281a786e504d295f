"""The bulk path writes the job hash RQ's own enqueue writes: an RQ upgrade that changes it fails here."""

from __future__ import annotations

import json
import zlib

import redis

from jobs import Status, Worker
from jobs.model.payload import build
from jobs.rq_adapter.enqueue import enqueue_payload, enqueue_raw, register_queue
from jobs.rq_adapter.handle import JobHandle
from tests.sample_jobs import Add

VOLATILE = {b"created_at", b"enqueued_at"}


def test_a_bulk_enqueued_job_has_every_field_rq_writes_with_the_same_value(connection: redis.Redis) -> None:
    body = build(Add, {"a": 1, "b": 2}, "req-1")
    by_rq = enqueue_payload(Add, body, connection)
    with connection.pipeline() as pipeline:
        register_queue(pipeline, Add.queue)
        bulk_id = enqueue_raw(pipeline, Add, body)
        pipeline.execute()

    ours = connection.hgetall(f"rq:job:{bulk_id}")
    theirs = {k: v for k, v in connection.hgetall(f"rq:job:{by_rq}").items() if v != b""}
    assert set(theirs) == set(ours)
    for field in set(theirs) - VOLATILE - {b"data"}:
        assert ours[field] == theirs[field], field
    assert json.loads(zlib.decompress(ours[b"data"])) == json.loads(zlib.decompress(theirs[b"data"]))
    assert connection.lrange("rq:queue:default", 0, -1) == [by_rq.encode(), bulk_id.encode()]

    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)
    assert JobHandle(bulk_id, Add.name, connection).status() is Status.SUCCEEDED
