"""The sign-up example's promise, tested: every user gets an activation email, or a way to get one."""

from __future__ import annotations

import time
from typing import cast

import redis

from jobs import Classification, DeadLetterQueue, Status, Worker, testing
from jobs import invariants as invariant_runs
from jobs.connection import use

from .accounts import NEEDS_ATTENTION, OWED, Accounts
from .checks import WAITING_TOO_LONG_S, users_waiting
from .mailer import EmailService
from .signup import (
    ACTIVATION_URL,
    SWEEP_AFTER_S,
    Requested,
    SendActivationEmail,
    SweepActivationEmails,
    activate,
    resend_activation,
    signup,
    sweep,
)

INVARIANT = "signup_users_waiting_for_activation_email"


def sign_up(connection: redis.Redis, address: str, *steps: str) -> int:
    """Script the email service's answers to ``address``, then sign it up; the new user's id."""
    EmailService(connection).script(address, *steps)
    request = signup(address, connection)
    assert request.outcome is Requested.ENQUEUED and request.created and request.user_id is not None
    return request.user_id


def owed(connection: redis.Redis) -> list[bytes]:
    return cast(list[bytes], connection.zrange(OWED, 0, -1))


def test_a_new_user_gets_exactly_one_email_with_their_activation_link(fake: redis.Redis) -> None:
    user_id = sign_up(fake, "Alice@Example.com ")

    run = testing.run_queued(fake)

    email = run.one(SendActivationEmail)
    assert (email.kwargs, email.status, email.attempts, email.result) == (
        {"user_id": user_id},
        Status.SUCCEEDED,
        1,
        "msg-0001",
    )
    user = Accounts(fake).get(user_id)
    assert user is not None and (user.email, user.email_state, user.message_id) == (
        "alice@example.com",
        "sent",
        "msg-0001",
    )
    link = f"{ACTIVATION_URL}{user.activation_token}"
    sent = EmailService(fake).sent()
    assert [(m.to, m.body) for m in sent] == [
        ("alice@example.com", f"Welcome! Follow this link to activate your account:\n{link}\n")
    ]
    assert owed(fake) == [] and run.alerts == []
    assert run.stat("app", "signup.activation_email.sent") == 1


def test_refused_connections_are_retried_with_backoff_and_send_once(fake: redis.Redis) -> None:
    sign_up(fake, "bob@example.com", "refuse", "throttle")

    run = testing.run_queued(fake)

    email = run.one(SendActivationEmail)
    assert (email.status, email.attempts) == (Status.SUCCEEDED, 3)
    assert [(f["outcome"], f["error_type"]) for f in email.failures] == [
        ("retrying", "EmailServiceRefused"),
        ("retrying", "EmailServiceThrottled"),
    ]
    assert run.skipped_wait_s > 0.5  # the second backoff (2 s before jitter) was skipped, not waited
    assert [m.to for m in EmailService(fake).sent()] == ["bob@example.com"]
    assert run.alerts == []


def test_a_timeout_after_the_service_accepted_sends_the_same_link_twice_by_design(fake: redis.Redis) -> None:
    # The job is idempotent by nature: a second copy of the same link is the price of never leaving
    # a user waiting for a person to check whether the first one went out.
    user_id = sign_up(fake, "carol@example.com", "timeout_after")

    run = testing.run_queued(fake)

    email = run.one(SendActivationEmail)
    assert (email.status, email.attempts, email.result) == (Status.SUCCEEDED, 2, "msg-0002")
    assert [f["error_type"] for f in email.failures] == ["EmailServiceTimeout"]
    copies = EmailService(fake).sent("carol@example.com")
    assert [m.message_id for m in copies] == ["msg-0001", "msg-0002"]
    assert copies[0].body == copies[1].body  # one token: whichever copy the user opens works
    user = Accounts(fake).get(user_id)
    assert user is not None and activate(user.activation_token, fake) is not None
    assert run.alerts == []


def test_an_address_that_bounces_for_good_is_a_negative_not_a_failure(fake: redis.Redis) -> None:
    EmailService(fake).make_undeliverable("dave@example.invalid")
    user_id = sign_up(fake, "dave@example.invalid")

    run = testing.run_queued(fake)

    email = run.one(SendActivationEmail)
    assert (email.status, email.attempts) == (Status.NEGATIVE, 1)
    assert email.negative is not None
    assert (email.negative.reason, email.negative.details) == (
        "address_bounced",
        {"user_id": user_id, "code": "550", "smtp": "5.1.1 mailbox does not exist"},
    )
    user = Accounts(fake).get(user_id)
    assert user is not None and (user.email_state, user.bounce_code) == ("bounced", "550")
    assert EmailService(fake).sent() == [] and owed(fake) == [] and run.alerts == []
    assert run.stat(SendActivationEmail, "negative.address_bounced") == 1
    # Asking again does not bounce again: the way out is another address.
    assert signup("dave@example.invalid", fake).outcome is Requested.ADDRESS_BOUNCED
    assert testing.run_queued(fake).jobs == []


def test_a_user_who_activated_before_the_email_went_out_gets_none(fake: redis.Redis) -> None:
    user_id = sign_up(fake, "grace@example.com")
    user = Accounts(fake).get(user_id)
    assert user is not None
    activate(user.activation_token, fake)  # e.g. support activated her by hand

    run = testing.run_queued(fake)

    email = run.one(SendActivationEmail)
    assert email.status is Status.NEGATIVE and email.negative is not None
    assert (email.negative.reason, email.negative.details) == ("already_activated", {"user_id": user_id})
    assert EmailService(fake).sent() == [] and owed(fake) == []


def test_an_outage_longer_than_the_budget_dead_letters_lists_the_user_and_alerts_once(
    fake: redis.Redis,
) -> None:
    user_id = sign_up(fake, "erin@example.com", *["refuse"] * 5)

    run = testing.run_queued(fake)

    email = run.one(SendActivationEmail)
    assert (email.status, email.attempts) == (Status.DEAD_LETTERED, 5)
    assert email.dead_letter is not None
    assert email.dead_letter.classification == Classification.EXHAUSTED
    assert "Gave up: 5 of 5 attempts allowed for this job failed." in email.dead_letter.message
    assert "Remediation: The user has no activation email" in email.dead_letter.message
    assert [a.title for a in run.alerts] == [
        "signup.SendActivationEmail dead-lettered (exhausted): EmailServiceRefused"
    ]
    # on_dead_letter put the user on the work list; the email is still owed (since sign-up).
    user = Accounts(fake).get(user_id)
    assert user is not None
    assert (user.email_state, user.dead_letter_entry, user.attention_reason) == (
        "needs_attention",
        email.id,
        "exhausted: EmailServiceRefused",
    )
    assert Accounts(fake).needing_attention() == [user_id] and owed(fake) == [str(user_id).encode()]
    assert EmailService(fake).sent() == []


def test_after_a_dead_letter_signing_up_again_sends_a_fresh_email_and_closes_the_entry(
    fake: redis.Redis,
) -> None:
    # Given a user whose email job was dead-lettered during an outage
    user_id = sign_up(fake, "erin@example.com", *["refuse"] * 5)
    dead = testing.run_queued(fake).one(SendActivationEmail)

    # When the service is back and she signs up again with the same address
    again = signup("erin@example.com", fake)
    run = testing.run_queued(fake)

    # Then it is a fresh email, not "address taken", and nothing is left for a person
    assert (again.user_id, again.outcome, again.created) == (user_id, Requested.ENQUEUED, False)
    assert [(r.id, r.status, r.attempts) for r in run.jobs] == [(again.job_id, Status.SUCCEEDED, 1)]
    assert [m.to for m in EmailService(fake).sent()] == ["erin@example.com"]
    entry = DeadLetterQueue(fake).get(dead.id)
    assert entry.status == "discarded"
    assert entry.audit[-1]["reason"] == "superseded: a fresh activation email was requested"
    assert Accounts(fake).needing_attention() == [] and owed(fake) == []


def test_replaying_the_dead_letter_entry_delivers_and_takes_the_user_off_the_work_list(
    fake: redis.Redis,
) -> None:
    user_id = sign_up(fake, "erin@example.com", *["refuse"] * 5)
    dead = testing.run_queued(fake).one(SendActivationEmail)

    replay_id = DeadLetterQueue(fake).replay(dead.id, by="support")
    # While the replay waits, asking again returns it rather than sending a second copy.
    asked = resend_activation("erin@example.com", fake)
    run = testing.run_queued(fake)

    assert (asked.outcome, asked.job_id) == (Requested.ON_ITS_WAY, replay_id)
    assert [(r.id, r.status) for r in run.jobs] == [(replay_id, Status.SUCCEEDED)]
    assert DeadLetterQueue(fake).get(dead.id).status == "resolved"
    user = Accounts(fake).get(user_id)
    assert user is not None and (user.email_state, user.email_job) == ("sent", replay_id)
    assert fake.zcard(NEEDS_ATTENTION) == 0 and len(EmailService(fake).sent()) == 1


def test_signing_up_twice_while_the_email_is_queued_does_not_send_twice(fake: redis.Redis) -> None:
    first = signup("hank@example.com", fake)
    second = signup("HANK@example.com", fake)

    run = testing.run_queued(fake)

    assert (second.user_id, second.outcome, second.job_id) == (
        first.user_id,
        Requested.ON_ITS_WAY,
        first.job_id,
    )
    assert len(run.jobs) == 1 and len(EmailService(fake).sent()) == 1
    # Once that email went out, asking again (it went to spam, say) sends another copy of the same link.
    assert resend_activation("hank@example.com", fake).outcome is Requested.ENQUEUED
    assert testing.run_queued(fake).one(SendActivationEmail).status is Status.SUCCEEDED
    assert len({m.body for m in EmailService(fake).sent()}) == 1 and len(EmailService(fake).sent()) == 2


def test_resending_to_an_active_or_unknown_user_sends_nothing(fake: redis.Redis) -> None:
    user_id = sign_up(fake, "ivy@example.com")
    testing.run_queued(fake)
    user = Accounts(fake).get(user_id)
    assert user is not None
    activate(user.activation_token, fake)

    assert resend_activation("ivy@example.com", fake).outcome is Requested.ALREADY_ACTIVE
    assert resend_activation("nobody@example.com", fake).outcome is Requested.NO_SUCH_USER
    assert testing.run_queued(fake).jobs == [] and len(EmailService(fake).sent()) == 1


def test_a_crash_between_creating_the_account_and_enqueueing_is_repaired_by_the_sweeper(
    fake: redis.Redis,
) -> None:
    # Given a web process that died right after committing frank's account (15 minutes ago),
    # and bob, who signed up just now and whose email is on its way
    frank, _ = Accounts(fake).create("frank@example.com", now=time.time() - 15 * 60)
    bob = sign_up(fake, "bob@example.com")

    # When cron enqueues the sweeper, and a worker runs the queue
    SweepActivationEmails.enqueue(connection=fake)
    run = testing.run_queued(fake)

    # Then frank's email is enqueued and sent, bob's is left to its own job, and one alert says why
    [bobs_email, franks_email] = run.of(SendActivationEmail)
    assert bobs_email.kwargs == {"user_id": bob} and franks_email.kwargs == {"user_id": frank.id}
    assert run.one(SweepActivationEmails).result == {
        "reenqueued": [frank.id],
        "listed": [],
        "on_its_way": [],
        "waiting_for_a_person": [],
    }
    assert [m.to for m in EmailService(fake).sent()] == ["bob@example.com", "frank@example.com"]
    assert [a.title for a in run.alerts] == [
        "signup sweeper found 1 users owed an activation email with no job for it"
    ]
    assert f"Re-enqueued their emails for users [{frank.id}]. The users need nothing" in run.alerts[0].message
    assert owed(fake) == []


def test_the_sweeper_leaves_alone_emails_on_their_way_and_users_a_person_owns(fake: redis.Redis) -> None:
    long_ago = time.time() - 3600
    queued = sign_up(fake, "jo@example.com")  # its job is queued: no worker has run yet
    fake.hset(f"signup:user:{queued}", "email_requested_at", long_ago)
    fake.zadd(OWED, {str(queued): long_ago})
    erin = sign_up(fake, "erin@example.com")  # dead-lettered, say: a person was alerted
    Accounts(fake).mark_needs_attention(erin, "entry-1", "exhausted: EmailServiceRefused")
    fake.zadd(OWED, {str(erin): long_ago})

    report = sweep(fake, SWEEP_AFTER_S)

    assert (report.reenqueued, report.listed, report.on_its_way, report.waiting_for_a_person) == (
        [],
        [],
        [queued],
        [erin],
    )
    assert testing.alerts(fake) == []


def test_the_invariant_names_users_waiting_too_long_alerts_once_and_rearms(fake: redis.Redis) -> None:
    check = invariant_runs.registered()[INVARIANT]
    assert check.every_s == 300
    frank, _ = Accounts(fake).create("frank@example.com", now=time.time() - 45 * 60)
    sign_up(fake, "alice@example.com")  # just signed up: not late

    with use(fake):
        first = invariant_runs.run(check)
        invariant_runs.report(fake, check, first)
        invariant_runs.report(fake, check, invariant_runs.run(check))  # still violated: no new alert
    assert first.records == [
        {"user_id": frank.id, "waiting_min": 45, "email_state": "owed", "job": None, "job_status": "none"}
    ]
    assert [a.title for a in testing.alerts(fake)] == [f"invariant {INVARIANT} violated by 1 record"]
    assert "is cron running `python -m examples.signup.sweep`?" in testing.alerts(fake)[0].message

    SweepActivationEmails.enqueue(connection=fake)
    testing.run_queued(fake)
    with use(fake):
        fixed = invariant_runs.run(check)
        invariant_runs.report(fake, check, fixed)
    assert fixed.ok and users_waiting(fake, WAITING_TOO_LONG_S) == []
    assert not fake.exists(f"stalwart:checks:invariant:{INVARIANT}")  # re-armed for the next time


def test_a_real_forking_worker_delivers_retries_and_bounces(connection: redis.Redis) -> None:
    service = EmailService(connection)
    service.make_undeliverable("dave@example.invalid")
    users = {
        address: sign_up(connection, address, *steps)
        for address, steps in (
            ("alice@example.com", ()),
            ("bob@example.com", ("refuse",)),
            ("carol@example.com", ("timeout_after",)),
            ("dave@example.invalid", ()),
        )
    }

    Worker(["signup"], connection=connection, mode="fork").work(burst=True)

    accounts = Accounts(connection)
    states = {address: accounts.get(user_id) for address, user_id in users.items()}
    assert {a: u.email_state if u else None for a, u in states.items()} == {
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
    assert owed(connection) == [] and testing.alerts(connection) == []


def test_the_sweeper_lists_a_dead_lettered_user_whose_hook_never_ran(fake: redis.Redis) -> None:
    # Given erin's job dead-lettered, and her worker killed before on_dead_letter listed her
    erin = sign_up(fake, "erin@example.com", *["refuse"] * 5)
    dead = testing.run_queued(fake).one(SendActivationEmail)
    long_ago = time.time() - 3600
    fake.hset(f"signup:user:{erin}", mapping={"email_state": "owed", "email_requested_at": long_ago})
    fake.hdel(f"signup:user:{erin}", "dead_letter_entry")
    fake.zrem(NEEDS_ATTENTION, str(erin))
    fake.zadd(OWED, {str(erin): long_ago})
    alerts_before = len(testing.alerts(fake))

    report = sweep(fake, SWEEP_AFTER_S)

    # Then the sweeper does the hook's work instead of re-enqueueing behind the person's back
    assert (report.reenqueued, report.listed) == ([], [erin])
    user = Accounts(fake).get(erin)
    assert user is not None and (user.email_state, user.dead_letter_entry) == ("needs_attention", dead.id)
    assert [a.title for a in testing.alerts(fake)[alerts_before:]] == [
        "signup sweeper found 1 users owed an activation email with no job for it"
    ]
    assert testing.run_queued(fake).jobs == []
