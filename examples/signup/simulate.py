"""Drive the sign-up example by hand: ``python -m examples.signup.simulate COMMAND``.

- ``scenario``: sign up six users, each meeting a different fault of the email service, and one
  whose web process "crashed" between creating the account and enqueueing its email.
- ``status``: every user, where their activation email is, and how many copies the service sent.
- ``signup ADDRESS``, ``resend ADDRESS``: what the sign-up form and the "send it again" link call.
- ``activate ADDRESS``: follow the link in the last email the address received.

Redis is ``REDIS_URL``, or the embedded server ``stalwart redis start`` runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from jobs import connect

from .accounts import NEXT_ID, Accounts
from .mailer import EmailService
from .signup import ACTIVATION_URL, activate, job_on_its_way, job_status, resend_activation, signup

# Who signs up in the scenario, and what the email service does to their first sends.
SCENARIO: list[tuple[str, tuple[str, ...], str]] = [
    ("alice@example.com", (), "the service works"),
    ("bob@example.com", ("refuse", "refuse"), "refused twice, then works"),
    ("carol@example.com", ("timeout_after",), "accepts the message, then times out"),
    ("dave@example.invalid", (), "the mailbox does not exist"),
    ("erin@example.com", ("refuse",) * 5, "refused 5 times: an outage longer than the job's budget"),
]
CRASHED = "frank@example.com"
CRASHED_MINUTES_AGO = 45


def scenario() -> int:
    connection = connect()
    if connection.exists(NEXT_ID):
        print(
            "the database already has users from an earlier run; start from an empty one: "
            "`stalwart redis stop && rm -rf .stalwart`, then `stalwart redis start`",
            file=sys.stderr,
        )
        return 1
    service = EmailService(connection)
    for address, steps, story in SCENARIO:
        service.script(address, *steps)
        if address.endswith(".invalid"):
            service.make_undeliverable(address)
        request = signup(address, connection)
        print(f"signed up {address:<21} as user {request.user_id}: {request.outcome} ({story})")
    # What a web process killed right after committing the account leaves behind: the user and the
    # "email owed" marker, and no job. Backdated, as if it happened a while ago.
    user, _ = Accounts(connection).create(CRASHED, now=time.time() - CRASHED_MINUTES_AGO * 60)
    print(
        f"signed up {CRASHED:<21} as user {user.id}: NO JOB (the web process died before enqueueing, "
        f"{CRASHED_MINUTES_AGO} minutes ago)"
    )
    return 0


def status() -> int:
    connection = connect()
    service = EmailService(connection)
    print(f"{'user':<5} {'email':<21} {'state':<8} {'email_state':<16} {'job':<14} emails received")
    for user in Accounts(connection).all():
        job = job_on_its_way(connection, user) or user.email_job
        state = job_status(connection, job)
        print(
            f"{user.id:<5} {user.email:<21} {user.state:<8} {user.email_state:<16} "
            f"{str(state) if state else 'none':<14} {len(service.sent(user.email))}"
        )
    return 0


def follow_link(address: str) -> int:
    connection = connect()
    received = EmailService(connection).sent(address)
    if not received:
        print(f"{address} has received no email; nothing to follow", file=sys.stderr)
        return 1
    token = received[-1].body.split(ACTIVATION_URL, 1)[1].split()[0]
    user = activate(token, connection)
    print(f"{address}: {'activated user ' + str(user.id) if user else 'the link is not valid'}")
    return 0 if user else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command of the simulation."""
    parser = argparse.ArgumentParser(prog="python -m examples.signup.simulate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("scenario", help="sign up six users, each meeting a different fault")
    commands.add_parser("status", help="every user and where their activation email is")
    for name in ("signup", "resend", "activate"):
        commands.add_parser(name).add_argument("address")
    args = parser.parse_args(argv)
    if args.command == "scenario":
        return scenario()
    if args.command == "status":
        return status()
    if args.command == "activate":
        return follow_link(args.address)
    request = (signup if args.command == "signup" else resend_activation)(args.address, connect())
    print(f"{args.address}: user {request.user_id}, {request.outcome}, job {request.job_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
