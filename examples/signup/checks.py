"""The invariant behind the promise: no user waits long for an activation email without someone knowing.

``stalwart check --import examples.signup.checks`` (cron) or ``stalwart watch --import
examples.signup.checks`` (a long-running process) runs it. It looks at the outcome a user sees, not at
any one mechanism, so it also catches what the mechanisms miss: workers that are down, a backlog, a
sweeper that stopped running, a dead letter nobody acted on.
"""

from __future__ import annotations

import time
from typing import Any

import redis

import jobs

from .accounts import Accounts
from .signup import job_on_its_way, job_status

# Three sweeps' worth (every 5 minutes, for users owed for 10): past this, automation has had its chance.
WAITING_TOO_LONG_S = 30 * 60


def users_waiting(
    connection: redis.Redis, older_than_s: float, now: float | None = None
) -> list[dict[str, Any]]:
    """Pending users owed an activation email for over ``older_than_s``, with where their email is."""
    now = time.time() if now is None else now
    accounts = Accounts(connection)
    waiting: list[dict[str, Any]] = []
    for user_id, since in accounts.owed_before(now - older_than_s):
        user = accounts.get(user_id)
        if user is None:
            continue
        job = job_on_its_way(connection, user) or user.email_job
        status = job_status(connection, job)
        waiting.append(
            {
                "user_id": user_id,
                "waiting_min": round((now - since) / 60),
                "email_state": user.email_state,
                "job": job,
                "job_status": str(status) if status is not None else "none",
            }
        )
    return waiting


@jobs.invariant(
    "signup_users_waiting_for_activation_email",
    every_s=300,
    remediation=(
        "These users signed up over 30 minutes ago and still have no activation email. By job_status: "
        "'queued' or 'scheduled': the workers on queue 'signup' are down or far behind (start them; see "
        "`stalwart stats`). 'dead_lettered': the email service failed and nobody has replayed yet: fix it, "
        "then `stalwart dlq replay --all --job signup.SendActivationEmail --import examples.signup.signup`. "
        "'none' or 'succeeded': their job was lost and the sweeper has not repaired it: is cron running "
        "`python -m examples.signup.sweep`? Run it now."
    ),
)
def users_waiting_for_activation_email() -> list[dict[str, Any]]:
    """Users owed an activation email for over 30 minutes."""
    return users_waiting(jobs.connect(), WAITING_TOO_LONG_S)
