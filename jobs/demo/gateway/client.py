"""``Gateway``: the API a job calls (``charge``), the knobs that make it fail, and its ledger."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import redis

from ... import connect
from .errors import (
    GarbledResponse,
    GatewayRefused,
    GatewayTimeout,
    GatewayUnavailable,
    InvalidRequest,
    RateLimited,
)
from .faults import Faults, Step, check_steps, decline_code
from .keys import CALLS, DOWN, EVERY_KEY, FAULTS, SCRIPT, script_key, text
from .ledger import Ledger


@dataclass(frozen=True)
class Answer:
    """The gateway's answer to a charge that got through: approved with a code, or declined."""

    approved: bool
    authorization_code: str | None = None
    decline_code: str | None = None


class Gateway:
    """A client of the simulated gateway (the connection defaults to ``jobs.connect()``)."""

    def __init__(self, connection: redis.Redis | None = None) -> None:
        self.connection = connection if connection is not None else connect()
        self._ledger = Ledger(self.connection)

    # Operating the simulator.

    def configure(self, faults: Faults) -> None:
        """Fail unscripted calls with these odds from now on."""
        self.connection.hset(FAULTS, mapping={k: str(v) for k, v in asdict(faults).items()})

    def faults(self) -> Faults:
        """The odds set by ``configure`` (none: every unscripted call succeeds)."""
        fields = {text(k): text(v) for k, v in self.connection.hgetall(FAULTS).items()}
        seed = fields.pop("seed", Faults().seed)
        return Faults(**{k: float(v) for k, v in fields.items()}, seed=seed)

    def script(self, customer_id: int, *steps: str) -> None:
        """The customer's next calls take these steps, in order, whatever the odds; then the odds again."""
        self.connection.rpush(script_key(customer_id), *check_steps(steps))

    def down(self, reason: str = "maintenance") -> None:
        """Answer every call with 503 until ``up()``."""
        self.connection.set(DOWN, reason)

    def outage(self, seconds: float, reason: str = "maintenance") -> None:
        """Answer every call with 503 for ``seconds`` from now: an outage window that ends by itself."""
        self.connection.set(DOWN, reason, px=max(1, round(seconds * 1000)))

    def up(self) -> None:
        """End the outage."""
        self.connection.delete(DOWN)

    def is_down(self) -> bool:
        """Whether calls are answered with 503 now."""
        return bool(self.connection.exists(DOWN))

    def reset(self) -> None:
        """Forget everything: faults, scripts, outage, ledger, keys."""
        scripts = list(self.connection.scan_iter(match=SCRIPT + "*"))
        self.connection.delete(*EVERY_KEY, *scripts)

    # The API a job calls.

    def charge(
        self, customer_id: int, amount_cents: int, idempotency_key: str | None = None, reference: str = ""
    ) -> Answer:
        """Charge ``amount_cents`` to the customer's card on file, once per ``idempotency_key``.

        ``reference`` is what the charge is for ("2026-11 monthly fee"), kept in the ledger. Without an
        idempotency key every call that gets through charges again.
        """
        reason = self.connection.get(DOWN)
        if reason is not None:  # the operator's outage comes first: the call never reaches the script
            raise GatewayUnavailable(f"503 Service Unavailable ({text(reason)})")
        step, declined = self._next_step(customer_id, idempotency_key)
        if step == "refuse":
            raise GatewayRefused(f"gateway refused the connection for customer {customer_id}")
        if step == "rate_limited":
            raise RateLimited("429 Too Many Requests")
        if step == "timeout_before":
            raise GatewayTimeout("read timed out after 10 s")
        if not isinstance(amount_cents, int) or isinstance(amount_cents, bool) or amount_cents <= 0:
            raise InvalidRequest(
                f"400 Bad Request: amount must be a positive number of cents, got {amount_cents!r}"
            )
        if declined:
            return Answer(approved=False, decline_code=decline_code(customer_id))
        code = self._ledger.charge(customer_id, amount_cents, idempotency_key, reference)
        if step == "timeout_after":
            raise GatewayTimeout("read timed out after 10 s")
        if step == "garble":
            raise GarbledResponse("unparseable answer: '<html><body>502 Bad Gat'")
        return Answer(approved=True, authorization_code=code)

    def _next_step(self, customer_id: int, idempotency_key: str | None) -> tuple[Step, bool]:
        """The step this call takes, and whether the card is declined: scripted, or by the odds."""
        scripted = self.connection.lpop(script_key(customer_id))
        if isinstance(scripted, (bytes, str)):  # LPOP without a count: one value, or None
            (step,) = check_steps((text(scripted),))
            return step, step == "decline"
        faults = self.faults()
        # Calls without a key are told apart by customer: the odds still depend on nothing but the seed.
        basis = idempotency_key if idempotency_key is not None else f"customer {customer_id} without a key"
        tries = int(self.connection.hincrby(CALLS, basis, 1))
        return faults.step(basis, tries), faults.declines(customer_id)

    # Reading the ledger.

    def ledger(self, reference: str | None = None) -> list[dict[str, Any]]:
        """Every charge that moved money (for ``reference``, or all), in order."""
        return self._ledger.entries(reference)

    def charges_per_customer(self, reference: str | None = None) -> Counter[int]:
        """How many charges each customer had (for ``reference``, or in all)."""
        return self._ledger.charges_per_customer(reference)

    def charges(self, customer_id: int, reference: str | None = None) -> int:
        """How many charges this customer had (for ``reference``, or in all)."""
        return self.charges_per_customer(reference)[customer_id]
