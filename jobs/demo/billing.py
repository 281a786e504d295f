"""Monthly fee charging: the job, and the application's own record of what each customer paid.

``ChargeMonthlyFee`` charges one customer one month's fee through the payment
gateway and records the invoice as paid. How each thing that can happen is
treated, and why:

- **Declined card**: the gateway answered, the customer cannot pay. That is a
  normal business outcome, returned as ``Negative`` (counted by decline code,
  never retried, never alerted).
- **Outage, refused connection or rate limit**: the request never reached the
  gateway, so trying again cannot charge twice. Declared in ``retry_on``.
- **Timeout or garbled answer**: the charge may have gone through. Declared
  in ``ambiguous_on``; because every call carries the job's idempotency key
  and the gateway charges a key at most once, the job is ``idempotent`` and
  these are retried too. Remove the key and they would be dead-lettered for a
  person to check instead, which is the only safe choice without one.
- **Bad request** (an amount of 0 from a billing data error): retrying cannot
  help; it is dead-lettered at once with the remediation below, and replayed
  with the corrected amount.

The idempotency key is "fee:<customer>:<month>", not derived from the amount:
a replay with a corrected amount must not be able to charge the month twice.
"""

from __future__ import annotations

from typing import Any

import redis

from resilience import Exponential

from .. import Job, Negative, connect
from .gateway import GarbledResponse, Gateway, GatewayRefused, GatewayTimeout, GatewayUnavailable, RateLimited
from .gateway.keys import text

INVOICES = "billing:invoices:"


class ChargeMonthlyFee(Job):
    name = "billing.ChargeMonthlyFee"
    queue = "billing"
    retry_on = (GatewayUnavailable, GatewayRefused, RateLimited)
    ambiguous_on = (GatewayTimeout, GarbledResponse)
    idempotent = True
    max_attempts = 4
    backoff = Exponential(initial=0.5, cap=4)
    timeout_s = 30
    remediation = (
        "If the gateway was down, replay once it is back "
        "(`stalwart dlq replay --all --job billing.ChargeMonthlyFee --error-type GatewayUnavailable`). "
        "If it rejected the request, fix the customer's billing data and replay the entry with the "
        "corrected argument (`stalwart dlq replay ID --set amount_cents=...`)."
    )

    @classmethod
    def idempotency_key_for(cls, **kwargs: Any) -> str:
        return f"fee:{kwargs['customer_id']}:{kwargs['month']}"

    def describe(self, customer_id: int, month: str, amount_cents: int) -> str:
        return f"charging customer {customer_id} the {month} fee of {amount_cents / 100:.2f}"

    def perform(self, customer_id: int, month: str, amount_cents: int) -> str | Negative:
        answer = Gateway().charge(
            customer_id, amount_cents, idempotency_key=self.idempotency_key, reference=reference_for(month)
        )
        if not answer.approved:
            decline_code = str(answer.decline_code)
            Invoices().record(month, customer_id, f"declined:{decline_code}")
            return Negative(decline_code, customer_id=customer_id, month=month)
        code = str(answer.authorization_code)
        Invoices().record(month, customer_id, code)
        return code


class Invoices:
    """The application's record of each customer's invoice for a month: an authorization code, or why not."""

    def __init__(self, connection: redis.Redis | None = None) -> None:
        self.connection = connection if connection is not None else connect()

    def record(self, month: str, customer_id: int, result: str) -> None:
        self.connection.hset(INVOICES + month, str(customer_id), result)

    def of(self, month: str) -> dict[int, str]:
        raw = self.connection.hgetall(INVOICES + month)
        return {int(k): text(v) for k, v in raw.items()}


def reference_for(month: str) -> str:
    """What the customer's statement says the charge is for."""
    return f"{month} monthly fee"


def fee_for(customer_id: int) -> int:
    """The monthly fee in cents: three plans, by customer."""
    return (900, 1900, 4900)[customer_id % 3]
