"""Alerts reach a real HTTP Sentry endpoint on 127.0.0.1 from forking workers: once per dead job, never for noise."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from jobs import Status, Worker, _keys
from jobs.demo.gateway import Gateway
from jobs.telemetry.alerts import Alert
from jobs.telemetry.dispatcher import Dispatcher
from jobs.telemetry.sinks import CommandSink
from tests.sample_jobs import ChargeFee, FailsWithASecret, SaveReport
from tests.sentry_server import sentry_server
from tests.workers import stalwart


@pytest.mark.parametrize("app_has_rq_sentry_integration", [False, True])
def test_each_dead_lettered_job_is_one_sentry_event_and_nothing_else_is(
    connection: redis.Redis, subprocess_env: dict[str, str], app_has_rq_sentry_integration: bool
) -> None:
    gateway = Gateway(connection)
    gateway.script(1, "refuse", "refuse", "refuse")  # exhausted after 3 attempts: one event, not three
    gateway.script(2, "refuse", "ok")  # a retry that then succeeds: no event
    gateway.script(3, "decline")  # a Negative: no event
    exhausted = ChargeFee.enqueue(connection=connection, customer_id=1)
    recovered = ChargeFee.enqueue(connection=connection, customer_id=2)
    declined = ChargeFee.enqueue(connection=connection, customer_id=3)
    broken = SaveReport.enqueue(connection=connection, month="2026-10")
    secret = FailsWithASecret.enqueue(connection=connection, customer_id=4, api_token="tok-LIVE-123")

    with sentry_server() as sentry:
        env = {**subprocess_env, "SENTRY_DSN": sentry.dsn}
        if app_has_rq_sentry_integration:
            # The application initialises Sentry itself, RQ's integration included, at the same project.
            env["TESTS_APP_SENTRY_DSN"] = sentry.dsn
        run = stalwart("worker", "--import", "tests.sample_jobs", "--burst", env=env, timeout=120)
        assert run.returncode == 0, run.stderr
        events = list(sentry.events)

    assert (recovered.status(), declined.status()) == (Status.SUCCEEDED, Status.NEGATIVE)
    strays = [e for e in events if "job" not in e.get("tags", {})]
    assert strays == [], [
        (s.get("logger"), s.get("message") or s.get("logentry"), s.get("exception")) for s in strays
    ]
    by_job = {event["tags"]["job"]: event for event in events}
    assert sorted(by_job) == ["tests.ChargeFee", "tests.FailsWithASecret", "tests.SaveReport"]
    assert len(events) == 3

    charge = by_job["tests.ChargeFee"]
    assert charge["tags"] == {
        "job": "tests.ChargeFee",
        "classification": "exhausted",
        "queue": "default",
        "attempt": "3",
        "request_id": charge["tags"]["request_id"],
    }
    assert charge["fingerprint"] == ["tests.ChargeFee", "GatewayRefused"]
    assert charge["message"].startswith(
        f"tests.ChargeFee (job {exhausted.id}, attempt 3/3) failed while charging"
    )
    assert [a["outcome"] for a in charge["contexts"]["stalwart"]["attempts"]] == [
        "retrying",
        "retrying",
        "exhausted",
    ]
    assert by_job["tests.SaveReport"]["contexts"]["stalwart"]["entry_id"] == broken.id
    assert by_job["tests.FailsWithASecret"]["contexts"]["stalwart"]["kwargs"] == {
        "customer_id": 4,
        "api_token": "[redacted]",
    }
    assert "tok-LIVE-123" not in str(events)
    assert secret.status() is Status.DEAD_LETTERED
    assert connection.llen(_keys.alert_outbox()) == 0


def test_a_command_sink_gets_the_alert_text(
    connection: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "mail.txt"
    monkeypatch.setenv("STALWART_ALERT_COMMAND", f"sh -c 'cat >> {out}'")
    handle = SaveReport.enqueue(connection=connection, month="2026-07")

    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)

    text = out.read_text()
    assert text.startswith("tests.SaveReport dead-lettered (non_retryable): RuntimeError\n\n")
    assert f"tests.SaveReport (job {handle.id}, attempt 1/1) failed while saving the 2026-07 report" in text
    assert "classification=non_retryable" in text


def test_sinks_given_in_code_replace_those_of_the_environment(
    connection: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an alert command in the environment, and a worker given its own sink in code
    from_environment, from_code = tmp_path / "environment.txt", tmp_path / "code.txt"
    monkeypatch.setenv("STALWART_ALERT_COMMAND", f"sh -c 'cat >> {from_environment}'")
    handle = SaveReport.enqueue(connection=connection, month="2026-08")

    # When a job is dead-lettered
    sink = CommandSink(["sh", "-c", f"cat >> {from_code}"])
    Worker(["default"], connection=connection, mode="inprocess", sinks=[sink]).work(burst=True)

    # Then only the sink given in code got the alert
    assert f"(job {handle.id}, attempt 1/1)" in from_code.read_text()
    assert not from_environment.exists()


def test_one_failing_sink_stops_no_other(connection: redis.Redis, tmp_path: Path, caplog: object) -> None:
    out = tmp_path / "mail.txt"
    failing = CommandSink("sh -c 'echo mail server down >&2; exit 75'")
    working = CommandSink(["sh", "-c", f"cat >> {out}"])
    alert = Alert(title="invariant violated", message="3 purchases have no authorization code")

    Dispatcher(connection, [failing, working]).deliver(alert)

    assert out.read_text() == alert.text()
    (record,) = [r for r in caplog.records if r.name == "stalwart.alerts"]  # type: ignore[attr-defined]
    assert (
        record.getMessage()
        == "the command alert sink failed for 'invariant violated'; the alert is in the log"
    )
    assert "sh exited 75: mail server down" in str(record.exc_info[1])
