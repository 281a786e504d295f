"""What a job ends as, run by a real worker on a real Redis."""

from __future__ import annotations

import json
import logging
import zlib
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.serializers import JSONSerializer

from jobs import Classification, DeadLetterQueue, Negative, ResultUnavailable, Status, Worker
from tests.sample_jobs import Add, ChargeCard, ReturnsSet, SaveReport, TouchFile


def drain(connection: redis.Redis, *queues: str, mode: str = "inprocess") -> None:
    Worker(list(queues) or ["default"], connection=connection, mode=mode).work(burst=True)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["inprocess", "fork"])
def test_a_returned_value_is_a_success_and_is_kept(connection: redis.Redis, mode: str) -> None:
    handle = Add.enqueue(connection=connection, a=2, b=3)
    assert handle.status() is Status.QUEUED

    drain(connection, mode=mode)

    assert handle.status() is Status.SUCCEEDED
    assert handle.result() == 5
    assert len(DeadLetterQueue(connection)) == 0


@pytest.mark.parametrize("mode", ["inprocess", "fork"])
def test_a_negative_is_a_success_logged_at_info_and_never_dead_lettered(
    connection: redis.Redis, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    handle = ChargeCard.enqueue(connection=connection, customer_id=42, card="declined", api_token="s3cret")

    drain(connection, "billing", mode=mode)

    assert handle.status() is Status.NEGATIVE
    assert handle.result() == Negative("card_declined", customer_id=42, code="05", api_token="s3cret")
    assert len(DeadLetterQueue(connection)) == 0
    if mode == "inprocess":  # a work-horse's records do not reach pytest's capture
        (end,) = [r for r in caplog.records if r.getMessage().startswith("job ended")]
        assert (end.levelno, end.getMessage()) == (logging.INFO, "job ended: negative (card_declined)")
        assert end.__dict__["details"] == {"customer_id": 42, "code": "05", "api_token": "[redacted]"}


@pytest.mark.parametrize("mode", ["inprocess", "fork"])
def test_a_raised_error_dead_letters_the_job_with_its_context(connection: redis.Redis, mode: str) -> None:
    handle = SaveReport.enqueue(connection=connection, month="2026-10")

    drain(connection, mode=mode)

    assert handle.status() is Status.DEAD_LETTERED
    (entry,) = DeadLetterQueue(connection).list()
    assert (entry.id, entry.job, entry.queue, entry.kwargs) == (
        handle.id,
        "tests.SaveReport",
        "default",
        {"month": "2026-10"},
    )
    assert (entry.classification, entry.error_type, entry.error_message, entry.attempts) == (
        Classification.NON_RETRYABLE,
        "RuntimeError",
        "could not write report 2026-10",
        1,
    )
    assert entry.message == (
        f"tests.SaveReport (job {handle.id}, attempt 1/1) failed while saving the 2026-10 report: "
        "RuntimeError: could not write report 2026-10 (caused by OSError: disk full). "
        "Not retried: RuntimeError is not declared transient (retry_on) for this job. "
        "Remediation: Free some disk, then replay the job."
    )
    assert entry.status == "dead"
    (attempt,) = entry.history
    assert attempt["number"] == 1 and attempt["outcome"] == "non_retryable"
    assert "OSError: disk full" in attempt["traceback"]
    with pytest.raises(ResultUnavailable, match="is dead_lettered, it has no result"):
        handle.result()
    # Ours, not RQ's: RQ's failed registry stays empty, so nothing is listed twice.
    assert Queue("default", connection=connection).failed_job_registry.count == 0


def test_a_result_that_is_not_json_is_a_failure_that_says_so(connection: redis.Redis) -> None:
    handle = ReturnsSet.enqueue(connection=connection)

    drain(connection)

    assert handle.status() is Status.DEAD_LETTERED
    entry = DeadLetterQueue(connection).get(handle.id)
    assert entry.error_type == "ResultNotJSON"
    assert entry.error_message.startswith("perform() returned a result that is not JSON")


def _forge(
    connection: redis.Redis, func: str, args: list[object], kwargs: dict[str, object] | None = None
) -> str:
    job = Queue("default", connection=connection, serializer=JSONSerializer).enqueue_call(
        func=func, args=args, kwargs=kwargs or {}
    )
    return str(job.id)


@pytest.mark.parametrize("mode", ["inprocess", "fork"])
def test_a_forged_payload_naming_os_system_never_runs_and_is_poison(
    connection: redis.Redis, tmp_path: Path, mode: str
) -> None:
    marker = tmp_path / "pwned"
    forged = _forge(connection, "os.system", [f"touch {marker}"])
    after = TouchFile.enqueue(connection=connection, path=str(tmp_path / "after"))

    drain(connection, mode=mode)

    assert not marker.exists()
    entry = DeadLetterQueue(connection).get(forged)
    assert entry.classification is Classification.POISON
    assert "names the function 'os.system', not a stalwart job; it was not imported or run" in entry.message
    assert after.status() is Status.SUCCEEDED  # the worker carried on


def test_a_payload_naming_an_unregistered_job_is_poison(connection: redis.Redis) -> None:
    forged = _forge(connection, "stalwart.run", [], {"job": "os.system", "kwargs": {"command": "id"}})

    drain(connection)

    entry = DeadLetterQueue(connection).get(forged)
    assert (entry.classification, entry.job, entry.kwargs) == (
        Classification.POISON,
        "os.system",
        {"command": "id"},
    )
    assert "no job is registered under 'os.system'" in entry.error_message


def test_a_payload_with_arguments_perform_rejects_is_poison(connection: redis.Redis) -> None:
    forged = _forge(connection, "stalwart.run", [], {"job": "tests.Add", "kwargs": {"a": 1, "z": 2}})

    drain(connection)

    entry = DeadLetterQueue(connection).get(forged)
    assert entry.classification is Classification.POISON
    assert "argument 'z' of tests.Add is not accepted by perform()" in entry.error_message


def test_corrupted_payload_bytes_are_poison_and_the_worker_carries_on(
    connection: redis.Redis, tmp_path: Path
) -> None:
    broken = Add.enqueue(connection=connection, a=1, b=1)
    connection.hset(f"rq:job:{broken.id}", "data", zlib.compress(b"\x00not json{"))
    after = Add.enqueue(connection=connection, a=1, b=1)

    drain(connection)

    entry = DeadLetterQueue(connection).get(broken.id)
    assert entry.classification is Classification.POISON
    assert entry.error_message.startswith("the payload cannot be decoded (")
    assert entry.raw_payload is not None and "not json{" in entry.raw_payload
    assert after.result() == 2


def test_a_job_hash_cannot_smuggle_in_a_callback(connection: redis.Redis, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    handle = TouchFile.enqueue(connection=connection, path=str(tmp_path / "ran"))
    # A writer to Redis names os.system as the job's success callback.
    connection.hset(f"rq:job:{handle.id}", "success_callback_name", "os.system")

    drain(connection)

    assert handle.status() is Status.SUCCEEDED
    assert not marker.exists()


def test_dead_letter_entries_keep_the_kwargs_whole_for_replay(connection: redis.Redis) -> None:
    handle = SaveReport.enqueue(connection=connection, month="2026-11")
    drain(connection)

    raw = connection.hget(f"stalwart:dlq:entry:{handle.id}", "head")
    assert raw is not None and json.loads(raw)["kwargs"] == {"month": "2026-11"}
    # No TTL on the entry or its audit trail: nothing leaves silently.
    assert connection.ttl(f"stalwart:dlq:entry:{handle.id}") == -1
    assert connection.ttl(f"stalwart:dlq:audit:{handle.id}") == -1


def test_a_payload_over_the_size_limit_is_poison_and_never_decoded(
    connection: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STALWART_MAX_PAYLOAD_BYTES", "2000")
    # Written by something that skipped enqueue's own check
    forged = _forge(
        connection, "stalwart.run", [], {"job": "tests.Add", "kwargs": {"a": "x" * 5000, "b": "y"}}
    )
    after = Add.enqueue(connection=connection, a=1, b=2)

    drain(connection)

    entry = DeadLetterQueue(connection).get(forged)
    assert (entry.classification, entry.job) == (Classification.POISON, "tests.Add")
    assert entry.error_message == (
        "the payload is over the 2000-byte limit (STALWART_MAX_PAYLOAD_BYTES); it was truncated there, "
        "unread: not decoded, its arguments unknown"
    )
    assert after.result() == 3
