"""A payment gateway simulator whose answers are the JSON objects its HTTP API returns, its state in Redis.

Each ``authorize`` of a purchase takes the next step of that purchase's script (``script(id, *steps)``),
or ``approve``:

- ``approve``: authorize, and answer ``{"status": "approved", "authorization_code": ...}``.
- ``decline``: answer ``{"status": "declined", "decline_code": "05"}``.
- ``refuse``: refuse the connection; nothing happened.
- ``timeout_after``: authorize, then time out before answering.
- ``approve_via_backup``: the gateway's failover processor authorizes, and answers
  ``{"status": "approved", "processor": "backup"}`` *with no authorization code*. The authorization
  exists on the gateway's side: ``lookup`` finds it.
- ``phantom_approval``: the same answer, but nothing was authorized: ``lookup`` finds nothing.

The gateway authorizes an idempotency key at most once (a retry gets the first answer's code).
"""

from __future__ import annotations

from typing import Any, cast

import redis

from jobs import connect

SCRIPT = "paysim:script:"
BY_KEY = "paysim:by_key"
BY_PURCHASE = "paysim:by_purchase"
COUNTER = "paysim:next_code"
STEPS = frozenset({"approve", "decline", "refuse", "timeout_after", "approve_via_backup", "phantom_approval"})


class GatewayRefused(ConnectionRefusedError):
    """The gateway refused the connection: nothing was authorized."""


class GatewayTimeout(TimeoutError):
    """No answer in time: the purchase may or may not have been authorized."""


class PaymentGateway:
    """The client of the simulated gateway, and the knobs that script its answers."""

    def __init__(self, connection: redis.Redis | None = None) -> None:
        self.connection = connection if connection is not None else connect()

    def authorize(self, purchase_id: int, amount_cents: int, idempotency_key: str) -> dict[str, Any]:
        """Authorize ``amount_cents`` for the purchase; the gateway's answer, as its API returns it."""
        raw = self.connection.lpop(SCRIPT + str(purchase_id))
        step = raw.decode() if isinstance(raw, bytes) else "approve"
        if step == "refuse":
            raise GatewayRefused(f"the gateway refused the connection for purchase {purchase_id}")
        if step == "decline":
            return {"status": "declined", "decline_code": "05"}
        if step == "phantom_approval":
            return {"status": "approved", "processor": "backup"}
        code = self._authorization(purchase_id, idempotency_key)
        if step == "timeout_after":
            raise GatewayTimeout(f"the gateway did not answer within 10 s for purchase {purchase_id}")
        if step == "approve_via_backup":
            return {"status": "approved", "processor": "backup"}
        return {"status": "approved", "authorization_code": code, "processor": "primary"}

    def lookup(self, purchase_id: int) -> str | None:
        """The authorization code the gateway holds for a purchase (its dashboard, its lookup API)."""
        code = cast(bytes | None, self.connection.hget(BY_PURCHASE, str(purchase_id)))
        return code.decode() if code is not None else None

    def script(self, purchase_id: int, *steps: str) -> None:
        """Answer the next authorizations of the purchase with these steps, in order (then ``approve``)."""
        unknown = set(steps) - STEPS
        if unknown:
            raise ValueError(f"unknown gateway steps {sorted(unknown)}; use {sorted(STEPS)}")
        if steps:
            self.connection.rpush(SCRIPT + str(purchase_id), *steps)

    def _authorization(self, purchase_id: int, idempotency_key: str) -> str:
        earlier = cast(bytes | None, self.connection.hget(BY_KEY, idempotency_key))
        if earlier is not None:
            return earlier.decode()
        code = f"AUTH-{self.connection.incr(COUNTER):06d}"
        self.connection.hset(BY_KEY, idempotency_key, code)
        self.connection.hset(BY_PURCHASE, str(purchase_id), code)
        return code
