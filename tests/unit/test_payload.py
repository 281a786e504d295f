"""Arguments are checked at enqueue: a bad one raises PayloadError and nothing is enqueued."""

from __future__ import annotations

import json
import zlib
from datetime import datetime

import pytest
import redis

from jobs import Job, PayloadError
from jobs.model.requests import request_context
from jobs.rq_adapter.envelope import ENTRY_POINT
from tests.sample_jobs import Add, SaveReport


def queued(connection: redis.Redis, queue: str = "default") -> int:
    return int(connection.llen(f"rq:queue:{queue}"))


def test_the_stored_payload_is_json_naming_the_entry_point_and_the_job(fake: redis.Redis) -> None:
    handle = Add.enqueue(connection=fake, a=1, b=2)

    stored = json.loads(zlib.decompress(fake.hget(f"rq:job:{handle.id}", "data")))  # type: ignore[arg-type]
    func_name, instance, args, payload = stored
    assert (func_name, instance, args) == (ENTRY_POINT, None, [])
    assert payload["job"] == "tests.Add"
    assert payload["kwargs"] == {"a": 1, "b": 2}
    assert set(payload["meta"]) == {"v", "request_id", "idempotency_key", "enqueued_at"}
    assert payload["meta"]["idempotency_key"] == Add.idempotency_key_for(a=1, b=2)
    assert fake.hget(f"rq:job:{handle.id}", "description") == b"tests.Add"


def test_a_value_that_is_not_json_is_refused_naming_job_and_argument(fake: redis.Redis) -> None:
    with pytest.raises(PayloadError) as caught:
        Add.enqueue(connection=fake, a=1, b=datetime(2026, 1, 1))
    assert caught.value.job == "tests.Add"
    assert caught.value.argument == "b"
    assert str(caught.value).startswith(
        "cannot enqueue tests.Add: argument 'b' of tests.Add is not JSON-serialisable"
    )
    assert queued(fake) == 0


def test_a_keyword_perform_does_not_accept_is_refused(fake: redis.Redis) -> None:
    with pytest.raises(
        PayloadError, match=r"argument 'c' of tests.Add is not accepted by perform\(\) \(it takes: a, b\)"
    ):
        Add.enqueue(connection=fake, a=1, b=2, c=3)
    assert queued(fake) == 0


def test_a_missing_required_keyword_is_refused(fake: redis.Redis) -> None:
    with pytest.raises(PayloadError, match=r"argument 'b' of tests.Add is required by perform\(\)"):
        Add.enqueue(connection=fake, a=1)
    assert queued(fake) == 0


@pytest.mark.parametrize("value", [(1, 2), {1: "a"}, float("nan")])
def test_values_json_would_change_or_reject_are_refused(fake: redis.Redis, value: object) -> None:
    with pytest.raises(PayloadError, match="argument 'b'"):
        Add.enqueue(connection=fake, a=1, b=value)
    assert queued(fake) == 0


def test_a_payload_over_the_size_limit_is_refused(fake: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STALWART_MAX_PAYLOAD_BYTES", "1000")
    with pytest.raises(PayloadError, match="over the 1000-byte limit"):
        SaveReport.enqueue(connection=fake, month="x" * 2000)
    assert queued(fake) == 0


def test_an_abstract_job_cannot_be_enqueued(fake: redis.Redis) -> None:
    class Base(Job):
        abstract = True

    with pytest.raises(TypeError, match="is abstract"):
        Base.enqueue(connection=fake)


def test_the_request_context_stamps_the_payload(fake: redis.Redis) -> None:
    with request_context("req-123"):
        inside = Add.enqueue(connection=fake, a=1, b=2)
    outside = Add.enqueue(connection=fake, a=1, b=2)

    def request_id(job_id: str) -> str:
        raw = zlib.decompress(fake.hget(f"rq:job:{job_id}", "data"))  # type: ignore[arg-type]
        return str(json.loads(raw)[3]["meta"]["request_id"])

    assert request_id(inside.id) == "req-123"
    assert request_id(outside.id) not in ("req-123", "")


def test_jobs_go_to_their_declared_queue(fake: redis.Redis) -> None:
    from tests.sample_jobs import ChargeCard

    ChargeCard.enqueue(connection=fake, customer_id=1, card="ok")
    assert (queued(fake, "billing"), queued(fake, "default")) == (1, 0)
