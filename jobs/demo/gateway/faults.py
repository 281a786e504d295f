"""Which step a call to the gateway takes: the next one of its customer's script, else the seeded odds.

A step is what the gateway does with one call (see the package's docstring):
``ok``, ``refuse``, ``rate_limited``, ``timeout_before``, ``timeout_after``,
``garble`` or ``decline``. Tests script the exact steps of a customer's calls;
the demo and the examples give odds instead (``Faults``), and which calls fail
is then decided by hashing the seed, what the call is for (its idempotency
key) and how many times it was tried, so a run with the same seed fails the
same way whatever order workers take the jobs in. Whether a card is declined
is the card's property, the same on every call: decided by hashing the seed
and the customer.

Pure: no Redis, no clock, no random generator.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal, cast, get_args

Step = Literal["ok", "refuse", "rate_limited", "timeout_before", "timeout_after", "garble", "decline"]
STEPS: tuple[Step, ...] = get_args(Step)
DECLINE_CODES = ("insufficient_funds", "card_expired", "do_not_honor")


@dataclass(frozen=True, kw_only=True)
class Faults:
    """The share of calls that fail each way, and of customers whose card is declined."""

    refuse: float = 0.0
    rate_limited: float = 0.0
    timeout_before: float = 0.0
    timeout_after: float = 0.0
    garble: float = 0.0
    decline: float = 0.0
    seed: str = "stalwart"

    def __post_init__(self) -> None:
        shares = [self.refuse, self.rate_limited, self.timeout_before, self.timeout_after, self.garble]
        if any(not 0 <= share <= 1 for share in [*shares, self.decline]) or sum(shares) > 1:
            raise ValueError(f"fault shares must be between 0 and 1 and add up to at most 1: {self}")

    def step(self, basis: str, tries: int) -> Step:
        """The step the odds give the ``tries``-th call made for ``basis`` (an idempotency key)."""
        roll = _uniform(self.seed, basis, str(tries))
        # The order of the shares is part of the seed's meaning: a new share goes last, or the same seed
        # would fail different calls than the figures in the examples' READMEs show.
        odds: tuple[tuple[Step, float], ...] = (
            ("refuse", self.refuse),
            ("timeout_before", self.timeout_before),
            ("timeout_after", self.timeout_after),
            ("garble", self.garble),
            ("rate_limited", self.rate_limited),
        )
        for step, share in odds:
            if roll < share:
                return step
            roll -= share
        return "ok"

    def declines(self, customer_id: int) -> bool:
        """Whether this customer's card is declined (on every call)."""
        return _uniform(self.seed, "card", str(customer_id)) < self.decline


def decline_code(customer_id: int) -> str:
    """Why the gateway declines this customer's card."""
    return DECLINE_CODES[customer_id % len(DECLINE_CODES)]


def check_steps(steps: tuple[str, ...]) -> tuple[Step, ...]:
    """``steps``, if each is a step the gateway knows; else ValueError naming the unknown ones."""
    unknown = sorted({s for s in steps if s not in STEPS})
    if unknown:
        raise ValueError(f"unknown gateway steps {unknown}; use {list(STEPS)}")
    return cast("tuple[Step, ...]", steps)  # every one was checked against STEPS


def _uniform(*parts: str) -> float:
    """A number in [0, 1) that depends only on ``parts``."""
    digest = hashlib.blake2b(":".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
