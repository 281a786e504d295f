"""Jobs on the ``mail`` queue only, for workers started with no ``--queue`` (``--import tests.mail_queue_jobs``).

Imported alone by the worker under test, so these are every job it knows.
"""

from __future__ import annotations

from jobs import Job, connect
from resilience import Fixed

# Long enough for a burst worker to wait through several rounds (RQ logged a line on each).
RETRY_AFTER_S = 3


class SendWelcome(Job):
    """Records the user it welcomed."""

    name = "tests.SendWelcome"
    queue = "mail"

    def perform(self, user_id: int) -> int:
        connect().rpush("welcomed", user_id)
        return user_id


class SendDigestOnSecondTry(Job):
    """Refused on its first attempt, sent on the retry, ``RETRY_AFTER_S`` later."""

    name = "tests.SendDigestOnSecondTry"
    queue = "mail"
    retry_on = (ConnectionRefusedError,)
    backoff = Fixed(RETRY_AFTER_S)

    def perform(self, key: str) -> str:
        if connect().incr(key) == 1:
            raise ConnectionRefusedError("mail server refused the connection")
        return "sent"
