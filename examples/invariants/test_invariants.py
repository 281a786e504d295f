"""The purchases invariant, tested: it finds exactly the bad purchases, alerts once, re-arms when fixed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis

from jobs import Status, testing
from jobs import invariants as invariant_runs
from jobs.connection import use
from tests.workers import stalwart

from .checks import NAME
from .gateway import PaymentGateway
from .purchases import AuthorizePurchase, Purchase, Purchases, place
from .repair import repair

REPO = Path(__file__).resolve().parents[2]
TITLE = f"invariant {NAME} violated by"


def buy(connection: redis.Redis, *steps: str, customer_id: int = 101) -> int:
    """Place a purchase whose authorization the gateway answers with ``steps``; its id."""
    purchase, _ = place(connection, customer_id=customer_id, amount_cents=1900)
    PaymentGateway(connection).script(purchase.id, *steps)
    return purchase.id


def stored(connection: redis.Redis, purchase_id: int) -> Purchase:
    purchase = Purchases(connection).get(purchase_id)
    assert purchase is not None
    return purchase


def check_once(connection: redis.Redis) -> invariant_runs.Finding:
    """What one `stalwart check` does for this invariant: run it, then log and alert on what it found."""
    item = invariant_runs.registered()[NAME]
    with use(connection):
        finding = invariant_runs.run(item)
        invariant_runs.report(connection, item, finding)
    return finding


def test_the_legacy_path_records_an_approval_without_a_code_as_succeeded(fake: redis.Redis) -> None:
    # The bug the invariant exists for: if this test fails, read_answer was fixed; update the example.
    purchase_id = buy(fake, "approve_via_backup")

    run = testing.run_queued(fake)

    job = run.one(AuthorizePurchase)
    assert (job.status, job.attempts, job.result) == (Status.SUCCEEDED, 1, None)
    purchase = stored(fake, purchase_id)
    assert (purchase.status, purchase.authorization_code) == ("succeeded", None)
    assert purchase.succeeded_at is not None
    assert run.alerts == []  # the job saw nothing wrong: only the invariant can notice


def test_the_invariant_finds_exactly_the_succeeded_purchases_without_a_code(fake: redis.Redis) -> None:
    ids = [
        buy(fake, "approve"),
        buy(fake, "decline"),
        buy(fake, "approve_via_backup", customer_id=103),
        buy(fake, "refuse", "approve"),
        buy(fake, "timeout_after", "approve"),
        buy(fake, "phantom_approval", customer_id=106),
    ]
    run = testing.run_queued(fake)
    assert [(r.status, r.attempts) for r in run.jobs] == [
        (Status.SUCCEEDED, 1),
        (Status.NEGATIVE, 1),
        (Status.SUCCEEDED, 1),
        (Status.SUCCEEDED, 2),
        (Status.SUCCEEDED, 2),
        (Status.SUCCEEDED, 1),
    ]

    finding = check_once(fake)

    assert [(r["purchase_id"], r["customer_id"], r["amount_cents"]) for r in finding.records] == [
        (ids[2], 103, 1900),
        (ids[5], 106, 1900),
    ]
    assert all(isinstance(r["succeeded_at"], str) for r in finding.records)
    # The timed-out authorization was retried under the same idempotency key: authorized once.
    assert stored(fake, ids[4]).authorization_code == "AUTH-000003"


def test_it_alerts_once_when_the_state_appears_not_while_it_persists_and_again_after_a_fix(
    fake: redis.Redis,
) -> None:
    buy(fake, "approve")
    testing.run_queued(fake)
    assert check_once(fake).ok and testing.alerts(fake) == []

    # The state appears: one alert, with the records and what to do.
    first_bad = buy(fake, "approve_via_backup")
    testing.run_queued(fake)
    assert [r["purchase_id"] for r in check_once(fake).records] == [first_bad]
    [alert] = testing.alerts(fake)
    assert alert.title == f"{TITLE} 1 record"
    assert f"'purchase_id': {first_bad}" in alert.message
    assert (
        "Remediation: These purchases are marked succeeded but carry no authorization code" in alert.message
    )
    assert alert.tags == {"invariant": NAME} and alert.context["records"][0]["purchase_id"] == first_bad

    # It persists, and even grows: no new alert (one alert per violation, not per run or per record).
    check_once(fake)
    second_bad = buy(fake, "phantom_approval")
    testing.run_queued(fake)
    assert len(check_once(fake).records) == 2
    assert len(testing.alerts(fake)) == 1

    # Fixed: the next run finds nothing and re-arms; the next bad purchase alerts again.
    repair(fake)
    assert check_once(fake).ok and len(testing.alerts(fake)) == 1
    third_bad = buy(fake, "approve_via_backup")
    testing.run_queued(fake)
    check_once(fake)
    assert [a.title for a in testing.alerts(fake)] == [f"{TITLE} 1 record", f"{TITLE} 1 record"]
    assert f"'purchase_id': {third_bad}" in testing.alerts(fake)[1].message
    assert second_bad != third_bad


def test_repair_records_the_code_the_gateway_holds_and_fails_purchases_it_does_not_know(
    fake: redis.Redis,
) -> None:
    recoverable = buy(fake, "approve_via_backup", customer_id=103)
    phantom = buy(fake, "phantom_approval", customer_id=106)
    fine = buy(fake, "approve")
    testing.run_queued(fake)

    dry = repair(fake, dry_run=True)
    assert (dry.recovered, dry.failed) == ({recoverable: "AUTH-000001"}, {phantom: 106})
    assert len(Purchases(fake).succeeded_without_code()) == 2  # a dry run changes nothing

    done = repair(fake)

    assert (done.recovered, done.failed) == ({recoverable: "AUTH-000001"}, {phantom: 106})
    store = Purchases(fake)
    assert [(p.id, p.status, p.authorization_code) for p in store.all()] == [
        (recoverable, "succeeded", "AUTH-000001"),
        (phantom, "payment_failed", None),
        (fine, "succeeded", "AUTH-000002"),
    ]
    assert store.succeeded_without_code() == []


def alert_titles(path: Path) -> list[str]:
    """The alerts the command sink received (`tee -a` appends each alert's text to the file)."""
    text = path.read_text() if path.exists() else ""
    return [line for line in text.splitlines() if line.startswith("invariant ")]


def test_stalwart_check_exits_1_alerts_once_and_rearms_after_the_repair(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    alerts = tmp_path / "alerts.txt"
    env = {**subprocess_env, "STALWART_ALERT_COMMAND": f"tee -a {alerts}"}
    command = ["check", "--import", "examples.invariants.checks"]
    buy(connection, "approve")
    bad = buy(connection, "approve_via_backup")
    testing.run_queued(connection)

    first, second = stalwart(*command, env=env), stalwart(*command, env=env)
    repair(connection)
    third = stalwart(*command, env=env)

    assert (first.returncode, second.returncode, third.returncode) == (1, 1, 0), first.stderr
    assert first.stdout == second.stdout == f"invariant {NAME}: VIOLATED by 1 record\n"
    assert third.stdout == f"invariant {NAME}: ok\n"
    assert alert_titles(alerts) == [f"{TITLE} 1 record"]
    assert f"'purchase_id': {bad}" in alerts.read_text()


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_stalwart_watch_alerts_when_the_state_appears_and_again_only_after_it_was_fixed(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    alerts, output = tmp_path / "alerts.txt", tmp_path / "watch.out"
    env = {**subprocess_env, "STALWART_ALERT_COMMAND": f"tee -a {alerts}", "PURCHASES_CHECK_EVERY_S": "0.2"}

    def states() -> list[str]:
        return [line.split(": ", 1)[1] for line in output.read_text().splitlines()]

    def collapsed() -> list[str]:
        runs = states()
        return [state for i, state in enumerate(runs) if i == 0 or runs[i - 1] != state]

    with output.open("w") as out:
        watch = subprocess.Popen(
            [sys.executable, "-m", "jobs.cli", "watch", "--import", "examples.invariants.checks"],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            wait_until(lambda: "ok" in states(), "the first run")
            buy(connection, "approve_via_backup")
            testing.run_queued(connection)
            # Several runs see the violation; the sink gets one alert.
            wait_until(lambda: states().count("VIOLATED by 1 record") >= 5, "five violated runs")
            assert alert_titles(alerts) == [f"{TITLE} 1 record"]
            repair(connection)
            wait_until(lambda: collapsed()[-1:] == ["ok"], "a run after the repair")
            buy(connection, "phantom_approval")
            testing.run_queued(connection)
            wait_until(lambda: len(alert_titles(alerts)) == 2, "the second alert")
        finally:
            watch.send_signal(signal.SIGTERM)
            assert watch.wait(30) == 0

    assert collapsed() == ["ok", "VIOLATED by 1 record", "ok", "VIOLATED by 1 record"]
    assert alert_titles(alerts) == [f"{TITLE} 1 record", f"{TITLE} 1 record"]
