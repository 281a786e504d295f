"""Sign-up: create the account, and make sure its activation email goes out or a person knows it did not.

The promise: no user is left without an activation email *and* without a way to get one. Each way
that could break, and what covers it:

1. **The process dies between creating the account and enqueueing the email.** ``Accounts.create``
   writes the user and the "email owed" marker in one MULTI, so a user never exists without the
   marker. The enqueue is a second step: in a real application the accounts live in the application's
   database and the queue in Redis, and no transaction spans both. If it never happens, the sweeper
   (``SweepActivationEmails``, every few minutes) finds the marker with no job behind it, enqueues
   the email, and raises one alert so someone finds out why.
2. **The email service refuses, or answers 429.** Nothing was sent: retried with backoff.
3. **The service times out.** The message may have gone out. The job is idempotent *by nature*, and
   timeouts are retried: see ``SendActivationEmail``.
4. **The address bounces for good**, **the user activated meanwhile**, **the account was deleted**:
   business outcomes, returned as ``Negative`` (never retried, never alerted). A bounced user is told
   on the sign-in page and signs up with a correct address.
5. **The service stays down longer than the job's budget.** The job is dead-lettered (one alert, with
   the remediation below), and ``on_dead_letter`` lists the user under ``signup:needs_attention``. The
   user gets a fresh email by signing up again or asking for one (``resend_activation``); support does
   the same, or replays the dead-letter entry.
6. **Anything else** (workers down, a sweeper that stopped running): the invariant in ``checks.py``
   alerts about any user still owed an email 30 minutes after signing up, whatever the reason.
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass, field

import redis

from jobs import (
    DeadLetterEntry,
    DeadLetterQueue,
    EnqueueError,
    Job,
    JobHandle,
    Negative,
    Status,
    connect,
    stats,
)
from jobs.errors import DeadLetterError, NoSuchEntryError, NoSuchJobError
from jobs.telemetry.alerts import Alert, raise_alert
from resilience import Exponential, attempting

from .accounts import Accounts, User
from .mailer import EmailService, EmailServiceRefused, EmailServiceThrottled, EmailServiceTimeout

log = logging.getLogger("examples.signup")

SUBJECT = "Activate your account"
ACTIVATION_URL = "https://app.example.com/activate?token="
IN_FLIGHT = frozenset({Status.QUEUED, Status.SCHEDULED, Status.STARTED})
# Long enough that the sweeper never races a sign-up that is between its two steps right now.
SWEEP_AFTER_S = 600


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
        "The user has no activation email and is listed in signup:needs_attention. Check the email "
        "service (status page, credentials, sending quota). Once it sends again, replay: "
        "`stalwart dlq replay --all --job signup.SendActivationEmail --import examples.signup.signup`. "
        "The user can also get a fresh email by signing up again or asking for one on the sign-in page."
    )

    def describe(self, user_id: int) -> str:
        return f"sending the activation email to user {user_id}"

    def perform(self, user_id: int) -> str | Negative:
        connection = connect()
        accounts = Accounts(connection)
        user = accounts.get(user_id)
        if user is None:
            accounts.drop_markers(user_id)
            return Negative("no_such_user", user_id=user_id)  # the account was deleted meanwhile
        if user.state == "active":
            return Negative("already_activated", user_id=user_id)
        delivery = EmailService(connection).send(user.email, SUBJECT, activation_body(user.activation_token))
        if delivery.message_id is None:
            # A permanent rejection is the service's answer, not a failure: retrying cannot change it.
            accounts.mark_bounced(user_id, delivery.code or "unknown", self.job_id)
            stats.incr("signup.activation_email.bounced")
            return Negative("address_bounced", user_id=user_id, code=delivery.code, smtp=delivery.reason)
        # If recording fails now, the dead-letter message must say the email did go out.
        with attempting(
            f"recording that user {user_id}'s activation email went out as {delivery.message_id}",
            user_id=user_id,
            message_id=delivery.message_id,
        ):
            accounts.mark_sent(user_id, delivery.message_id, self.job_id)
        stats.incr("signup.activation_email.sent")
        return delivery.message_id

    def on_dead_letter(self, entry: DeadLetterEntry) -> None:
        """Put the user on the work list, so the dead letter is also a named person waiting for help."""
        user_id = int(entry.kwargs["user_id"])
        listed = Accounts(connect()).mark_needs_attention(
            user_id, entry.id, f"{entry.classification}: {entry.error_type}"
        )
        if listed:
            stats.incr("signup.activation_email.needs_attention")
            log.warning(
                "user %s has no activation email: listed in signup:needs_attention (dead-letter entry %s)",
                user_id,
                entry.id,
            )


# -- the application's side: sign-up and "send me the email again" ------------------------------


class Requested(str, enum.Enum):
    """What a request for an activation email led to."""

    ENQUEUED = "enqueued"  # a job is on its way
    ON_ITS_WAY = "on_its_way"  # a job for this user is already queued, scheduled or running
    DEFERRED = "deferred"  # the queue did not answer; the sweeper enqueues it within minutes
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


def signup(email: str, connection: redis.Redis | None = None) -> EmailRequest:
    """Create the account for ``email`` and enqueue its activation email; raises InvalidEmail.

    Signing up again with an address that is still pending is a request for the email again, not an
    error: an address stored before its email failed must never lock its owner out.
    """
    connection = connection if connection is not None else connect()
    accounts = Accounts(connection)
    user, created = accounts.create(email)
    if not created:
        return _resend(connection, accounts, user)
    log.info("user %s signed up; enqueueing the activation email", user.id)
    return _enqueue(connection, accounts, user.id, created=True)


def resend_activation(email: str, connection: redis.Redis | None = None) -> EmailRequest:
    """Send the activation email again: the sign-in page's "didn't get it?" link, or support."""
    connection = connection if connection is not None else connect()
    accounts = Accounts(connection)
    user = accounts.by_email(email)
    if user is None:
        return EmailRequest(None, Requested.NO_SUCH_USER)
    return _resend(connection, accounts, user)


def activate(token: str, connection: redis.Redis | None = None) -> User | None:
    """The user followed the link in the email; None if the token is unknown."""
    return Accounts(connection if connection is not None else connect()).activate(token)


def _resend(connection: redis.Redis, accounts: Accounts, user: User) -> EmailRequest:
    if user.state == "active":
        return EmailRequest(user.id, Requested.ALREADY_ACTIVE)
    if user.email_state == "bounced":
        # Hard bounces again and again cost the sender's reputation, and every user's email with it.
        return EmailRequest(user.id, Requested.ADDRESS_BOUNCED)
    on_its_way = job_on_its_way(connection, user)
    if on_its_way is not None:
        return EmailRequest(user.id, Requested.ON_ITS_WAY, on_its_way)
    if user.dead_letter_entry is not None:
        _close_entry(connection, user.dead_letter_entry)
    accounts.request_email(user.id)
    return _enqueue(connection, accounts, user.id, created=False)


def _close_entry(connection: redis.Redis, entry_id: str) -> None:
    """A fresh job supersedes a dead one: discard its entry, so the dead-letter queue lists only work."""
    try:
        DeadLetterQueue(connection).discard(
            entry_id, reason="superseded: a fresh activation email was requested", by="signup.resend"
        )
    except (NoSuchEntryError, DeadLetterError) as err:
        # Already replayed, resolved or discarded by someone: theirs stands; nothing to close.
        log.info("left dead-letter entry %s as it is (%s)", entry_id, err)


def _enqueue(connection: redis.Redis, accounts: Accounts, user_id: int, *, created: bool) -> EmailRequest:
    try:
        handle = SendActivationEmail.enqueue(connection=connection, user_id=user_id)
    except EnqueueError as err:
        # The account and its marker are committed, so the email is owed where the sweeper looks: the
        # sign-up succeeded. Failing it now would only send the user back to a form that says "taken".
        log.warning("could not enqueue user %s's activation email (%s); the sweeper will", user_id, err)
        return EmailRequest(user_id, Requested.DEFERRED, created=created)
    accounts.record_job(user_id, handle.id)
    return EmailRequest(user_id, Requested.ENQUEUED, handle.id, created)


def job_status(connection: redis.Redis, job_id: str | None) -> Status | None:
    """Where a job is now; None when there is none, or Redis no longer knows it."""
    if job_id is None:
        return None
    try:
        return JobHandle(job_id, SendActivationEmail.name, connection).status()
    except NoSuchJobError:
        return None


def job_on_its_way(connection: redis.Redis, user: User) -> str | None:
    """The id of a job that is still to send this user's email (queued, scheduled, running), or None."""
    if job_status(connection, user.email_job) in IN_FLIGHT:
        return user.email_job
    if user.dead_letter_entry is not None:
        # Support may have replayed the dead-letter entry: the replay is a job of its own.
        try:
            entry = DeadLetterQueue(connection).get(user.dead_letter_entry)
        except NoSuchEntryError:
            return None
        if entry.status == "replayed" and job_status(connection, entry.replays[-1]) in IN_FLIGHT:
            return entry.replays[-1]
    return None


# -- the sweeper --------------------------------------------------------------------------------


@dataclass
class SweepReport:
    """What one sweep found among users owed an email for longer than it allows."""

    reenqueued: list[int] = field(default_factory=list)
    listed: list[int] = field(default_factory=list)
    on_its_way: list[int] = field(default_factory=list)
    waiting_for_a_person: list[int] = field(default_factory=list)


def sweep(
    connection: redis.Redis, older_than_s: float = SWEEP_AFTER_S, now: float | None = None
) -> SweepReport:
    """Find users owed an email for over ``older_than_s`` with no job on its way, and put one on its way.

    Re-enqueueing is safe even if a sweep runs twice at once: the worst case is a second copy of the
    same email, which is harmless (see ``SendActivationEmail``).
    """
    now = time.time() if now is None else now
    accounts = Accounts(connection)
    report = SweepReport()
    for user_id, _since in accounts.owed_before(now - older_than_s):
        user = accounts.get(user_id)
        if user is None:
            accounts.drop_markers(user_id)
            continue
        if user.email_state == "needs_attention":
            # Dead-lettered: a person was alerted and owns it now. Re-enqueueing behind their back
            # while the email service is still down would only dead-letter again.
            report.waiting_for_a_person.append(user_id)
            continue
        if user.email_requested_at > now - older_than_s or job_on_its_way(connection, user) is not None:
            report.on_its_way.append(user_id)
            continue
        if user.email_job is not None and job_status(connection, user.email_job) is Status.DEAD_LETTERED:
            # Its on_dead_letter hook never ran (the worker died right after the dead letter): do its work.
            if accounts.mark_needs_attention(user_id, user.email_job, "dead_lettered (found by the sweeper)"):
                report.listed.append(user_id)
            continue
        # No job, or one Redis no longer knows: the email was never enqueued, or its job was lost.
        accounts.request_email(user_id, now)
        _enqueue(connection, accounts, user_id, created=False)
        report.reenqueued.append(user_id)
    if report.reenqueued or report.listed:
        raise_alert(_sweep_alert(report, older_than_s), connection=connection)
    return report


def _sweep_alert(report: SweepReport, older_than_s: float) -> Alert:
    done = []
    if report.reenqueued:
        done.append(f"Re-enqueued their emails for users {report.reenqueued}.")
    if report.listed:
        done.append(
            f"Listed users {report.listed} in signup:needs_attention: their job was dead-lettered, but its "
            "on_dead_letter hook never listed them."
        )
    return Alert(
        title=(
            f"signup sweeper found {len(report.reenqueued) + len(report.listed)} users owed an activation "
            "email with no job for it"
        ),
        message=(
            f"Users owed an activation email for over {older_than_s / 60:g} minutes had no job queued, "
            f"scheduled or running for it. {' '.join(done)} The users need nothing more from you. "
            "Remediation: find out why their emails had no job: a web process killed between creating the "
            "account and enqueueing (search the logs for these users' 'signed up' lines with no job after "
            "them), a worker killed before on_dead_letter ran, Redis restarted without its append-only "
            "file, or a queue emptied by hand."
        ),
        tags={"sweeper": "signup"},
        fingerprint=["signup.sweeper", "email_without_job"],
        context={"reenqueued": report.reenqueued, "listed": report.listed},
    )


class SweepActivationEmails(Job):
    """The sweeper, as a job: cron enqueues it every few minutes (``python -m examples.signup.sweep``)."""

    name = "signup.SweepActivationEmails"
    queue = "signup"
    # A sweep that dies midway is simply run again: users it already handled now have a job on its way.
    idempotent = True
    timeout_s = 300
    remediation = (
        "The sweep runs again at its next cron tick; if it keeps failing, users owed an activation email "
        "are not being repaired: fix the cause shown above, then run `python -m examples.signup.sweep`."
    )

    def describe(self, older_than_s: int = SWEEP_AFTER_S) -> str:
        return f"sweeping users owed an activation email for over {older_than_s} s"

    def perform(self, older_than_s: int = SWEEP_AFTER_S) -> dict[str, list[int]]:
        report = sweep(connect(), older_than_s)
        return {
            "reenqueued": report.reenqueued,
            "listed": report.listed,
            "on_its_way": report.on_its_way,
            "waiting_for_a_person": report.waiting_for_a_person,
        }
