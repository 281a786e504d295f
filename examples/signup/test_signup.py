"""The sign-up example's promise, tested: every user gets an activation email, or a way to get one.

The users live in a SQLite file of each test's own; the activation email's job goes through the outbox
in the sign-up's transaction, and ``deliver`` moves it to Redis as a worker's relay would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from jobs import Classification, DeadLetterQueue, Status, Worker, outbox, testing
from jobs import invariants as invariant_runs
from jobs.connection import use
from tests.conftest import REPO

from . import accounts
from .accounts import Accounts, install, open_database, transaction
from .checks import WAITING_TOO_LONG_S, users_waiting
from .mailer import EmailService
from .signup import (
    ACTIVATION_URL,
    IN_OUTBOX,
    Requested,
    SendActivationEmail,
    activate,
    resend_activation,
    signup,
)

INVARIANT = "signup_users_waiting_for_activation_email"


@pytest.fixture
def db_url(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The application's database for this test: a SQLite file, named for jobs and subprocesses too."""
    url = f"sqlite:///{tmp_path / 'signup.db'}"
    monkeypatch.setenv("SIGNUP_DATABASE_URL", url)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Any]:
    """The application's connection, with its tables installed."""
    connection = open_database()
    install(connection)
    yield connection
    connection.close()


def deliver(db_url: str, connection: redis.Redis) -> int:
    """What a worker's relay does: move the committed jobs from the outbox to Redis; how many."""
    return outbox.Relay(db_url, connection).relay_once().rows


def sign_up(db: Any, connection: redis.Redis, address: str, *steps: str) -> int:
    """Script the email service's answers to ``address``, then sign it up; the new user's id."""
    EmailService(connection).script(address, *steps)
    request = signup(address, db, connection)
    assert request.outcome is Requested.ENQUEUED and request.created and request.user_id is not None
    return request.user_id


def user(db: Any, user_id: int) -> accounts.User:
    with transaction(db):
        found = Accounts(db).get(user_id)
    assert found is not None
    return found


def test_a_new_user_gets_exactly_one_email_with_their_activation_link(
    db: Any, db_url: str, fake: redis.Redis
) -> None:
    user_id = sign_up(db, fake, "Alice@Example.com ")

    assert deliver(db_url, fake) == 1
    run = testing.run_queued(fake)

    email = run.one(SendActivationEmail)
    assert (email.kwargs, email.status, email.attempts, email.result) == (
        {"user_id": user_id},
        Status.SUCCEEDED,
        1,
        "msg-0001",
    )
    alice = user(db, user_id)
    assert (alice.email, alice.email_state, alice.message_id, alice.email_job) == (
        "alice@example.com",
        "sent",
        "msg-0001",
        email.id,
    )
    link = f"{ACTIVATION_URL}{alice.activation_token}"
    assert [(m.to, m.body) for m in EmailService(fake).sent()] == [
        ("alice@example.com", f"Welcome! Follow this link to activate your account:\n{link}\n")
    ]
    assert run.alerts == [] and outbox.backlog(db_url).rows == 0
    assert run.stat("app", "signup.activation_email.sent") == 1


def test_a_sign_up_that_fails_before_its_commit_leaves_no_user_and_no_job(
    db: Any, db_url: str, fake: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fails(self: Accounts, user_id: int, job_id: str) -> None:
        raise RuntimeError("the web process failed between two statements")

    monkeypatch.setattr(Accounts, "record_job", fails)

    with pytest.raises(RuntimeError):
        signup("grace@example.com", db, fake)

    with transaction(db):
        assert Accounts(db).all() == []
    assert deliver(db_url, fake) == 0 and testing.run_queued(fake).jobs == []


def test_a_web_process_killed_right_after_its_commit_still_gets_the_email_sent(
    db: Any, db_url: str, fake: redis.Redis
) -> None:
    # Given a web process SIGKILLed as soon as its sign-up committed (nothing after the commit ran)
    died = subprocess.run(
        [sys.executable, "-m", "examples.signup.simulate", "signup-and-die", "frank@example.com"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        check=False,
    )
    assert died.returncode == -9

    # When a relay and a worker run
    deliver(db_url, fake)
    run = testing.run_queued(fake)

    # Then frank gets his email, once, and nobody had to be told
    assert run.one(SendActivationEmail).status is Status.SUCCEEDED
    assert [m.to for m in EmailService(fake).sent()] == ["frank@example.com"] and run.alerts == []


def test_signing_up_while_redis_is_down_succeeds_and_the_email_goes_once_it_is_back(
    db: Any, db_url: str, fake: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there: Redis is "down"

    request = signup("heidi@example.com", db)

    assert request.outcome is Requested.ENQUEUED and outbox.backlog(db_url).rows == 1
    deliver(db_url, fake)  # Redis is back
    assert testing.run_queued(fake).one(SendActivationEmail).status is Status.SUCCEEDED
    assert user(db, request.user_id or 0).email_state == "sent"


def test_refused_connections_are_retried_with_backoff_and_send_once(
    db: Any, db_url: str, fake: redis.Redis
) -> None:
    sign_up(db, fake, "bob@example.com", "refuse", "throttle")
    deliver(db_url, fake)

    run = testing.run_queued(fake)

    email = run.one(SendActivationEmail)
    assert (email.status, email.attempts) == (Status.SUCCEEDED, 3)
    assert [(f["outcome"], f["error_type"]) for f in email.failures] == [
        ("retrying", "EmailServiceRefused"),
        ("retrying", "EmailServiceThrottled"),
    ]
    assert [m.to for m in EmailService(fake).sent()] == ["bob@example.com"] and run.alerts == []


def test_a_timeout_after_the_service_accepted_sends_the_same_link_twice_by_design(
    db: Any, db_url: str, fake: redis.Redis
) -> None:
    user_id = sign_up(db, fake, "carol@example.com", "timeout_after")
    deliver(db_url, fake)

    run = testing.run_queued(fake)

    email = run.one(SendActivationEmail)
    assert (email.status, email.attempts, email.result) == (Status.SUCCEEDED, 2, "msg-0002")
    copies = EmailService(fake).sent("carol@example.com")
    assert [m.message_id for m in copies] == ["msg-0001", "msg-0002"]
    assert copies[0].body == copies[1].body  # one token: whichever copy the user opens works
    assert activate(user(db, user_id).activation_token, db) is not None


def test_an_address_that_bounces_for_good_is_a_negative_not_a_failure(
    db: Any, db_url: str, fake: redis.Redis
) -> None:
    EmailService(fake).make_undeliverable("dave@example.invalid")
    user_id = sign_up(db, fake, "dave@example.invalid")
    deliver(db_url, fake)

    run = testing.run_queued(fake)

    email = run.one(SendActivationEmail)
    assert email.status is Status.NEGATIVE and email.negative is not None
    assert (email.negative.reason, email.negative.details) == (
        "address_bounced",
        {"user_id": user_id, "code": "550", "smtp": "5.1.1 mailbox does not exist"},
    )
    dave = user(db, user_id)
    assert (dave.email_state, dave.bounce_code) == ("bounced", "550")
    # Asking again does not bounce again: the way out is another address.
    assert signup("dave@example.invalid", db, fake).outcome is Requested.ADDRESS_BOUNCED
    assert deliver(db_url, fake) == 0


def test_a_user_who_activated_before_the_email_went_out_gets_none(
    db: Any, db_url: str, fake: redis.Redis
) -> None:
    user_id = sign_up(db, fake, "grace@example.com")
    activate(user(db, user_id).activation_token, db)  # e.g. support activated her by hand
    deliver(db_url, fake)

    email = testing.run_queued(fake).one(SendActivationEmail)

    assert email.status is Status.NEGATIVE and email.negative is not None
    assert (email.negative.reason, email.negative.details) == ("already_activated", {"user_id": user_id})
    assert EmailService(fake).sent() == []


def test_an_outage_longer_than_the_budget_dead_letters_lists_the_user_and_alerts_once(
    db: Any, db_url: str, fake: redis.Redis
) -> None:
    user_id = sign_up(db, fake, "erin@example.com", *["refuse"] * 5)
    deliver(db_url, fake)

    run = testing.run_queued(fake)

    email = run.one(SendActivationEmail)
    assert (email.status, email.attempts) == (Status.DEAD_LETTERED, 5)
    assert email.dead_letter is not None
    assert email.dead_letter.classification == Classification.EXHAUSTED
    assert [a.title for a in run.alerts] == [
        "signup.SendActivationEmail dead-lettered (exhausted): EmailServiceRefused"
    ]
    erin = user(db, user_id)
    assert (erin.email_state, erin.dead_letter_entry, erin.attention_reason) == (
        "needs_attention",
        email.id,
        "exhausted: EmailServiceRefused",
    )
    with transaction(db):
        assert Accounts(db).needing_attention() == [user_id]


def test_after_a_dead_letter_signing_up_again_sends_a_fresh_email_and_closes_the_entry(
    db: Any, db_url: str, fake: redis.Redis
) -> None:
    # Given a user whose email job was dead-lettered during an outage
    user_id = sign_up(db, fake, "erin@example.com", *["refuse"] * 5)
    deliver(db_url, fake)
    dead = testing.run_queued(fake).one(SendActivationEmail)

    # When the service is back and she signs up again with the same address
    again = signup("erin@example.com", db, fake)
    deliver(db_url, fake)
    run = testing.run_queued(fake)

    # Then it is a fresh email, not "address taken", and nothing is left for a person
    assert (again.user_id, again.outcome, again.created) == (user_id, Requested.ENQUEUED, False)
    assert [(r.id, r.status, r.attempts) for r in run.jobs] == [(again.job_id, Status.SUCCEEDED, 1)]
    entry = DeadLetterQueue(fake).get(dead.id)
    assert entry.status == "discarded"
    assert entry.audit[-1]["reason"] == "superseded: a fresh activation email was requested"
    with transaction(db):
        assert Accounts(db).needing_attention() == []


def test_replaying_the_dead_letter_entry_delivers_and_takes_the_user_off_the_work_list(
    db: Any, db_url: str, fake: redis.Redis
) -> None:
    user_id = sign_up(db, fake, "erin@example.com", *["refuse"] * 5)
    deliver(db_url, fake)
    dead = testing.run_queued(fake).one(SendActivationEmail)

    replay_id = DeadLetterQueue(fake).replay(dead.id, by="support")
    # While the replay waits, asking again returns it rather than sending a second copy.
    asked = resend_activation("erin@example.com", db, fake)
    run = testing.run_queued(fake)

    assert (asked.outcome, asked.job_id) == (Requested.ON_ITS_WAY, replay_id)
    assert [(r.id, r.status) for r in run.jobs] == [(replay_id, Status.SUCCEEDED)]
    assert DeadLetterQueue(fake).get(dead.id).status == "resolved"
    erin = user(db, user_id)
    assert (erin.email_state, erin.email_job) == ("sent", replay_id)
    assert len(EmailService(fake).sent()) == 1


def test_signing_up_twice_while_the_email_waits_in_the_outbox_or_the_queue_does_not_send_twice(
    db: Any, db_url: str, fake: redis.Redis
) -> None:
    first = signup("hank@example.com", db, fake)
    in_outbox = signup("HANK@example.com", db, fake)  # not relayed yet
    deliver(db_url, fake)
    queued = resend_activation("hank@example.com", db, fake)  # relayed, not run yet

    run = testing.run_queued(fake)

    assert (in_outbox.outcome, in_outbox.job_id) == (Requested.ON_ITS_WAY, first.job_id)
    assert (queued.outcome, queued.job_id) == (Requested.ON_ITS_WAY, first.job_id)
    assert len(run.jobs) == 1 and len(EmailService(fake).sent()) == 1
    # Once that email went out, asking again (it went to spam, say) sends another copy of the same link.
    assert resend_activation("hank@example.com", db, fake).outcome is Requested.ENQUEUED
    deliver(db_url, fake)
    assert testing.run_queued(fake).one(SendActivationEmail).status is Status.SUCCEEDED
    assert len({m.body for m in EmailService(fake).sent()}) == 1 and len(EmailService(fake).sent()) == 2


def test_resending_to_an_active_or_unknown_user_sends_nothing(
    db: Any, db_url: str, fake: redis.Redis
) -> None:
    user_id = sign_up(db, fake, "ivy@example.com")
    deliver(db_url, fake)
    testing.run_queued(fake)
    activate(user(db, user_id).activation_token, db)

    assert resend_activation("ivy@example.com", db, fake).outcome is Requested.ALREADY_ACTIVE
    assert resend_activation("nobody@example.com", db, fake).outcome is Requested.NO_SUCH_USER
    assert deliver(db_url, fake) == 0 and len(EmailService(fake).sent()) == 1


def test_the_invariant_names_users_whose_email_waits_in_an_outbox_nobody_relays(
    db: Any, db_url: str, fake: redis.Redis
) -> None:
    check = invariant_runs.registered()[INVARIANT]
    assert check.every_s == 300
    # Given frank, who signed up 45 minutes ago, with no worker relaying the outbox since
    with transaction(db):
        frank, _ = Accounts(db).create("frank@example.com", now=0)
        job_id = outbox.enqueue(db, SendActivationEmail, user_id=frank.id)
        Accounts(db).record_job(frank.id, job_id)

    with use(fake):
        first = invariant_runs.run(check)
        invariant_runs.report(fake, check, first)
        invariant_runs.report(fake, check, invariant_runs.run(check))  # still violated: no new alert
    assert [(r["user_id"], r["email_state"], r["job"], r["job_status"]) for r in first.records] == [
        (frank.id, "owed", job_id, IN_OUTBOX)
    ]
    assert [a.title for a in testing.alerts(fake)] == [f"invariant {INVARIANT} violated by 1 record"]
    assert "'in_outbox': no worker relays the outbox" in testing.alerts(fake)[0].message

    deliver(db_url, fake)
    testing.run_queued(fake)
    with use(fake):
        fixed = invariant_runs.run(check)
        invariant_runs.report(fake, check, fixed)
    assert fixed.ok and users_waiting(db, fake, WAITING_TOO_LONG_S) == []
    assert not fake.exists(f"stalwart:checks:invariant:{INVARIANT}")  # re-armed for the next time


def test_a_real_forking_worker_relays_the_outbox_delivers_retries_and_bounces(
    db: Any, db_url: str, connection: redis.Redis
) -> None:
    service = EmailService(connection)
    service.make_undeliverable("dave@example.invalid")
    users = {
        address: sign_up(db, connection, address, *steps)
        for address, steps in (
            ("alice@example.com", ()),
            ("bob@example.com", ("refuse",)),
            ("carol@example.com", ("timeout_after",)),
            ("dave@example.invalid", ()),
        )
    }

    # A burst worker relays what the outbox holds, then runs the queue until it is empty
    Worker(["signup"], connection=connection, mode="fork", outbox=db_url).work(burst=True)

    assert {a: user(db, user_id).email_state for a, user_id in users.items()} == {
        "alice@example.com": "sent",
        "bob@example.com": "sent",
        "carol@example.com": "sent",
        "dave@example.invalid": "bounced",
    }
    assert sorted(m.to for m in service.sent()) == [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
        "carol@example.com",
    ]
    assert outbox.backlog(db_url).rows == 0 and testing.alerts(connection) == []
