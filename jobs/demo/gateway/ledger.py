"""The gateway's ledger: every charge that moved money, once per idempotency key, read back to count them.

A charge made with an idempotency key is made once: a second call with the
same key gets the first charge's authorization code and moves nothing, as real
gateways do. A charge made without a key is always made: that is how a job
that retries a charge it is not sure of charges a customer twice, and the
tests that prove stalwart never does use it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from typing import Any

import redis

from .keys import KEYS, LEDGER, SERIAL, text


class Ledger:
    """The charges, in Redis (``connection``), so that every worker process sees the same ones."""

    def __init__(self, connection: redis.Redis) -> None:
        self.connection = connection

    def charge(self, customer_id: int, amount_cents: int, idempotency_key: str | None, reference: str) -> str:
        """Move the money unless ``idempotency_key`` already did; the authorization code either way."""
        if idempotency_key is None:
            code = authorization_code(f"charge {self.connection.incr(SERIAL)} without a key")
        else:
            code = authorization_code(idempotency_key)
            # HSETNX decides, atomically, which of two concurrent calls with one key charges.
            if not self.connection.hsetnx(KEYS, idempotency_key, code):
                earlier = self.connection.hget(KEYS, idempotency_key)
                return text(earlier) if earlier is not None else code
        entry = {
            "customer_id": customer_id,
            "amount_cents": amount_cents,
            "key": idempotency_key,
            "reference": reference,
            "code": code,
            "at": time.time(),
        }
        self.connection.rpush(LEDGER, json.dumps(entry))
        return code

    def entries(self, reference: str | None = None) -> list[dict[str, Any]]:
        """Every charge that moved money (for ``reference``, or all), in order."""
        entries = [json.loads(raw) for raw in self.connection.lrange(LEDGER, 0, -1)]
        return [e for e in entries if reference is None or e["reference"] == reference]

    def charges_per_customer(self, reference: str | None = None) -> Counter[int]:
        """How many charges each customer had (for ``reference``, or in all)."""
        return Counter(int(entry["customer_id"]) for entry in self.entries(reference))


def authorization_code(basis: str) -> str:
    """The code the gateway answers a charge with: the same for the same idempotency key."""
    return f"AUTH-{hashlib.sha256(basis.encode()).hexdigest()[:10].upper()}"
