"""An email service simulator with the faults real ones have, its state kept in Redis.

Its state lives in Redis so that forked work-horses, the simulation script and
the tests all see the same outbox. Each ``send`` to an address takes the next
step of that address's script (``script(address, *steps)``), or ``ok``:

- ``ok``: accept the message and return its id.
- ``refuse``: the connection is refused before anything is sent. Safe to retry.
- ``throttle``: the service answers 429. Nothing was sent. Safe to retry.
- ``timeout_before``: no answer in time, and the message was not sent.
- ``timeout_after``: the message is accepted (and will be delivered), then the
  answer times out. The caller cannot tell this from ``timeout_before``.

An address marked ``undeliverable`` is answered with a permanent rejection
(``550 5.1.1``): an answer, not an error, as a declined card is.

Like SMTP and most email APIs, it takes no idempotency key: the same message
sent twice is delivered twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import redis

from jobs import connect

SCRIPT = "mailsim:script:"
UNDELIVERABLE = "mailsim:undeliverable"
OUTBOX = "mailsim:outbox"
COUNTER = "mailsim:next_id"


class EmailServiceError(Exception):
    """Root of the errors the email service's client raises."""


class EmailServiceRefused(EmailServiceError, ConnectionRefusedError):
    """The service refused the connection: the message was certainly not sent."""


class EmailServiceThrottled(EmailServiceError, ConnectionError):
    """The service answered 429 Too Many Requests: the message was certainly not sent."""


class EmailServiceTimeout(EmailServiceError, TimeoutError):
    """No answer in time: the message may or may not have been accepted."""


@dataclass(frozen=True)
class Delivery:
    """The service's answer: accepted (with its message id), or rejected for good (with the SMTP code)."""

    message_id: str | None = None
    code: str | None = None
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        """Whether the service took the message (and gave it an id)."""
        return self.message_id is not None


@dataclass(frozen=True)
class SentEmail:
    """A message the service accepted, as its outbox keeps it."""

    to: str
    subject: str
    body: str
    message_id: str


class EmailService:
    """The client of the simulated email service (and the knobs that make it fail)."""

    def __init__(self, connection: redis.Redis | None = None) -> None:
        self.connection = connection if connection is not None else connect()

    # -- what the application calls ------------------------------------------------------------

    def send(self, to: str, subject: str, body: str) -> Delivery:
        """Send one message; raises EmailServiceRefused, EmailServiceThrottled or EmailServiceTimeout."""
        raw = self.connection.lpop(SCRIPT + to)
        step = raw.decode() if isinstance(raw, bytes) else "ok"
        # The address is personal data: errors (which end up in logs and alerts) do not name it.
        if step == "refuse":
            raise EmailServiceRefused("the email service refused the connection")
        if step == "throttle":
            raise EmailServiceThrottled("the email service answered 429 Too Many Requests")
        if step == "timeout_before":
            raise EmailServiceTimeout("the email service did not answer within 10 s")
        if self.connection.sismember(UNDELIVERABLE, to):
            return Delivery(code="550", reason="5.1.1 mailbox does not exist")
        message_id = f"msg-{self.connection.incr(COUNTER):04d}"
        record = {"to": to, "subject": subject, "body": body, "message_id": message_id}
        self.connection.rpush(OUTBOX, json.dumps(record))
        if step == "timeout_after":
            raise EmailServiceTimeout("the email service did not answer within 10 s")
        return Delivery(message_id=message_id)

    # -- what the simulation and the tests use ----------------------------------------------------

    def script(self, to: str, *steps: str) -> None:
        """Answer the next sends to ``to`` with these steps, in order (then ``ok``)."""
        unknown = set(steps) - {"ok", "refuse", "throttle", "timeout_before", "timeout_after"}
        if unknown:
            raise ValueError(f"unknown email service steps {sorted(unknown)}")
        if steps:
            self.connection.rpush(SCRIPT + to, *steps)

    def make_undeliverable(self, to: str) -> None:
        """Reject every message to ``to`` for good, as a mailbox that does not exist is."""
        self.connection.sadd(UNDELIVERABLE, to)

    def sent(self, to: str | None = None) -> list[SentEmail]:
        """Every message accepted (to ``to``, or to anyone), oldest first."""
        messages = [SentEmail(**json.loads(raw)) for raw in self.connection.lrange(OUTBOX, 0, -1)]
        return [m for m in messages if to is None or m.to == to]
