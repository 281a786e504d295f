"""Drive the sign-up example by hand: ``python -m examples.signup.simulate COMMAND``.

- ``scenario``: sign up six users, each meeting a different fault of the email service, one of them
  from a web process that is SIGKILLed right after its sign-up commits.
- ``status``: every user, where their activation email is, and how many copies the service sent.
- ``signup ADDRESS``, ``resend ADDRESS``: what the sign-up form and the "send it again" link call.
- ``activate ADDRESS``: follow the link in the last email the address received.

The users live in ``SIGNUP_DATABASE_URL`` (by default the SQLite file ``.stalwart/signup.db``); the
email service simulator and the queue in Redis (``REDIS_URL``, or ``stalwart redis start``'s).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Sequence

from jobs import connect

from .accounts import Accounts, install, open_database, transaction
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


def scenario() -> int:
    db = open_database()
    install(db)
    with transaction(db):
        if Accounts(db).all():
            print(
                "the database already has users from an earlier run; start from an empty one: "
                "`rm .stalwart/signup.db` (and `stalwart redis stop && rm -rf .stalwart` for Redis)",
                file=sys.stderr,
            )
            return 1
    service = EmailService(connect())
    for address, steps, story in SCENARIO:
        service.script(address, *steps)
        if address.endswith(".invalid"):
            service.make_undeliverable(address)
        request = signup(address, db)
        print(f"signed up {address:<21} as user {request.user_id}: {request.outcome} ({story})")
    # A web process SIGKILLed right after its sign-up committed: nothing after the commit runs in it.
    crashed = subprocess.run(
        [sys.executable, "-m", "examples.signup.simulate", "signup-and-die", CRASHED], check=False
    )
    with transaction(db):
        user = Accounts(db).by_email(CRASHED)
    print(
        f"signed up {CRASHED:<21} as user {user.id if user else '?'}: committed, then its web process "
        f"was killed (exit {crashed.returncode})"
    )
    return 0


def status() -> int:
    db, connection = open_database(), connect()
    service = EmailService(connection)
    print(f"{'user':<5} {'email':<21} {'state':<8} {'email_state':<16} {'job':<14} emails received")
    with transaction(db):
        accounts = Accounts(db)
        for user in accounts.all():
            job = job_on_its_way(accounts, connection, user) or user.email_job
            state = job_status(accounts, connection, job) or "none"
            print(
                f"{user.id:<5} {user.email:<21} {user.state:<8} {user.email_state:<16} {state:<14} "
                f"{len(service.sent(user.email))}"
            )
    return 0


def follow_link(address: str) -> int:
    received = EmailService(connect()).sent(address)
    if not received:
        print(f"{address} has received no email; nothing to follow", file=sys.stderr)
        return 1
    token = received[-1].body.split(ACTIVATION_URL, 1)[1].split()[0]
    user = activate(token)
    print(f"{address}: {'activated user ' + str(user.id) if user else 'the link is not valid'}")
    return 0 if user else 1


def signup_and_die(address: str) -> int:
    """Sign up, then die at once, as a web process killed right after its commit."""
    signup(address)
    os.kill(os.getpid(), signal.SIGKILL)
    return 1  # never reached


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command of the simulation."""
    parser = argparse.ArgumentParser(prog="python -m examples.signup.simulate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("scenario", help="sign up six users, each meeting a different fault")
    commands.add_parser("status", help="every user and where their activation email is")
    for name in ("signup", "resend", "activate", "signup-and-die"):
        commands.add_parser(name).add_argument("address")
    args = parser.parse_args(argv)
    if args.command == "scenario":
        return scenario()
    if args.command == "status":
        return status()
    if args.command == "activate":
        return follow_link(args.address)
    if args.command == "signup-and-die":
        return signup_and_die(args.address)
    install(open_database())
    request = (signup if args.command == "signup" else resend_activation)(args.address)
    print(f"{args.address}: user {request.user_id}, {request.outcome}, job {request.job_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
