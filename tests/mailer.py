"""A mail server for the tests' jobs: it fails with ConnectionError when the customer's script says so.

Kept apart from the payment gateway simulator (``jobs.demo.gateway``): a second third party, so that a
test can show a declaration scoped to the charge does not cover the mail sent after it.
"""

from __future__ import annotations

import redis

from jobs import connect

SCRIPT = "mailer:script:"  # + customer id: push "mail_down" to fail that customer's next mail
SENT = "mailer:sent"


class Mailer:
    """Sends a customer a message, or raises ConnectionError when their next scripted step is ``mail_down``."""

    def __init__(self, connection: redis.Redis | None = None) -> None:
        self.connection = connection if connection is not None else connect()

    def send(self, customer_id: int, text: str) -> None:
        """Record ``text`` as sent to the customer; ConnectionError if the mail server is down for them."""
        if self.connection.lpop(f"{SCRIPT}{customer_id}") == b"mail_down":
            raise ConnectionError("mail server refused the connection")
        self.connection.rpush(SENT, f"{customer_id}:{text}")
