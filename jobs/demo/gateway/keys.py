"""Where the gateway simulator keeps its state in Redis (shared by every worker and work-horse), and how
it reads a value back."""

from __future__ import annotations

PREFIX = "gateway:"
FAULTS = PREFIX + "faults"  # a hash: the odds of each fault, and the seed
DOWN = PREFIX + "down"  # set while the gateway is down; its value is the reason
SCRIPT = PREFIX + "script:"  # + customer id: a list of the steps its next calls take
CALLS = PREFIX + "calls"  # a hash: calls per idempotency key (or per customer, for calls without one)
LEDGER = PREFIX + "ledger"  # a list: every charge that moved money, as JSON, in order
KEYS = PREFIX + "keys"  # a hash: idempotency key -> the authorization code of its charge
SERIAL = PREFIX + "serial"  # a counter: numbers the charges made without an idempotency key
EVERY_KEY = (FAULTS, DOWN, CALLS, LEDGER, KEYS, SERIAL)


def script_key(customer_id: int) -> str:
    """The list of scripted steps for this customer's next calls."""
    return f"{SCRIPT}{customer_id}"


def text(value: bytes | str) -> str:
    """A value read from Redis, as text."""
    return value.decode() if isinstance(value, bytes) else value
