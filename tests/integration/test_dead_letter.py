"""The dead-letter queue on a real Redis: filters, replay, discard, audit, hooks and persistence."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job_lifecycle import record_job_failure
from rq.serializers import JSONSerializer

from jobs import (
    Classification,
    DeadLetterEntry,
    DeadLetterError,
    DeadLetterQueue,
    EmbeddedRedis,
    JobHandle,
    NoSuchEntryError,
    Status,
    Worker,
    request_context,
)
from jobs.dead_letter.archive import archive
from jobs.runtime.sweep import sweep
from tests.sample_jobs import Add, HookRaises, Recorder, SaveReport


def drain(connection: redis.Redis) -> None:
    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)


def entry(
    n: int,
    *,
    job: str = "app.Charge",
    error_type: str = "GatewayDown",
    classification: Classification = Classification.EXHAUSTED,
    days_ago: float = 0,
) -> DeadLetterEntry:
    at = (datetime.now(timezone.utc) - timedelta(days=days_ago, seconds=n)).isoformat()
    return DeadLetterEntry(
        id=f"e{n}",
        job=job,
        queue="default",
        kwargs={"n": n},
        classification=classification,
        error_type=error_type,
        error_message="down",
        message="m",
        attempts=3,
        request_id=None,
        first_failed_at=at,
        last_failed_at=at,
    )


def recorder_dead(connection: redis.Redis, order_id: int = 1) -> str:
    """A Recorder job that has been dead-lettered once; returns its entry id."""
    with request_context("req-original"):
        handle = Recorder.enqueue(connection=connection, order_id=order_id)
    drain(connection)
    assert handle.status() is Status.DEAD_LETTERED
    return handle.id


def runs(connection: redis.Redis) -> list[dict[str, object]]:
    return [json.loads(r) for r in connection.lrange("recorder:runs", 0, -1)]


def test_filters_combine_and_use_the_indexes(connection: redis.Redis) -> None:
    dlq = DeadLetterQueue(connection)
    dlq.put(entry(1))
    dlq.put(entry(2, error_type="Timeout", classification=Classification.AMBIGUOUS))
    dlq.put(entry(3, job="app.Mail", error_type="GatewayDown"))
    dlq.put(entry(4, days_ago=3))

    def ids(**filters: object) -> list[str]:
        return [e.id for e in dlq.list(**filters)]  # type: ignore[arg-type]

    assert ids() == ["e1", "e2", "e3", "e4"]  # newest failure first
    assert ids(job="app.Charge") == ["e1", "e2", "e4"]
    assert ids(job="app.Charge", error_type="GatewayDown") == ["e1", "e4"]
    assert ids(classification="ambiguous") == ["e2"]
    assert ids(since=datetime.now(timezone.utc) - timedelta(days=1)) == ["e1", "e2", "e3"]
    assert ids(until=datetime.now(timezone.utc) - timedelta(days=1)) == ["e4"]
    assert ids(job="app.Charge", limit=2) == ["e1", "e2"]
    assert ids(status="discarded") == []
    assert (len(dlq), dlq.len("dead")) == (4, 4)
    assert connection.keys("stalwart:dlq:scratch:*") == []  # intersections clean up after themselves


def test_pages_counts_and_root_causes_come_from_the_indexes(connection: redis.Redis) -> None:
    dlq = DeadLetterQueue(connection)
    for n in range(1, 6):
        dlq.put(entry(n))
    dlq.put(entry(6, error_type="Timeout"))
    dlq.put(entry(7, job="app.Mail", days_ago=3))
    dlq.discard("e5", reason="test", by="t")

    assert dlq.ids(limit=2, offset=2) == ["e3", "e4"]
    assert dlq.ids(job="app.Charge", error_type="GatewayDown", limit=10, offset=3) == ["e4", "e5"]
    assert dlq.ids(offset=5) == ["e6", "e7"]
    assert dlq.count() == 7
    assert dlq.count(job="app.Charge", status="dead") == 5
    assert dlq.count(since=datetime.now(timezone.utc) - timedelta(days=1)) == 6
    assert [(c.job, c.error_type, c.count) for c in dlq.root_causes()] == [
        ("app.Charge", "GatewayDown", 4),
        ("app.Charge", "Timeout", 1),
        ("app.Mail", "GatewayDown", 1),
    ]
    assert dlq.root_causes(status=None)[0].count == 5
    assert dlq.root_causes(status="resolved") == []
    assert connection.keys("stalwart:dlq:scratch:*") == []
    # The pairs counted are those the entries were stored with, kept in a set: no keyspace scan
    assert sorted(connection.smembers("stalwart:dlq:causes")) == [
        b'["app.Charge", "GatewayDown"]',
        b'["app.Charge", "Timeout"]',
        b'["app.Mail", "GatewayDown"]',
    ]


def test_root_causes_of_a_queue_written_before_the_set_of_causes_are_found_by_scanning(
    connection: redis.Redis,
) -> None:
    dlq = DeadLetterQueue(connection)
    dlq.put(entry(1))
    dlq.put(entry(2, job="app.Mail", error_type="Timeout"))
    connection.delete("stalwart:dlq:causes")  # as an older stalwart left it

    assert [(c.job, c.error_type, c.count) for c in dlq.root_causes()] == [
        ("app.Charge", "GatewayDown", 1),
        ("app.Mail", "Timeout", 1),
    ]


def test_an_unknown_id_or_a_malformed_filter_is_a_clear_error(connection: redis.Redis) -> None:
    dlq = DeadLetterQueue(connection)
    with pytest.raises(
        NoSuchEntryError, match="no dead-letter entry has the id 'nope'; `stalwart dlq list` shows"
    ):
        dlq.get("nope")
    with pytest.raises(ValueError, match="'sleepy' is not a valid Classification"):
        dlq.list(classification="sleepy")


def test_a_replay_that_succeeds_resolves_the_entry_with_the_same_key_and_request_id(
    connection: redis.Redis,
) -> None:
    entry_id = recorder_dead(connection)
    dlq = DeadLetterQueue(connection)
    connection.set("recorder:fixed", "yes")

    new_id = dlq.replay(entry_id, by="ops@example")

    assert dlq.get(entry_id).status == "replayed"
    drain(connection)
    replayed = dlq.get(entry_id)
    assert replayed.status == "resolved"
    assert replayed.replays == [new_id]
    assert JobHandle(new_id, Recorder.name, connection).result() == "done-1"
    first, second = runs(connection)
    assert (
        (second["key"], second["request_id"])
        == (first["key"], first["request_id"])
        == (Recorder.idempotency_key_for(order_id=1), "req-original")
    )
    assert [(a["action"], a["result"]) for a in replayed.audit] == [
        ("dead-letter", "dead"),
        ("replay", f"enqueued as job {new_id}"),
        ("replay-succeeded", "resolved"),
    ]
    assert replayed.audit[1]["by"] == "ops@example"


def test_a_replay_that_dies_again_continues_the_same_entry(connection: redis.Redis) -> None:
    entry_id = recorder_dead(connection)
    dlq = DeadLetterQueue(connection)

    new_id = dlq.replay(entry_id)
    drain(connection)

    again = dlq.get(entry_id)
    assert again.status == "dead"
    assert (again.attempts, len(again.history)) == (2, 2)
    assert [a["action"] for a in again.audit] == ["dead-letter", "replay", "replay-died"]
    assert not dlq.exists(new_id)  # one entry for the job, not one per replay
    assert dlq.ids(status="dead") == [entry_id] and dlq.ids(status="replayed") == []
    assert connection.lrange("recorder:dead", 0, -1) == [entry_id.encode()] * 2  # the hook ran each time


def test_replay_with_edited_kwargs_checks_them_first(connection: redis.Redis) -> None:
    entry_id = recorder_dead(connection)
    dlq = DeadLetterQueue(connection)
    before = dlq.get(entry_id)

    with pytest.raises(
        DeadLetterError,
        match=r"cannot replay entry .*: cannot enqueue tests.Recorder: argument "
        r"'order' of tests.Recorder is not accepted by perform\(\)",
    ):
        dlq.replay(entry_id, kwargs={"order": 2})
    assert dlq.get(entry_id) == before  # nothing changed
    assert Queue("default", connection=connection).count == 0

    connection.set("recorder:fixed", "yes")
    dlq.replay(entry_id, kwargs={"order_id": 1, "note": "customer confirmed"})
    drain(connection)
    assert runs(connection)[-1]["note"] == "customer confirmed"
    assert dlq.get(entry_id).audit[1]["kwargs_edited"] is True


def test_a_discarded_entry_stays_visible_with_its_reason_and_cannot_be_replayed(
    connection: redis.Redis,
) -> None:
    entry_id = recorder_dead(connection)
    dlq = DeadLetterQueue(connection)

    with pytest.raises(DeadLetterError, match="a discard needs a reason"):
        dlq.discard(entry_id, reason="  ")
    dlq.discard(entry_id, reason="order cancelled by the customer", by="ops")

    discarded = dlq.get(entry_id)
    assert discarded.status == "discarded"
    assert discarded.audit[-1] | {"at": None} == {
        "at": None,
        "by": "ops",
        "action": "discard",
        "result": "discarded",
        "reason": "order cancelled by the customer",
    }
    with pytest.raises(
        DeadLetterError,
        match=r"was discarded \(order cancelled by the customer\); a discarded "
        "entry is not replayed",
    ):
        dlq.replay(entry_id)
    assert dlq.get(entry_id) == discarded
    assert Queue("default", connection=connection).count == 0


def test_an_entry_cannot_be_replayed_twice_while_its_replay_is_pending(connection: redis.Redis) -> None:
    entry_id = recorder_dead(connection)
    dlq = DeadLetterQueue(connection)
    new_id = dlq.replay(entry_id)
    with pytest.raises(DeadLetterError, match=f"already replayed as job {new_id}, which has not ended yet"):
        dlq.replay(entry_id)
    assert Queue("default", connection=connection).count == 1


def test_replay_all_dry_run_changes_nothing_and_the_real_run_replays_only_matches(
    connection: redis.Redis,
) -> None:
    dlq = DeadLetterQueue(connection)
    ids = [recorder_dead(connection, order_id=n) for n in (1, 2, 3)]
    other = SaveReport.enqueue(connection=connection, month="2026-01")  # fails: disk full
    drain(connection)
    connection.set("recorder:fixed", "yes")

    would = dlq.replay_all(job="tests.Recorder", dry_run=True)
    assert sorted(e.id for e in would) == sorted(ids)
    assert dlq.len("dead") == 4

    replayed = dlq.replay_all(job="tests.Recorder", rate=1000)
    assert sorted(e.id for e in replayed) == sorted(ids)
    drain(connection)
    assert [dlq.get(i).status for i in ids] == ["resolved"] * 3
    assert dlq.get(other.id).status == "dead"


def test_replay_all_keeps_to_its_rate(connection: redis.Redis) -> None:
    from jobs.dead_letter.replay import replay_all

    dlq = DeadLetterQueue(connection)
    for n in range(6):
        recorder_dead(connection, order_id=n)
    clock = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        clock[0] += s

    done = replay_all(dlq, rate=2, sleep=sleep, clock=lambda: clock[0])

    assert len(done) == 6
    assert slept == [1.0, 1.0, 1.0]  # batches of 2 entries, each held to one second


def test_a_raising_on_dead_letter_hook_is_logged_and_the_entry_is_stored(
    connection: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    handle = HookRaises.enqueue(connection=connection)
    drain(connection)

    assert DeadLetterQueue(connection).get(handle.id).error_type == "ValueError"
    (record,) = [r for r in caplog.records if "on_dead_letter" in r.getMessage()]
    assert record.getMessage() == (
        f"on_dead_letter of tests.HookRaises raised for entry {handle.id}; the entry is stored regardless"
    )
    assert record.exc_info is not None and "the hook itself is broken" in str(record.exc_info[1])


def test_crossing_the_size_threshold_alerts_once(
    connection: redis.Redis, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STALWART_DLQ_ALERT_SIZE", "2")
    for n in range(4):
        recorder_dead(connection, order_id=n)
    alerts = [r for r in caplog.records if r.__dict__.get("outcome") == "dlq_over_threshold"]
    assert [(r.levelno, r.getMessage()) for r in alerts] == [
        (
            logging.ERROR,
            "the dead-letter queue holds 3 dead entries, over its threshold of 2: something is failing repeatedly; "
            "see `stalwart dlq list --status dead`",
        )
    ]


def test_jobs_left_in_rqs_failed_registry_are_swept_in(connection: redis.Redis) -> None:
    # Given a job RQ failed by itself (its maintenance does this to jobs whose worker vanished)
    handle = Add.enqueue(connection=connection, a=1, b=2)
    queue = Queue("default", connection=connection, serializer=JSONSerializer)
    job = queue.fetch_job(handle.id)
    assert job is not None
    queue.remove(job)
    with connection.pipeline() as pipeline:  # exactly what RQ's StartedJobRegistry.cleanup does
        record_job_failure(job, "Moved to FailedJobRegistry, due to AbandonedJobError, at now", pipeline)
        pipeline.execute()
    assert queue.failed_job_registry.get_job_ids() == [handle.id]

    assert sweep(connection, ["default"]) == [handle.id]

    entry = DeadLetterQueue(connection).get(handle.id)
    assert (entry.classification, entry.job, entry.kwargs) == (
        Classification.ABANDONED,
        "tests.Add",
        {"a": 1, "b": 2},
    )
    assert queue.failed_job_registry.count == 0
    assert sweep(connection, ["default"]) == []


def test_a_swept_job_runs_its_on_dead_letter_hook_once(connection: redis.Redis) -> None:
    handle = Recorder.enqueue(connection=connection, order_id=8)
    queue = Queue("default", connection=connection, serializer=JSONSerializer)
    job = queue.fetch_job(handle.id)
    assert job is not None
    queue.remove(job)
    with connection.pipeline() as pipeline:
        record_job_failure(job, "Moved to FailedJobRegistry, due to AbandonedJobError, at now", pipeline)
        pipeline.execute()

    assert sweep(connection, ["default"]) == [handle.id]
    assert sweep(connection, ["default"]) == []

    assert connection.lrange("recorder:dead", 0, -1) == [handle.id.encode()]


def test_retention_archives_old_entries_to_jsonl_before_deleting_them(
    connection: redis.Redis, tmp_path: Path
) -> None:
    dlq = DeadLetterQueue(connection)
    dlq.put(entry(1))
    dlq.put(entry(2, days_ago=40))
    dlq.put(entry(3, days_ago=50))

    assert archive(dlq, timedelta(days=30), tmp_path / "dlq.jsonl") == 2

    assert [e.id for e in dlq.list()] == ["e1"]
    lines = [json.loads(line) for line in (tmp_path / "dlq.jsonl").read_text().splitlines()]
    assert [(line["id"], line["kwargs"], line["audit"][0]["action"]) for line in lines] == [
        ("e3", {"n": 3}, "dead-letter"),
        ("e2", {"n": 2}, "dead-letter"),
    ]  # oldest first
    assert connection.keys("stalwart:dlq:*e2") == []


def test_a_redis_restart_with_aof_loses_no_entry(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    try:
        connection = redis.Redis.from_url(server.start())
        DeadLetterQueue(connection).put(entry(1))
        DeadLetterQueue(connection).set_status(entry(1), "discarded", {"action": "discard", "reason": "test"})
        connection.close()
        server.stop()

        restored = DeadLetterQueue(redis.Redis.from_url(server.start())).get("e1")
        assert (restored.status, restored.kwargs, [a["action"] for a in restored.audit]) == (
            "discarded",
            {"n": 1},
            ["dead-letter", "discard"],
        )
    finally:
        server.stop()
