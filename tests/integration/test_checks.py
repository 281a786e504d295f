"""`stalwart check`: invariants and threshold rules, alerting through a real HTTP Sentry endpoint."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import redis

from jobs import Worker
from tests.conftest import REPO
from tests.sample_jobs import ChargeCard, SaveReport
from tests.sentry_server import sentry_server
from tests.workers import stalwart


def check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return stalwart("check", "--import", "tests.checks_for_tests", env=env)


def test_all_well_is_exit_zero_with_a_line_per_check(subprocess_env: dict[str, str]) -> None:
    run = check(subprocess_env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "invariant purchases_without_authorization: ok",
        "invariant a_broken_check: ok",
        "rule tests.ChargeCard:negative.card_declined share above 0.3: ok",
        "rule *:dead_lettered above 1: ok",
    ]


def test_violations_alert_once_with_records_and_remediation_and_report_check_ins(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    # Given two purchases marked paid without an authorization code, a check that cannot run,
    # most cards declined, and two dead-lettered jobs
    for order in (101, 102):
        connection.rpush(
            "shop:paid_without_authorization", json.dumps({"order_id": order, "card_number": "4111"})
        )
    connection.set("checks:break", "yes")
    for card in ("declined", "declined", "ok"):
        ChargeCard.enqueue(connection=connection, customer_id=1, card=card)
    for month in ("2026-01", "2026-02"):
        SaveReport.enqueue(connection=connection, month=month)
    Worker(["default", "billing"], connection=connection, mode="inprocess").work(burst=True)
    connection.delete("stalwart:alerts:outbox")  # the dead-letter alerts themselves are another test's

    with sentry_server() as sentry:
        env = {**subprocess_env, "SENTRY_DSN": sentry.dsn}
        first = check(env)
        second = check(env)  # still violated: no new alert
        events = list(sentry.events)

    assert first.returncode == 1 and second.returncode == 1
    assert first.stdout.splitlines() == [
        "invariant purchases_without_authorization: VIOLATED by 2 records",
        "invariant a_broken_check: COULD NOT RUN: RuntimeError: the orders table is not reachable",
        "rule tests.ChargeCard:negative.card_declined share above 0.3: BROKEN",
        "rule *:dead_lettered above 1: BROKEN",
    ]
    alerts = [e for e in events if e.get("type", "event") == "event"]
    titles = sorted(e["extra"]["title"] for e in alerts)
    assert titles == [
        "invariant a_broken_check could not run: RuntimeError: the orders table is not reachable",
        "invariant purchases_without_authorization violated by 2 records",
        "statistic out of range: *:dead_lettered above 1",
        "statistic out of range: tests.ChargeCard:negative.card_declined share above 0.3",
    ]
    violated = next(e for e in alerts if "purchases_without" in e["extra"]["title"])
    assert (
        "Remediation: Check the gateway for these purchases; void or re-authorize them."
        in violated["message"]
    )
    assert violated["contexts"]["stalwart"]["records"] == [
        {"order_id": 101, "card_number": "[redacted]"},
        {"order_id": 102, "card_number": "[redacted]"},
    ]
    assert "67%" in next(e for e in alerts if "share above" in e["extra"]["title"])["message"]
    check_ins = sorted((c["monitor_slug"], c["status"]) for c in sentry.check_ins)
    assert (
        check_ins
        == [("stalwart-invariant-a_broken_check", "error")] * 2
        + [("stalwart-invariant-purchases_without_authorization", "error")] * 2
    )


def test_watch_runs_the_checks_until_sigterm(subprocess_env: dict[str, str]) -> None:
    watch = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "watch", "--import", "tests.checks_for_tests"],
        env=subprocess_env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watch.stdout is not None
        first = [watch.stdout.readline().rstrip() for _ in range(4)]
        assert first[0] == "invariant purchases_without_authorization: ok"
        assert first[3] == "rule *:dead_lettered above 1: ok"
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(30) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait(10)
