"""The `stalwart` command, run as a user runs it: in a subprocess, against a real Redis."""

from __future__ import annotations

import json
import os
import re
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
import redis

from jobs import DeadLetterQueue, EmbeddedRedis, Status, request_context
from tests.conftest import REPO
from tests.sample_jobs import Add, ChargeCard, SaveReport
from tests.workers import stalwart


def test_a_burst_worker_runs_the_queue_and_logs_a_json_line_per_job_start_and_end(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    with request_context("req-cli"):
        ok = Add.enqueue(connection=connection, a=20, b=22)
        declined = ChargeCard.enqueue(
            connection=connection, customer_id=7, card="declined", api_token="tok-SECRET"
        )
        failed = SaveReport.enqueue(connection=connection, month="2026-09")

    run = stalwart(
        "worker",
        "--import",
        "tests.sample_jobs",
        "--queue",
        "default",
        "--queue",
        "billing",
        "--burst",
        env=subprocess_env,
    )

    assert run.returncode == 0, run.stderr
    assert (ok.result(), declined.status(), failed.status()) == (42, Status.NEGATIVE, Status.DEAD_LETTERED)
    lines = [json.loads(line) for line in run.stderr.splitlines()]  # every line is JSON
    worker_lines = [line for line in lines if line.get("logger") == "stalwart.worker"]
    pid = worker_lines[0]["pid"]
    assert worker_lines[0]["msg"] == (
        "worker started: queues default, billing (its jobs use default, billing, elsewhere); mode fork, "
        f"burst; Redis {subprocess_env['REDIS_URL']}; stalwart {metadata.version('stalwart')}; pid {pid}"
    )
    assert worker_lines[-1]["msg"] == (
        "worker stopped: burst drained: nothing queued or scheduled on its queues; "
        "ran 3 attempts: 1 succeeded, 1 negative, 1 dead-lettered"
    )
    assert worker_lines[-1]["ran"] == {"succeeded": 1, "negative": 1, "retried": 0, "dead_lettered": 1}
    job_lines = [line for line in worker_lines if "job_id" in line]
    assert [(line["job"], line["outcome"]) for line in job_lines] == [
        ("tests.Add", "started"),
        ("tests.Add", "succeeded"),
        ("tests.SaveReport", "started"),
        ("tests.SaveReport", "dead_lettered"),
        ("tests.ChargeCard", "started"),
        ("tests.ChargeCard", "negative"),
    ]
    for line in job_lines:
        assert {
            "ts",
            "level",
            "pid",
            "host",
            "request_id",
            "job_id",
            "job",
            "attempt",
            "outcome",
            "duration_ms",
        } <= set(line)
        assert (line["request_id"], line["attempt"]) == ("req-cli", 1)
    assert [line["level"] for line in job_lines if line["outcome"] == "negative"] == ["info"]
    assert "tok-SECRET" not in run.stderr  # the secret argument is in no log line, RQ's included
    assert "2026-09" in run.stderr  # (the failure message names what was attempted)


def test_an_unknown_option_is_one_line_and_a_non_zero_exit(subprocess_env: dict[str, str]) -> None:
    run = stalwart("worker", "--import", "tests.sample_jobs", "--bogus", env=subprocess_env)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        "stalwart worker: error: unrecognized arguments: --bogus; see `stalwart worker --help`"
    ]


def test_importing_a_missing_module_is_one_line_and_a_non_zero_exit(subprocess_env: dict[str, str]) -> None:
    run = stalwart("worker", "--import", "no_such_module", "--burst", env=subprocess_env)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        "stalwart: cannot import 'no_such_module' (ModuleNotFoundError: No module named 'no_such_module'); "
        "check the module name and that its folder is the current directory or on PYTHONPATH"
    ]


def test_a_redis_that_does_not_answer_is_one_line_and_a_non_zero_exit(subprocess_env: dict[str, str]) -> None:
    env = {**subprocess_env, "REDIS_URL": "redis://user:hunter2@127.0.0.1:1/0"}
    run = stalwart("worker", "--import", "tests.sample_jobs", "--burst", env=env)
    assert run.returncode == 1
    (line,) = run.stderr.splitlines()
    assert line.startswith("stalwart: Redis at redis://user:[redacted]@127.0.0.1:1/0 does not answer (")
    assert line.endswith("; start it or fix REDIS_URL")


def test_dlq_list_json_prints_one_redacted_object_per_entry(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    from jobs import Worker

    handle = SaveReport.enqueue(connection=connection, month="2026-08")
    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)

    run = stalwart("dlq", "list", "--json", env=subprocess_env)

    assert run.returncode == 0, run.stderr
    (entry,) = [json.loads(line) for line in run.stdout.splitlines()]
    assert (entry["id"], entry["classification"], entry["kwargs"]) == (
        handle.id,
        "non_retryable",
        {"month": "2026-08"},
    )
    assert len(DeadLetterQueue(connection)) == 1


def test_without_redis_url_the_cli_starts_an_embedded_redis_and_stop_stops_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(STALWART_HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO))

    worker = stalwart("worker", "--import", "tests.sample_jobs", "--burst", env=env)
    try:
        assert worker.returncode == 0, worker.stderr
        said = json.loads(worker.stderr.splitlines()[0])["msg"]
        assert said.startswith("REDIS_URL is not set: started an embedded Redis at redis://127.0.0.1:")
        assert said.endswith(f"data in {tmp_path / 'home'} (STALWART_HOME is set)")
    except AssertionError:
        EmbeddedRedis(tmp_path / "home").stop()  # leave no server behind
        raise

    url = stalwart("redis", "url", env=env)
    assert url.returncode == 0 and url.stdout.startswith("redis://127.0.0.1:")
    assert redis.Redis.from_url(url.stdout.strip()).config_get("appendonly") == {"appendonly": "yes"}

    assert stalwart("redis", "stop", env=env).stdout == "stopped\n"
    gone = stalwart("redis", "url", env=env)
    assert gone.returncode == 1
    assert "no embedded Redis is running" in gone.stderr


@pytest.fixture(scope="module")
def demo() -> subprocess.CompletedProcess[str]:
    """One run of `stalwart demo --charges 60` on a pipe, 80 columns wide (it starts its own Redis)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "80"}
    env.pop("REDIS_URL", None)
    return stalwart("demo", "--charges", "60", env=env, timeout=180)


def test_the_demo_runs_end_to_end_and_stops_what_it_started(demo: subprocess.CompletedProcess[str]) -> None:
    run = demo

    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "replayed customer 20's charge with amount_cents=4900" in out
    assert "replayed customer 40's charge with amount_cents=1900" in out
    assert "discarded the forged payload" in out
    for line in (
        "jobs lost (not succeeded, not negative): 0",
        "customers charged twice:                0",
        "charges the application doesn't know:   0",
        "paid invoices without a charge:         0",
    ):
        assert line in out
    assert "proved" in out and "NOT proved" not in out
    assert "Stopped the workers with SIGTERM (warm shutdown): exit codes [0, 0]" in out
    pids = [int(p) for p in re.search(r"pids (\d+), (\d+)", out).groups()]  # type: ignore[union-attr]
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"worker {pid} outlived the demo"
    assert out.rstrip().endswith("nothing is left running.")


def test_the_demo_fits_80_columns_a_sentence_a_line_and_its_dead_letter_counts_agree(
    demo: subprocess.CompletedProcess[str],
) -> None:
    run = demo

    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert [line for line in lines if len(line) > 80] == []
    # The story's sentences, each on a line of its own (none broken by the terminal)
    for sentence in (
        "2. The payment gateway refuses 4% of calls and garbles 1% of its answers.",
        "    It times out on 2% of calls before charging, and on 3% after charging.",
        "    It declines 6% of cards.",
        "    Customers 20 and 40 have a fee of 0 in their billing data.",
        "    Enqueued 60 charges for 2026-11, and a forged payload naming os.system.",
        "    The forged payload never ran: it was dead-lettered as poison.",
        "4b. The gateway is back, and the billing data is fixed.",
        "    Replaying from the dead-letter queue:",
        "    Every entry keeps its audit trail.",
    ):
        assert sentence in lines
    assert lines[0].startswith("1. Started an embedded Redis at redis://127.0.0.1:")
    assert lines[0].endswith(".")
    assert lines[1].startswith("    Its data is in ") and lines[1].endswith(".")
    # The forged payload is counted as the dead-letter queue counts it: a poison entry, in both places
    table: dict[str, str] = {}  # the first table's rows (the second, after the replays, comes later)
    for line in lines:
        if re.search(r"\s{2,}\d+\s*$", line):
            table.setdefault(re.sub(r"\s{2,}.*", "", line.strip()), line.split()[-1])
    dead_lettered = int(table["dead-lettered"])
    assert table["poison (the forged payload)"] == "1"
    assert table["total (60 charges, 1 forged)"] == "61"
    (entries, charges) = re.search(  # type: ignore[union-attr]
        r"^4\. The dead-letter queue: (\d+) entries \((\d+) charges and the forged payload\)\.$",
        run.stdout,
        re.MULTILINE,
    ).groups()
    assert (int(entries), int(charges)) == (dead_lettered, dead_lettered - 1)
    (statuses,) = re.search(r"^    Dead-letter queue: (.*)\.$", run.stdout, re.MULTILINE).groups()  # type: ignore[union-attr]
    assert statuses.endswith("1 discarded (the forged payload)")
    assert sum(int(part.split()[0]) for part in statuses.split(", ")) == dead_lettered


def test_the_demo_says_what_it_shows_and_refuses_bad_sizes() -> None:
    shown = stalwart("demo", "--help", env=dict(os.environ))
    assert shown.returncode == 0
    assert "proved against its ledger" in shown.stdout and "--charges" in shown.stdout

    refused = stalwart("demo", "--charges", "5", env=dict(os.environ))
    assert refused.returncode == 2
    assert "must be from 10 to 10000, got 5" in refused.stderr
