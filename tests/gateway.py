"""A payment gateway simulator for the tests: a ledger in Redis, and a script of faults per customer.

Its state lives in Redis so that forked work-horses share it. Each call to
``charge`` takes the next step of that customer's script:

- ``ok``: charge and return an authorization code
- ``refuse``: raise GatewayRefused before anything happens (safe to retry)
- ``rate_limited``: raise RateLimited before anything happens (safe to retry)
- ``timeout_before``: raise GatewayTimeout before charging
- ``timeout_after``: charge, then raise GatewayTimeout (the case that charges customers twice)
- ``decline``: answer "declined" without charging
- ``garble``: charge, then answer something unreadable (GarbledResponse)

Without a script, ``chaos(...)`` sets the odds of each fault for every call.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import redis

from jobs import connect


class GatewayRefused(ConnectionRefusedError):
    """The gateway refused the connection: the request never ran."""


class RateLimited(ConnectionError):
    """The gateway answered 429: the request never ran."""


class GatewayTimeout(TimeoutError):
    """No answer in time: the charge may or may not have happened."""


class GarbledResponse(ValueError):
    """The gateway answered something unreadable: the charge may or may not have happened."""


@dataclass(frozen=True)
class ChargeResult:
    declined: bool
    authorization_code: str | None = None
    code: str | None = None


class Gateway:
    def __init__(self, connection: redis.Redis | None = None) -> None:
        self.connection = connection if connection is not None else connect()

    def script(self, customer_id: int, *steps: str) -> None:
        self.connection.rpush(f"gateway:script:{customer_id}", *steps)

    def chaos(self, refuse: float, timeout: float, decline: float, garble: float) -> None:
        """Answer unscripted calls at random: these shares refused, timed out, declined, garbled."""
        self.connection.hset(
            "gateway:chaos",
            mapping={"refuse": refuse, "timeout": timeout, "decline": decline, "garble": garble},
        )

    def _draw(self) -> str:
        odds = {k.decode(): float(v) for k, v in self.connection.hgetall("gateway:chaos").items()}
        roll = random.random()
        for step, share in (
            ("refuse", odds.get("refuse", 0)),
            ("decline", odds.get("decline", 0)),
            ("garble", odds.get("garble", 0)),
        ):
            if roll < share:
                return step
            roll -= share
        if roll < odds.get("timeout", 0):
            return random.choice(["timeout_before", "timeout_after"])
        return "ok"

    def charge(self, customer_id: int, amount: int, idempotency_key: str | None = None) -> ChargeResult:
        raw = self.connection.lpop(f"gateway:script:{customer_id}")
        step = raw.decode() if isinstance(raw, bytes) else self._draw()
        if step == "refuse":
            raise GatewayRefused(f"gateway refused the connection for customer {customer_id}")
        if step == "rate_limited":
            raise RateLimited("429 Too Many Requests")
        if step == "timeout_before":
            raise GatewayTimeout("read timed out")
        if step == "decline":
            return ChargeResult(declined=True, code="05")
        if idempotency_key is not None:
            earlier = self.connection.hget("gateway:keys", idempotency_key)
            if earlier is not None:  # the gateway deduplicates by key
                if step == "timeout_after":
                    raise GatewayTimeout("read timed out")
                return ChargeResult(declined=False, authorization_code=earlier.decode())
        count = self.connection.rpush(
            "gateway:ledger",
            json.dumps({"customer_id": customer_id, "amount": amount, "key": idempotency_key}),
        )
        authorization = f"auth-{customer_id}-{count}"
        if idempotency_key is not None:
            self.connection.hset("gateway:keys", idempotency_key, authorization)
        if step == "timeout_after":
            raise GatewayTimeout("read timed out")
        if step == "garble":
            raise GarbledResponse("unparseable answer: '<html><body>502 Bad Gat'")
        return ChargeResult(declined=False, authorization_code=authorization)

    def charges(self, customer_id: int) -> int:
        entries = [json.loads(e) for e in self.connection.lrange("gateway:ledger", 0, -1)]
        return sum(1 for e in entries if e["customer_id"] == customer_id)


class Mailer:
    """Fails with ConnectionError when the customer's script says ``mail_down``."""

    def __init__(self, connection: redis.Redis | None = None) -> None:
        self.connection = connection if connection is not None else connect()

    def send(self, customer_id: int, text: str) -> None:
        raw = self.connection.lpop(f"mailer:script:{customer_id}")
        if raw == b"mail_down":
            raise ConnectionError("mail server refused the connection")
        self.connection.rpush("mailer:sent", f"{customer_id}:{text}")
