"""Taking a job from several queues: priority order, and never a moment where the job is in no list."""

from __future__ import annotations

import redis
from rq.serializers import JSONSerializer

from jobs.model import payload
from jobs.rq_adapter.dequeue import ReliableQueue
from jobs.rq_adapter.enqueue import enqueue_payload
from jobs.rq_adapter.job_format import SafeRQJob
from tests.sample_jobs import Add, ChargeCard


def queues(connection: redis.Redis, *names: str) -> list[ReliableQueue]:
    return [
        ReliableQueue(n, connection=connection, serializer=JSONSerializer, job_class=SafeRQJob) for n in names
    ]


def test_a_job_taken_from_several_queues_waits_in_its_queues_intermediate_list_until_it_starts(
    connection: redis.Redis,
) -> None:
    # Given a job on the second of two queues (billing), none on the first
    job_id = enqueue_payload(
        ChargeCard, payload.build(ChargeCard, {"customer_id": 1, "card": "ok"}, "req"), connection
    )

    # When a worker of both queues takes it
    taken = ReliableQueue.dequeue_any(
        queues(connection, "default", "billing"), timeout=5, connection=connection, job_class=SafeRQJob
    )

    # Then it is that job, and until the job starts its id is in billing's intermediate list (where the
    # reaper finds a job whose worker died before starting it), not in no list at all (RQ's BLPOP)
    assert taken is not None and taken[0].id == job_id and taken[1].name == "billing"
    assert connection.lrange("rq:queue:billing", 0, -1) == []
    assert connection.lrange("rq:queue:billing:intermediate", 0, -1) == [job_id.encode()]


def test_the_first_queue_with_a_job_is_served_first(connection: redis.Redis) -> None:
    # Given a job on each of two queues
    billing = enqueue_payload(
        ChargeCard, payload.build(ChargeCard, {"customer_id": 1, "card": "ok"}, "req"), connection
    )
    default = enqueue_payload(Add, payload.build(Add, {"a": 1, "b": 2}, "req"), connection)

    # When a worker of billing, then default, takes two jobs
    order = queues(connection, "billing", "default")
    first = ReliableQueue.dequeue_any(order, timeout=None, connection=connection, job_class=SafeRQJob)
    second = ReliableQueue.dequeue_any(order, timeout=None, connection=connection, job_class=SafeRQJob)
    third = ReliableQueue.dequeue_any(order, timeout=None, connection=connection, job_class=SafeRQJob)

    # Then billing's comes first, and with nothing left and no timeout it returns None
    assert first is not None and second is not None
    assert (first[0].id, second[0].id, third) == (billing, default, None)
