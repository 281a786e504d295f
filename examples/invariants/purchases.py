"""Purchases, and the job that authorizes them at the payment gateway, with the bug the invariant finds.

A purchase is a hash ``purchases:<id>`` (``customer_id``, ``amount_cents``, ``status``:
``pending``, ``succeeded``, ``declined`` or ``payment_failed``, ``authorization_code``, times, and a
``note`` when a person repaired it). ``purchases:succeeded`` indexes succeeded purchases by when.

A succeeded purchase must carry an authorization code: without one it cannot be captured or refunded,
and it may never have been authorized at all, so shipping it may give the goods away.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast

import redis

from jobs import Job, Negative, connect
from resilience import Exponential

from .gateway import GatewayRefused, GatewayTimeout, PaymentGateway

PURCHASE = "purchases:"
SUCCEEDED = "purchases:succeeded"
NEXT_ID = "purchases:next_id"
_BATCH = 500


class UnexpectedAnswer(ValueError):
    """The gateway answered with a status this code does not know: it may have authorized the purchase."""


@dataclass(frozen=True)
class Purchase:
    """One purchase, as stored."""

    id: int
    customer_id: int
    amount_cents: int
    status: str
    authorization_code: str | None = None
    succeeded_at: float | None = None
    note: str | None = None


class Purchases:
    """The purchases store."""

    def __init__(self, connection: redis.Redis) -> None:
        self.connection = connection

    def create(self, customer_id: int, amount_cents: int) -> Purchase:
        """A new pending purchase."""
        purchase_id = int(self.connection.incr(NEXT_ID))
        self.connection.hset(
            PURCHASE + str(purchase_id),
            mapping={
                "id": purchase_id,
                "customer_id": customer_id,
                "amount_cents": amount_cents,
                "status": "pending",
                "created_at": time.time(),
            },
        )
        return Purchase(purchase_id, customer_id, amount_cents, "pending")

    def get(self, purchase_id: int) -> Purchase | None:
        """The purchase, or None."""
        raw = cast(dict[bytes, bytes], self.connection.hgetall(PURCHASE + str(purchase_id)))
        return _purchase(raw) if raw else None

    def all(self) -> list[Purchase]:
        """Every purchase, by id (for the simulation's listing)."""
        last = int(cast(bytes | None, self.connection.get(NEXT_ID)) or 0)
        return [p for purchase_id in range(1, last + 1) if (p := self.get(purchase_id)) is not None]

    def mark_succeeded(self, purchase_id: int, authorization_code: str | None) -> None:
        """Record the purchase as paid (with the code it was given: the bug lets that be None)."""
        now = time.time()
        with self.connection.pipeline() as pipeline:
            pipeline.hset(PURCHASE + str(purchase_id), mapping={"status": "succeeded", "succeeded_at": now})
            if authorization_code:
                pipeline.hset(PURCHASE + str(purchase_id), "authorization_code", authorization_code)
            pipeline.zadd(SUCCEEDED, {str(purchase_id): now})
            pipeline.execute()

    def mark_declined(self, purchase_id: int, decline_code: str) -> None:
        """The card was declined: the purchase is not paid."""
        self.connection.hset(
            PURCHASE + str(purchase_id), mapping={"status": "declined", "decline_code": decline_code}
        )

    def record_code(self, purchase_id: int, authorization_code: str, note: str) -> None:
        """A person found the purchase's authorization code (at the gateway) and records it."""
        self.connection.hset(
            PURCHASE + str(purchase_id), mapping={"authorization_code": authorization_code, "note": note}
        )

    def mark_payment_failed(self, purchase_id: int, note: str) -> None:
        """A person found the purchase was never authorized: it is not paid, and must not ship."""
        with self.connection.pipeline() as pipeline:
            pipeline.hset(PURCHASE + str(purchase_id), mapping={"status": "payment_failed", "note": note})
            pipeline.zrem(SUCCEEDED, str(purchase_id))
            pipeline.execute()

    def succeeded_without_code(self) -> list[dict[str, Any]]:
        """Every succeeded purchase that has no authorization code: what the invariant looks for.

        It reads every succeeded purchase, in pipelined batches: with SQL this is one indexed query
        (``WHERE status = 'succeeded' AND authorization_code IS NULL``). Not a time window: a bad
        purchase must not stop being reported just because it got old.
        """
        ids = [int(m) for m in cast(list[bytes], self.connection.zrange(SUCCEEDED, 0, -1))]
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), _BATCH):
            batch = ids[start : start + _BATCH]
            with self.connection.pipeline(transaction=False) as pipeline:
                for purchase_id in batch:
                    pipeline.hgetall(PURCHASE + str(purchase_id))
                rows = cast(list[dict[bytes, bytes]], pipeline.execute())
            for raw in rows:
                purchase = _purchase(raw) if raw else None
                if (
                    purchase is not None
                    and purchase.status == "succeeded"
                    and not purchase.authorization_code
                ):
                    found.append(
                        {
                            "purchase_id": purchase.id,
                            "customer_id": purchase.customer_id,
                            "amount_cents": purchase.amount_cents,
                            "succeeded_at": _iso(purchase.succeeded_at),
                        }
                    )
        return found


def _purchase(raw: dict[bytes, bytes]) -> Purchase:
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    return Purchase(
        id=int(fields["id"]),
        customer_id=int(fields["customer_id"]),
        amount_cents=int(fields["amount_cents"]),
        status=fields["status"],
        authorization_code=fields.get("authorization_code") or None,
        succeeded_at=float(fields["succeeded_at"]) if fields.get("succeeded_at") else None,
        note=fields.get("note"),
    )


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds") if epoch else None


def read_answer(answer: Mapping[str, Any]) -> tuple[str, str | None]:
    """The status and authorization code in a gateway answer.

    THE BUG THIS EXAMPLE IS ABOUT, left in on purpose. Written for the gateway's first API, which
    always sent a code with "approved", it trusts "status" alone. The gateway's failover processor
    answers "approved" with no "authorization_code", and the purchase is recorded as succeeded without
    one. The fix is to treat an approval without a code as an answer that cannot be trusted (raise
    ``UnexpectedAnswer``: ambiguous, so the job retries, and the gateway's idempotency key makes the
    retry safe). The invariant in ``checks.py`` catches what this bug wrote, and what any other path
    writes in the same shape: a migration, a hand edit, the next bug.
    """
    return str(answer.get("status")), answer.get("authorization_code")


class AuthorizePurchase(Job):
    """Authorize one purchase at the payment gateway and record the outcome."""

    name = "invariants.AuthorizePurchase"
    queue = "purchases"
    retry_on = (GatewayRefused,)
    ambiguous_on = (GatewayTimeout, UnexpectedAnswer)
    # Every call carries the job's idempotency key and the gateway authorizes a key once, so a
    # timeout (which may have authorized) is retried safely.
    idempotent = True
    max_attempts = 4
    backoff = Exponential(initial=0.5, cap=30)
    timeout_s = 60
    remediation = (
        "Check the gateway's status page and this purchase in its dashboard, then replay: "
        "`stalwart dlq replay ID --import examples.invariants.purchases`."
    )

    @classmethod
    def idempotency_key_for(cls, **kwargs: Any) -> str:
        # One authorization per purchase, whoever enqueues it and however often.
        return f"purchase:{kwargs['purchase_id']}"

    def describe(self, purchase_id: int) -> str:
        return f"authorizing purchase {purchase_id}"

    def perform(self, purchase_id: int) -> str | Negative | None:
        connection = connect()
        purchases = Purchases(connection)
        purchase = purchases.get(purchase_id)
        if purchase is None:
            return Negative("no_such_purchase", purchase_id=purchase_id)
        if purchase.status != "pending":
            return Negative("not_pending", purchase_id=purchase_id, status=purchase.status)
        answer = PaymentGateway(connection).authorize(
            purchase_id, purchase.amount_cents, self.idempotency_key
        )
        status, code = read_answer(answer)
        if status == "declined":
            purchases.mark_declined(purchase_id, str(answer.get("decline_code")))
            return Negative("card_declined", purchase_id=purchase_id, decline_code=answer.get("decline_code"))
        if status != "approved":
            raise UnexpectedAnswer(f"the gateway answered status {status!r} for purchase {purchase_id}")
        purchases.mark_succeeded(purchase_id, code)
        return code


def place(connection: redis.Redis, customer_id: int, amount_cents: int) -> tuple[Purchase, str]:
    """The checkout: record a pending purchase and enqueue its authorization; the purchase and the job id.

    (If the process died between the two, the purchase would stay pending with no job: with the
    purchases in a SQL database, ``jobs.outbox`` closes that gap, as examples/signup shows.)
    """
    purchase = Purchases(connection).create(customer_id, amount_cents)
    handle = AuthorizePurchase.enqueue(connection=connection, purchase_id=purchase.id)
    return purchase, handle.id
