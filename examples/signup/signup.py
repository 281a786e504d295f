"""Sign-up: create the account and its activation email in one transaction, through the outbox.

The promise: no user is left without an activation email *and* without a way to get one. Each way
that could break, and what covers it:

1. **The process dies right after the sign-up commits**, or **Redis is down** at that moment. The
   user's row and the job that emails them are written in one transaction of the application's
   database (``outbox.enqueue``): both are committed, or neither. A worker's relay (``stalwart worker
   --outbox URL``) moves the job to Redis once, whenever it can; the sign-up itself never touches
   Redis. A sign-up that fails before its commit leaves no user and no job.
2. **The email service refuses, or answers 429.** Nothing was sent: retried with backoff.
3. **The service times out.** The message may have gone out. The job is idempotent *by nature*, and
   timeouts are retried: see ``SendActivationEmail``.
4. **The address bounces for good**, **the user activated meanwhile**, **the account was deleted**:
   business outcomes, returned as ``Negative`` (never retried, never alerted). A bounced user is told
   on the sign-in page and signs up with a correct address.
5. **The service stays down longer than the job's budget.** The job is dead-lettered (one alert, with
   the remediation below), and ``on_dead_letter`` lists the user (``email_state`` ``needs_attention``).
   The user gets a fresh email by signing up again or asking for one (``resend_activation``); support
   does the same, or replays the dead-letter entry.
6. **Anything else** (no worker relaying the outbox, workers down, a backlog): the invariant in
   ``checks.py`` alerts about any user still owed an email 30 minutes after signing up.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any

import redis

from jobs import (
    DeadLetterEntry,
    DeadLetterQueue,
    Job,
    JobHandle,
    Negative,
    Status,
    connect,
    outbox,
    stats,
)
from jobs.errors import DeadLetterError, NoSuchEntryError, NoSuchJobError
from resilience import Exponential, attempting

from .accounts import Accounts, User, open_database, transaction
from .mailer import EmailService, EmailServiceRefused, EmailServiceThrottled, EmailServiceTimeout

log = logging.getLogger("examples.signup")

SUBJECT = "Activate your account"
ACTIVATION_URL = "https://app.example.com/activate?token="
IN_FLIGHT = frozenset(s.value for s in (Status.QUEUED, Status.SCHEDULED, Status.STARTED))
# Where a job is while it waits in the outbox for a relay: committed, not yet in Redis.
IN_OUTBOX = "in_outbox"


def activation_body(token: str) -> str:
    """The email's text: the one link the user needs. It is the same link in every copy sent."""
    return f"Welcome! Follow this link to activate your account:\n{ACTIVATION_URL}{token}\n"


class SendActivationEmail(Job):
    """Send one user their activation email, or say why it does not need to (or cannot) be sent.

    Idempotent by nature, so ``idempotent = True`` without an ``IdempotencyGuard``. A timeout after
    the service accepted the message means the retry sends it again: the user gets two copies of the
    same email, both with the same link (the token is made once, at sign-up, and a resend never
    changes it), so either copy works. That costs nothing. The alternative costs a user: guarded by
    ``IdempotencyGuard``, the timeout would leave the key "started", the retry would raise
    ``SideEffectUncertain``, and the user would wait for a person to read the email service's logs
    before receiving the one email that lets them in. Charging a card twice takes a customer's money;
    sending this email twice does not. (A message that must not go twice, a receipt with an amount,
    say, belongs behind ``IdempotencyGuard(...).once(key, release_on=(EmailServiceRefused,
    EmailServiceThrottled))`` with ``idempotent = False``.) Copies are still kept few: a resend while a
    job for the user is on its way returns that job instead of enqueueing another.
    """

    name = "signup.SendActivationEmail"
    queue = "signup"
    # Refused and 429: the message certainly was not sent, so a retry cannot duplicate it.
    retry_on = (EmailServiceRefused, EmailServiceThrottled)
    # A timeout may mean it was sent; retried only because the job is idempotent (see above).
    ambiguous_on = (EmailServiceTimeout,)
    idempotent = True
    # About 15 s of blips in all (1, 2, 4, 8 s, jittered). A longer outage dead-letters the job, which
    # lists the user for a person; the fresh job a resend enqueues then gets a budget of its own.
    max_attempts = 5
    backoff = Exponential(base=2, initial=1, cap=300)
    timeout_s = 60
    remediation = (
        "The user has no activation email and is marked needs_attention in the users table. Check the email "
        "service (status page, credentials, sending quota). Once it sends again, replay: "
        "`stalwart dlq replay --all --job signup.SendActivationEmail --import examples.signup.signup`. "
        "The user can also get a fresh email by signing up again or asking for one on the sign-in page."
    )

    def describe(self, user_id: int) -> str:
        return f"sending the activation email to user {user_id}"

    def perform(self, user_id: int) -> str | Negative:
        db = open_database()
        try:
            with transaction(db):
                user = Accounts(db).get(user_id)
            if user is None:
                return Negative("no_such_user", user_id=user_id)  # the account was deleted meanwhile
            if user.state == "active":
                return Negative("already_activated", user_id=user_id)
            delivery = EmailService(connect()).send(
                user.email, SUBJECT, activation_body(user.activation_token)
            )
            if delivery.message_id is None:
                # A permanent rejection is the service's answer, not a failure: retrying cannot change it.
                with transaction(db):
                    Accounts(db).mark_bounced(user_id, delivery.code or "unknown", self.job_id)
                stats.incr("signup.activation_email.bounced")
                return Negative("address_bounced", user_id=user_id, code=delivery.code, smtp=delivery.reason)
            # If recording fails now, the dead-letter message must say the email did go out.
            with (
                attempting(
                    f"recording that user {user_id}'s activation email went out as {delivery.message_id}",
                    user_id=user_id,
                    message_id=delivery.message_id,
                ),
                transaction(db),
            ):
                Accounts(db).mark_sent(user_id, delivery.message_id, self.job_id)
            stats.incr("signup.activation_email.sent")
            return delivery.message_id
        finally:
            db.close()

    def on_dead_letter(self, entry: DeadLetterEntry) -> None:
        """Put the user on the work list, so the dead letter is also a named person waiting for help."""
        user_id = int(entry.kwargs["user_id"])
        db = open_database()
        try:
            with transaction(db):
                listed = Accounts(db).mark_needs_attention(
                    user_id, entry.id, f"{entry.classification}: {entry.error_type}"
                )
        finally:
            db.close()
        if listed:
            stats.incr("signup.activation_email.needs_attention")
            log.warning(
                "user %s has no activation email: marked needs_attention (dead-letter entry %s)",
                user_id,
                entry.id,
            )


# -- the application's side: sign-up and "send me the email again" ------------------------------


class Requested(str, enum.Enum):
    """What a request for an activation email led to."""

    ENQUEUED = "enqueued"  # committed with a job in the outbox: on its way
    ON_ITS_WAY = "on_its_way"  # a job for this user is already in the outbox, queued, scheduled or running
    ALREADY_ACTIVE = "already_active"
    ADDRESS_BOUNCED = "address_bounced"  # sending again would bounce again: the user gives another address
    NO_SUCH_USER = "no_such_user"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class EmailRequest:
    """The answer to a sign-up or a resend: the user, what happened to their email, and its job."""

    user_id: int | None
    outcome: Requested
    job_id: str | None = None
    created: bool = False


def signup(email: str, db: Any = None, connection: redis.Redis | None = None) -> EmailRequest:
    """Create the account for ``email`` and its activation email's job, in one transaction of ``db``
    (the application's database); raises InvalidEmail. Redis is not needed to sign up.

    Signing up again with an address that is still pending is a request for the email again, not an
    error: an address stored before its email failed must never lock its owner out.
    """
    db = db if db is not None else open_database()
    with transaction(db):
        accounts = Accounts(db)
        user, created = accounts.create(email)
        if created:
            job_id = outbox.enqueue(db, SendActivationEmail, user_id=user.id)
            accounts.record_job(user.id, job_id)
    if not created:
        return resend_activation(email, db, connection)
    log.info("user %s signed up; their activation email is job %s, in the outbox", user.id, job_id)
    return EmailRequest(user.id, Requested.ENQUEUED, job_id, created=True)


def resend_activation(email: str, db: Any = None, connection: redis.Redis | None = None) -> EmailRequest:
    """Send the activation email again: the sign-in page's "didn't get it?" link, or support."""
    db = db if db is not None else open_database()
    with transaction(db):
        accounts = Accounts(db)
        user = accounts.by_email(email)
        if user is None:
            return EmailRequest(None, Requested.NO_SUCH_USER)
        if user.state == "active":
            return EmailRequest(user.id, Requested.ALREADY_ACTIVE)
        if user.email_state == "bounced":
            # Hard bounces again and again cost the sender's reputation, and every user's email with it.
            return EmailRequest(user.id, Requested.ADDRESS_BOUNCED)
        connection = connection if connection is not None else connect()
        on_its_way = job_on_its_way(accounts, connection, user)
        if on_its_way is not None:
            return EmailRequest(user.id, Requested.ON_ITS_WAY, on_its_way)
        accounts.request_email(user.id)
        job_id = outbox.enqueue(db, SendActivationEmail, user_id=user.id)
        accounts.record_job(user.id, job_id)
    if user.dead_letter_entry is not None:
        _close_entry(connection, user.dead_letter_entry)
    return EmailRequest(user.id, Requested.ENQUEUED, job_id)


def activate(token: str, db: Any = None) -> User | None:
    """The user followed the link in the email; None if the token is unknown."""
    db = db if db is not None else open_database()
    with transaction(db):
        return Accounts(db).activate(token)


def _close_entry(connection: redis.Redis, entry_id: str) -> None:
    """A fresh job supersedes a dead one: discard its entry, so the dead-letter queue lists only work."""
    try:
        DeadLetterQueue(connection).discard(
            entry_id, reason="superseded: a fresh activation email was requested", by="signup.resend"
        )
    except (NoSuchEntryError, DeadLetterError) as err:
        # Already replayed, resolved or discarded by someone: theirs stands; nothing to close.
        log.info("left dead-letter entry %s as it is (%s)", entry_id, err)


def job_status(accounts: Accounts, connection: redis.Redis, job_id: str | None) -> str | None:
    """Where a job is now: ``in_outbox`` (committed, not yet in Redis), its status in Redis, or None."""
    if job_id is None:
        return None
    if accounts.in_outbox(job_id):
        return IN_OUTBOX
    try:
        return JobHandle(job_id, SendActivationEmail.name, connection).status().value
    except NoSuchJobError:
        return None


def job_on_its_way(accounts: Accounts, connection: redis.Redis, user: User) -> str | None:
    """The id of a job that is still to send this user's email (in the outbox, queued, scheduled,
    running), or None."""
    if job_status(accounts, connection, user.email_job) in {IN_OUTBOX, *IN_FLIGHT}:
        return user.email_job
    if user.dead_letter_entry is not None:
        # Support may have replayed the dead-letter entry: the replay is a job of its own.
        try:
            entry = DeadLetterQueue(connection).get(user.dead_letter_entry)
        except NoSuchEntryError:
            return None
        if entry.status == "replayed" and job_status(accounts, connection, entry.replays[-1]) in IN_FLIGHT:
            return entry.replays[-1]
    return None
