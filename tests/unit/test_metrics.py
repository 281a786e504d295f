"""The exposition of a snapshot (pure), its escaping, the all-time counts ``stats.write`` adds, and the bind check."""

from __future__ import annotations

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from jobs import _keys, stats
from jobs.metrics import Snapshot, check_bind, escape_label, read, render


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``text`` as parsed by Prometheus's own client, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counts_per_job_become_counters_by_outcome_reason_and_classification() -> None:
    snapshot = Snapshot(
        totals={
            "billing.Charge": {
                "succeeded": 3,
                "negative": 1,
                "negative.card_declined": 1,
                "retried": 2,
                "dead_lettered": 1,
                "dead_lettered.exhausted": 1,
                "abandoned": 1,
                "runs": 5,
                "duration_ms": 1500,
            },
            "app": {"signups": 4, "revenue.eur": 12.5},
        },
        queues={"billing": {"queued": 7, "scheduled": 2, "started": 1}},
        dead_letter={"dead": 1, "replayed": 0, "resolved": 0, "discarded": 0},
        circuits={"gateway": "open", "mail": "closed", "sms": "half_open"},
    )

    found = samples(render(snapshot))

    job = ("job", "billing.Charge")
    assert found[("stalwart_jobs_total", (job, ("outcome", "succeeded")))] == 3
    assert found[("stalwart_jobs_total", (job, ("outcome", "retried")))] == 2
    assert found[("stalwart_jobs_total", (job, ("outcome", "dead_lettered")))] == 1
    assert found[("stalwart_job_negatives_total", (job, ("reason", "card_declined")))] == 1
    assert found[("stalwart_job_dead_letters_total", (("classification", "exhausted"), job))] == 1
    assert found[("stalwart_job_abandonments_total", (job,))] == 1
    assert found[("stalwart_app_events_total", (("name", "revenue.eur"),))] == 12.5
    assert found[("stalwart_queue_jobs", (("queue", "billing"), ("state", "scheduled")))] == 2
    assert found[("stalwart_dead_letter_entries", (("status", "dead"),))] == 1
    circuits = {k[1][0][1]: v for k, v in found.items() if k[0] == "stalwart_circuit_open"}
    assert circuits == {"gateway": 1, "mail": 0, "sms": 1}
    assert ("stalwart_jobs_total", (job, ("outcome", "snoozed"))) not in found  # never counted: no sample


def test_the_duration_histogram_is_cumulative_with_sum_from_the_totals_and_count_from_inf() -> None:
    snapshot = Snapshot(
        totals={"j": {"runs": 4, "duration_ms": 7250}},
        durations={"j": {"0.005": 1, "0.25": 2, stats.INF: 1}},
    )

    found = samples(render(snapshot))

    def bucket(le: str) -> float:
        return found[("stalwart_job_duration_seconds_bucket", (("job", "j"), ("le", le)))]

    assert [bucket("0.005"), bucket("0.1"), bucket("0.25"), bucket("3600.0"), bucket("+Inf")] == [
        1,
        1,
        3,
        3,
        4,
    ]
    assert found[("stalwart_job_duration_seconds_count", (("job", "j"),))] == 4
    assert found[("stalwart_job_duration_seconds_sum", (("job", "j"),))] == 7.25


def test_hostile_names_from_redis_are_escaped_and_read_back_exactly() -> None:
    hostile = 'evil"} 1\nstalwart_jobs_total{job="x\\'
    snapshot = Snapshot(totals={hostile: {"succeeded": 1, f"negative.{hostile}": 1}})

    text = render(snapshot)
    found = samples(text)

    assert found[("stalwart_jobs_total", (("job", hostile), ("outcome", "succeeded")))] == 1
    assert found[("stalwart_job_negatives_total", (("job", hostile), ("reason", hostile)))] == 1
    assert not any(line.startswith('stalwart_jobs_total{job="x') for line in text.splitlines())
    assert escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'


def test_an_empty_redis_renders_every_family_declared_and_no_sample() -> None:
    text = render(Snapshot())

    assert samples(text) == {}
    assert "# TYPE stalwart_job_duration_seconds histogram" in text.splitlines()
    assert "# TYPE stalwart_jobs_total counter" in text.splitlines()


def test_each_count_also_goes_to_the_all_time_totals_and_durations_to_their_bucket(fake: redis.Redis) -> None:
    with fake.pipeline(transaction=False) as pipeline:
        stats.write(
            pipeline, [("j", "succeeded", 1), ("j", "duration_ms", 30.5), ("app", "duration_ms", 9e6)]
        )
        stats.write(pipeline, [("j", "succeeded", 1), ("j", "duration_ms", 4_000_000)])
        pipeline.execute()

    assert fake.hgetall(_keys.stats_totals()) == {
        b"j|succeeded": b"2",
        b"j|duration_ms": b"4000030.5",
        b"app|duration_ms": b"9000000",
    }
    assert fake.hgetall(_keys.stats_durations()) == {b"j|0.05": b"1", b"j|+Inf": b"1"}  # not the app's
    assert fake.ttl(_keys.stats_totals()) == -1  # never expires


def test_a_snapshot_reads_dead_letter_statuses_and_circuits_from_redis(fake: redis.Redis) -> None:
    fake.zadd(_keys.dead_letter_status("dead"), {"a": 1, "b": 2})
    fake.hset(f"{_keys.circuits()}gateway", mapping={"state": "open", "failures": 5})
    fake.set(f"{_keys.circuits()}gateway:trial", 1)  # the trial's lock is not a circuit
    fake.hset(f"{_keys.circuits()}mail", mapping={"failures": 0})

    snapshot = read(fake)

    assert snapshot.dead_letter == {"dead": 2, "replayed": 0, "resolved": 0, "discarded": 0}
    assert snapshot.circuits == {"gateway": "open", "mail": "closed"}


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.9.9", "::1", "localhost"])
def test_a_loopback_bind_needs_no_permission(host: str) -> None:
    check_bind(host, allow_remote=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "metrics.example.com"])
def test_a_bind_other_machines_can_reach_is_refused_unless_allowed(host: str) -> None:
    with pytest.raises(ValueError, match="pass --allow-remote"):
        check_bind(host, allow_remote=False)
    check_bind(host, allow_remote=True)
