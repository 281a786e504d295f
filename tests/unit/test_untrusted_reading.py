"""What a worker reads from Redis is not trusted (issue 11): job hashes, payloads within limits, bounded text.

Job hashes are restored from plain dicts (what HGETALL returns), with no worker: these are the rules the
worker applies, tested at their boundaries. tests/hardening/test_untrusted_data.py runs them in real workers.
"""

from __future__ import annotations

import json
import logging
import zlib
from typing import Any

import pytest
import redis
from rq.serializers import JSONSerializer

from jobs import ConfigurationError, Job, PayloadError, settings
from jobs.model import payload
from jobs.model.execution import record_failure
from jobs.model.limits import Limits, nesting_depth
from jobs.model.outcome import Outcome, Status
from jobs.model.payload import PoisonPayload
from jobs.model.truncation import MESSAGE_CHARS, TRACEBACK_CHARS, shorten
from jobs.rq_adapter import job_hash
from jobs.rq_adapter.envelope import check_size, serialized
from jobs.rq_adapter.job_format import SafeRQJob
from jobs.telemetry.alerts import ALERT_CHARS, Alert, UnreadableAlert
from jobs.telemetry.logs import JsonFormatter
from resilience import Scrubber
from tests.sample_jobs import Add, SaveReport

MB = 1024 * 1024


class TakesAnything(Job):
    name = "tests.unit.TakesAnything"

    def perform(self, **kwargs: Any) -> None:
        return None


class TakesTree(Job):
    name = "tests.unit.TakesTree"

    def perform(self, tree: Any) -> None:
        return None


def nested(depth: int) -> Any:
    tree: Any = "leaf"
    for _ in range(depth):
        tree = [tree]
    return tree


def job_hash_of(body: dict[str, Any], **fields: bytes | str) -> dict[bytes, bytes]:
    """A job hash as RQ writes it for a stalwart payload, with ``fields`` added or replaced."""
    raw: dict[str, bytes | str] = {
        "data": zlib.compress(serialized(body)),
        "status": "queued",
        "origin": "default",
        "created_at": "2026-11-30T10:00:00.000000Z",
        **fields,
    }
    return {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in raw.items()}


def restored(fake: redis.Redis, raw: dict[bytes, bytes]) -> SafeRQJob:
    job = SafeRQJob("job-1", connection=fake, serializer=JSONSerializer)
    job.restore(raw)
    return job


def body(job: type[Job] = Add, **kwargs: Any) -> dict[str, Any]:
    return {"job": job.name, "kwargs": kwargs or {"a": 1, "b": 2}, "meta": {}}


# -- the job hash --------------------------------------------------------------------------------------


def test_none_of_rqs_fields_that_steer_a_worker_are_read(fake: redis.Redis) -> None:
    job = restored(
        fake,
        job_hash_of(
            body(),
            webhooks=json.dumps([{"url": "http://evil.example", "job_status": "failed", "method": "POST"}]),
            retries_left="3",
            retry_intervals="[0]",
            success_callback_name="os.system",
            failure_callback_name="os.system",
            dependency_ids='["another-job"]',
            meta=json.dumps({"x": 1}),
            group_id="g",
            repeats_left="5",
        ),
    )
    assert (job.webhooks, job.retries_left, job.retry_intervals, job.should_retry) == ([], None, None, False)
    assert (job._success_callback_name, job._failure_callback_name) == (None, None)
    assert (job._dependency_ids, job.meta, job.group_id, job.repeats_left) == ([], {}, None, None)
    assert job.corrupt is None
    assert job.decoded().kwargs == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        *((name, b"\xff\xfe garbage") for name in job_hash.FIELDS),
        ("origin", "q" * 201),
        ("stalwart_history", '[{"number": 1, "nested": {"deep": [1]}}]'),
        ("stalwart_attempt", "-1"),
        ("stalwart_snoozed_since", "nan"),
        ("dependency_ids", "[not json"),
    ],
)
def test_a_malformed_field_makes_the_hash_corrupt_and_restoring_it_never_raises(
    fake: redis.Redis, field: str, value: bytes | str
) -> None:
    job = restored(fake, job_hash_of(body(), **{field: value}))

    assert job.corrupt is not None and job.corrupt.startswith(f"its {field!r} field is not ")
    with pytest.raises(PoisonPayload, match=rf"^its job hash is corrupt: its {field!r} field"):
        job.decoded()


def test_a_hash_with_no_payload_is_corrupt(fake: redis.Redis) -> None:
    job = restored(fake, {b"status": b"queued", b"origin": b"default"})
    assert job.corrupt == "it has no 'data' field (no payload)"


def test_a_key_that_holds_no_hash_is_a_corrupt_job_not_an_error(fake: redis.Redis) -> None:
    fake.set("rq:job:not-a-hash", "a string")
    job = SafeRQJob.fetch("not-a-hash", connection=fake, serializer=JSONSerializer)
    assert isinstance(job, SafeRQJob) and job.key_is_not_a_hash
    assert job.corrupt is not None and job.corrupt.startswith("its key holds no hash (WRONGTYPE")


def test_compressed_fields_are_inflated_no_further_than_their_limit(fake: redis.Redis) -> None:
    bomb = zlib.compress(b"\0" * (64 * MB), 9)
    assert job_hash.inflate(bomb, 1000) == (b"\0" * 1000, True)
    read = job_hash.read({b"data": zlib.compress(b"[]"), b"exc_info": bomb}, Limits())
    assert read.exc_info is not None and len(read.exc_info) == 64 * 1024


def test_a_payload_over_the_limit_is_never_decoded_but_its_record_names_the_job_it_claims(
    fake: redis.Redis,
) -> None:
    with settings.override(limits=Limits(max_payload_bytes=1000)):
        job = restored(fake, job_hash_of(body(a="x" * 5000, b=1)))
        assert job.oversize and len(job.data) == 1000
        with pytest.raises(PoisonPayload, match="over the 1000-byte limit"):
            job.decoded()
        assert job.claimed() == ("tests.Add", {}, None)
        assert job.raw_payload().endswith("… [truncated: over 1,000 bytes in all]")


# -- the same limits on both sides -----------------------------------------------------------------------


def test_the_worker_refuses_exactly_the_nesting_enqueue_refuses(fake: redis.Redis) -> None:
    with settings.override(limits=Limits(max_depth=5)):
        limits = settings.current().limits
        accepted = payload.build(TakesTree, {"tree": nested(5)}, "req", limits=limits)
        assert restored(fake, job_hash_of(accepted)).decoded().kwargs == {"tree": nested(5)}

        with pytest.raises(PayloadError, match=r"argument 'tree' .* more than 5 levels deep"):
            payload.build(TakesTree, {"tree": nested(6)}, "req", limits=limits)
        forged = restored(fake, job_hash_of(body(TakesTree, tree=nested(6))))
        with pytest.raises(PoisonPayload, match="more than 5 levels deep"):
            forged.decoded()


def test_nesting_is_measured_without_recursion_however_deep() -> None:
    assert nesting_depth(nested(100_000), 32) == 33
    assert nesting_depth({"a": [1, {"b": []}]}, 32) == 4
    assert nesting_depth("leaf", 32) == 0


def test_the_worker_refuses_exactly_the_size_enqueue_refuses(fake: redis.Redis) -> None:
    # Given a payload whose RQ data is exactly the limit
    fits = body(SaveReport, month="x" * 100)
    limit = len(serialized(fits))
    with settings.override(limits=Limits(max_payload_bytes=limit)):
        check_size(SaveReport, fits, settings.current().limits)
        assert restored(fake, job_hash_of(fits)).decoded().kwargs == fits["kwargs"]

        one_more = body(SaveReport, month="x" * 101)
        with pytest.raises(PayloadError, match=f"over the {limit}-byte limit"):
            check_size(SaveReport, one_more, settings.current().limits)
        with pytest.raises(PoisonPayload, match=f"over the {limit}-byte limit"):
            restored(fake, job_hash_of(one_more)).decoded()


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_the_worker_refuses_numbers_json_does_not_have(fake: redis.Redis, value: str) -> None:
    raw = b'["stalwart.run", null, [], {"job": "tests.Add", "kwargs": {"a": %s, "b": 1}, "meta": {}}]'
    job = restored(fake, {b"data": zlib.compress(raw % value.encode()), b"origin": b"default"})
    with pytest.raises(PoisonPayload, match=f"{value} is not a JSON number"):
        job.decoded()


@pytest.mark.parametrize("name", ["self", "cls"])
def test_reserved_argument_names_are_refused_on_both_sides(fake: redis.Redis, name: str) -> None:
    with pytest.raises(PayloadError, match=rf"argument '{name}' .* is a reserved name"):
        TakesAnything.enqueue(connection=fake, **{name: 1})
    forged = restored(fake, job_hash_of(body(TakesAnything, **{name: 1})))
    with pytest.raises(PoisonPayload, match=rf"argument '{name}' .* is a reserved name"):
        forged.decoded()


def test_a_depth_limit_deeper_than_python_can_walk_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STALWART_MAX_PAYLOAD_DEPTH", "500")
    with pytest.raises(ConfigurationError, match="STALWART_MAX_PAYLOAD_DEPTH='500' is above 200"):
        settings.current()


# -- text for people ----------------------------------------------------------------------------------


def test_shorten_keeps_a_prefix_and_says_it_was_truncated_and_from_what() -> None:
    assert shorten("short", 10) == "short"
    cut = shorten("x" * 20_000, 100)
    assert len(cut) == 100 and cut.startswith("x" * 50)
    assert cut.endswith("x… [truncated: 20,000 characters in all]")
    assert shorten(cut, 100) == cut


def test_a_failure_paragraph_is_bounded_whatever_the_error_and_describe_say() -> None:
    outcome = Outcome(Status.DEAD_LETTERED, "tests.Huge", "job-1", 1, 1, 0.0)
    try:
        raise RuntimeError("the gateway answered: " + "x" * (2 * MB)) from ValueError("y" * MB)
    except RuntimeError as error:
        record_failure(
            outcome, error, "2026-11-30T10:00:00+00:00", "z" * MB, "Replay it.", scrubber=Scrubber()
        )

    assert outcome.message is not None and len(outcome.message) < MESSAGE_CHARS
    assert outcome.message.startswith("tests.Huge (job job-1, attempt 1/1) failed while zzz")
    assert outcome.message.endswith("Remediation: Replay it.")
    assert outcome.message.count("truncated") == 3
    assert outcome.error_message is not None and len(outcome.error_message) < MESSAGE_CHARS + 60
    (record,) = outcome.history
    assert len(record["traceback"]) < TRACEBACK_CHARS + 60 and "truncated" in record["traceback"]


def test_a_log_line_is_bounded_whatever_it_carries() -> None:
    record = logging.LogRecord(
        "stalwart.worker", logging.ERROR, __file__, 1, "job ended: %s", ("x" * MB,), None
    )
    record.details = {"answer": "y" * MB}
    line = JsonFormatter().format(record)
    assert len(line) < 3 * MESSAGE_CHARS
    assert json.loads(line)["msg"].endswith("… [truncated: 1,048,587 characters in all]")


# -- alerts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "alert",
    [
        Alert("title", "the gateway answered: " + "x" * (4 * MB)),
        Alert("t" * MB, "m", tags={"job": "j" * MB, "k" * 100: "v"}, fingerprint=["f" * MB] * 50),
        Alert("title", "message", context={"kwargs": {"text": "y" * (2 * MB)}, "entry_id": "e-1"}),
        Alert("title", "message", context={f"key{i}": "z" * 100 for i in range(10_000)}),
        Alert("title", "message", context={"attempts": [{"traceback": "t" * 2000}] * 5_000}),
    ],
    ids=["message", "title-tags-fingerprint", "one-huge-value", "many-keys", "many-attempts"],
)
def test_an_alert_is_never_larger_than_its_bound_whatever_it_holds(alert: Alert) -> None:
    encoded = alert.to_json()
    assert len(encoded) <= ALERT_CHARS
    assert "truncated" in encoded
    assert Alert.from_json(encoded) == alert


def test_an_alert_keeps_what_fits_and_cuts_only_what_does_not() -> None:
    alert = Alert("title", "message", context={"kwargs": {"text": "y" * (2 * MB)}, "entry_id": "e-1"})
    assert alert.context["entry_id"] == "e-1"
    assert alert.context["kwargs"].startswith('{"text": "yyy')
    assert alert.context["kwargs"].endswith("characters in all]")


def test_an_alert_from_a_newer_version_keeps_the_fields_this_one_knows() -> None:
    raw = json.dumps(
        {"title": "t", "message": "m", "tags": {"job": "j"}, "context": {"a": 1}, "runbook_url": "https://x"}
    )
    assert Alert.from_json(raw) == Alert("t", "m", tags={"job": "j"}, context={"a": 1})


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00garbage{",
        b'["not", "an", "alert"]',
        b'{"message": "no title"}',
        b'{"title": "t", "message": 42}',
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps({"title": "t", "message": "m", "context": {"deep": nested(300)}}).encode(),
    ],
    ids=["garbage", "a-list", "no-title", "message-not-text", "nested-past-the-decoder", "context-too-deep"],
)
def test_an_outbox_item_that_is_not_an_alert_is_unreadable_never_another_error(raw: bytes) -> None:
    with pytest.raises(UnreadableAlert):
        Alert.from_json(raw)
