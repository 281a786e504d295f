"""``stalwart metrics`` as a real process over HTTP, after real jobs ran through a real worker."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from jobs import _keys, metrics, stats
from tests.mixed_batch import run_a_mixed_batch
from tests.workers import REPO, STALWART, stalwart

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parsed(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def exporter(subprocess_env: dict[str, str]) -> Iterator[str]:
    """``stalwart metrics --port 0`` running; the URL it printed once listening."""
    process = subprocess.Popen(
        [*STALWART, "metrics", "--port", "0"], env=subprocess_env, cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once the socket listens
        assert line.startswith("serving http://127.0.0.1:"), line
        yield line.split()[1]
    finally:
        process.terminate()
        process.wait(10)


def test_the_exporter_serves_exact_counts_gauges_and_durations_of_real_jobs(
    connection: redis.Redis, exporter: str
) -> None:
    run_a_mixed_batch(connection)

    with urllib.request.urlopen(exporter, timeout=10) as response:
        content_type = response.headers["Content-Type"]
        found = parsed(response.read().decode())

    assert content_type == metrics.CONTENT_TYPE
    jobs = {k: v for k, v in found.items() if k[0] == "stalwart_jobs_total"}
    assert jobs == {
        ("stalwart_jobs_total", (("job", "tests.Add"), ("outcome", "succeeded"))): 2,
        ("stalwart_jobs_total", (("job", "tests.ChargeCard"), ("outcome", "negative"))): 1,
        ("stalwart_jobs_total", (("job", "tests.ChargeFee"), ("outcome", "retried"))): 1,
        ("stalwart_jobs_total", (("job", "tests.ChargeFee"), ("outcome", "succeeded"))): 1,
        ("stalwart_jobs_total", (("job", "tests.CountsWidgets"), ("outcome", "succeeded"))): 1,
        ("stalwart_jobs_total", (("job", "tests.SaveReport"), ("outcome", "dead_lettered"))): 1,
    }
    assert (
        found[("stalwart_job_negatives_total", (("job", "tests.ChargeCard"), ("reason", "card_declined")))]
        == 1
    )
    assert (
        found[
            (
                "stalwart_job_dead_letters_total",
                (("classification", "non_retryable"), ("job", "tests.SaveReport")),
            )
        ]
        == 1
    )
    assert found[("stalwart_app_events_total", (("name", "tests.widgets.made"),))] == 5
    assert found[("stalwart_job_duration_seconds_count", (("job", "tests.Add"),))] == 2
    assert found[("stalwart_job_duration_seconds_count", (("job", "tests.ChargeFee"),))] == 2
    assert found[("stalwart_dead_letter_entries", (("status", "dead"),))] == 1
    depths = {k[1]: v for k, v in found.items() if k[0] == "stalwart_queue_jobs"}
    assert set(depths) >= {
        (("queue", "default"), ("state", "queued")),
        (("queue", "billing"), ("state", "started")),
    }
    assert set(depths.values()) == {0}  # every queue ran empty


def test_the_exporter_serves_metrics_and_nothing_else(exporter: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(exporter.replace("/metrics", "/"), timeout=10)

    assert refused.value.code == 404


def test_counters_do_not_drop_when_the_per_minute_buckets_expire(connection: redis.Redis) -> None:
    # Given real jobs counted, and the counters as a scrape shows them
    run_a_mixed_batch(connection)
    before = parsed(metrics.render(metrics.read(connection)))
    counters = {k: v for k, v in before.items() if not k[0].startswith(("stalwart_queue", "stalwart_dead"))}
    assert counters[("stalwart_jobs_total", (("job", "tests.Add"), ("outcome", "succeeded")))] == 2

    # When every per-minute bucket is gone, as if their retention had passed
    buckets = list(connection.scan_iter(match=f"{_keys.prefix()}stats:[0-9]*"))
    assert buckets
    connection.delete(*buckets)
    assert stats.read(connection, since_s=3600) == {}

    # Then every counter reads the same
    after = parsed(metrics.render(metrics.read(connection)))
    assert {k: v for k, v in after.items() if k in counters} == counters


def test_a_bind_other_machines_could_reach_is_a_one_line_error_saying_what_to_do(
    subprocess_env: dict[str, str],
) -> None:
    result = stalwart("metrics", "--host", "0.0.0.0", env=subprocess_env)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "not a loopback address" in result.stderr
    assert "pass --allow-remote" in result.stderr
    assert result.stdout == ""
