"""The job the chaos run charges customers with: not idempotent, so it must never charge twice."""

from __future__ import annotations

from jobs import Job, Negative
from jobs.demo.gateway import GarbledResponse, Gateway, GatewayRefused, GatewayTimeout
from resilience import Fixed


class ChaosCharge(Job):
    name = "chaos.Charge"
    retry_on = (GatewayRefused,)
    ambiguous_on = (GatewayTimeout, GarbledResponse)
    max_attempts = 5
    backoff = Fixed(0)

    def describe(self, customer_id: int) -> str:
        return f"charging customer {customer_id} the monthly fee"

    def perform(self, customer_id: int) -> str | Negative:
        answer = Gateway().charge(customer_id, 1000)  # without an idempotency key: a retry would charge again
        if not answer.approved:
            return Negative("card_declined", customer_id=customer_id, code=answer.decline_code)
        return str(answer.authorization_code)
