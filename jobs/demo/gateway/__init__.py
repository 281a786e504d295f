"""A payment gateway simulator: a ledger of real charges, idempotency keys, and the faults you give it.

It stands in for a card processor's API, for the demo, the billing example and
stalwart's own tests. Its state lives in Redis, so every worker process (and
every forked work-horse) talks to the same "gateway", and the ledger
afterwards tells exactly who was charged how many times.

What a call to ``Gateway.charge`` can do, in the order the gateway decides:

1. **Outage** (``down()`` / ``outage(seconds)``): raises ``GatewayUnavailable``
   before anything happens. Safe to retry.
2. **Refusal** (step ``refuse``) or **rate limit** (``rate_limited``): raises
   ``GatewayRefused`` or ``RateLimited`` before anything happens. Safe to retry.
3. **Timeout before charging** (``timeout_before``): raises ``GatewayTimeout``;
   nothing was charged, but the caller cannot know that.
4. **Bad request**: an amount that is not a positive number of cents raises
   ``InvalidRequest``. Retrying cannot help; the data must be fixed.
5. **Decline** (``decline``, or a card the odds decline every time): an answer,
   not an error.
6. **Charge**: written to the ledger, once per idempotency key. A second call
   with a key already charged returns the first charge's authorization code
   and charges nothing, as real gateways do. A call without a key always
   charges.
7. **Timeout after charging** (``timeout_after``) or a **garbled answer**
   (``garble``): the money moved, but the caller gets ``GatewayTimeout`` or
   ``GarbledResponse``. This is the case that charges customers twice when a
   job retries it without an idempotency key.

Which step a call takes is the next one of its customer's script
(``script(customer_id, *steps)``, what tests use), else the seeded odds
(``configure(Faults(...))``, what the demo uses): see ``faults``. The modules:
``client`` (``Gateway``), ``faults``, ``ledger``, ``errors``, ``keys`` (its
Redis keys), and ``__main__``, the command line: ``python -m jobs.demo.gateway
faults|down|up|ledger``.
"""

from __future__ import annotations

from .client import Answer, Gateway
from .errors import (
    GarbledResponse,
    GatewayError,
    GatewayRefused,
    GatewayTimeout,
    GatewayUnavailable,
    InvalidRequest,
    RateLimited,
)
from .faults import STEPS, Faults, Step

__all__ = [
    "STEPS",
    "Answer",
    "Faults",
    "GarbledResponse",
    "Gateway",
    "GatewayError",
    "GatewayRefused",
    "GatewayTimeout",
    "GatewayUnavailable",
    "InvalidRequest",
    "RateLimited",
    "Step",
]
