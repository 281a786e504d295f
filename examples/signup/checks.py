"""The invariant behind the promise: no user waits long for an activation email without someone knowing.

``stalwart check --import examples.signup.checks`` (cron) or ``stalwart watch --import
examples.signup.checks`` (a long-running process) runs it. It looks at the outcome a user sees, not at
any one mechanism, so it also catches what the mechanisms miss: no worker relaying the outbox, workers
that are down, a backlog, a dead letter nobody acted on.
"""

from __future__ import annotations

import time
from typing import Any

import redis

import jobs

from .accounts import Accounts, open_database, transaction
from .signup import job_on_its_way, job_status

WAITING_TOO_LONG_S = 30 * 60


def users_waiting(
    db: Any, connection: redis.Redis, older_than_s: float, now: float | None = None
) -> list[dict[str, Any]]:
    """Pending users owed an activation email for over ``older_than_s``, with where their email is."""
    now = time.time() if now is None else now
    waiting: list[dict[str, Any]] = []
    with transaction(db):
        accounts = Accounts(db)
        for user_id, since in accounts.waiting_since_before(now - older_than_s):
            user = accounts.get(user_id)
            if user is None:
                continue
            job = job_on_its_way(accounts, connection, user) or user.email_job
            waiting.append(
                {
                    "user_id": user_id,
                    "waiting_min": round((now - since) / 60),
                    "email_state": user.email_state,
                    "job": job,
                    "job_status": job_status(accounts, connection, job) or "none",
                }
            )
    return waiting


@jobs.invariant(
    "signup_users_waiting_for_activation_email",
    every_s=300,
    remediation=(
        "These users signed up over 30 minutes ago and still have no activation email. By job_status: "
        "'in_outbox': no worker relays the outbox: run workers with --outbox URL (or STALWART_OUTBOX_URL) "
        "and see `stalwart outbox status`. 'queued' or 'scheduled': the workers on queue 'signup' are down "
        "or far behind (start them; see `stalwart stats`). 'dead_lettered': the email service failed and "
        "nobody has replayed yet: fix it, then `stalwart dlq replay --all --job signup.SendActivationEmail "
        "--import examples.signup.signup`. 'none': the job is gone from Redis (restarted without its "
        "append-only file, or a queue emptied by hand): ask for the email again "
        "(`python -m examples.signup.simulate resend ADDRESS`)."
    ),
)
def users_waiting_for_activation_email() -> list[dict[str, Any]]:
    """Users owed an activation email for over 30 minutes."""
    db = open_database()
    try:
        return users_waiting(db, jobs.connect(), WAITING_TOO_LONG_S)
    finally:
        db.close()
