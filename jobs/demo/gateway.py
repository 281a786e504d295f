"""A payment gateway simulator: a ledger of real charges, idempotency keys, and faults you configure.

It stands in for a card processor's API. Its state lives in Redis, so every
worker process (and every forked work-horse) talks to the same "gateway", and
the ledger afterwards tells exactly who was charged how many times.

What a call to ``charge`` can do, in the order the gateway decides:

1. **Outage** (``down()`` / ``outage(seconds)``): raises ``GatewayUnavailable``
   before anything happens. Safe to retry.
2. **Refusal** (odds ``refuse``): raises ``GatewayRefused`` before anything
   happens. Safe to retry.
3. **Timeout before charging** (odds ``timeout_before``): raises
   ``GatewayTimeout``; nothing was charged, but the caller cannot know that.
4. **Bad request**: an amount that is not a positive number of cents raises
   ``InvalidRequest``. Retrying cannot help; the data must be fixed.
5. **Decline**: the customer's card is declined (the same customers every
   time, ``decline`` of them): an answer, not an error.
6. **Charge**: written to the ledger, once per idempotency key. A second call
   with a key already charged returns the first charge's authorization code
   and charges nothing, as real gateways do.
7. **Timeout after charging** (odds ``timeout_after``) or a **garbled answer**
   (odds ``garble``): the money moved, but the caller gets ``GatewayTimeout``
   or ``GarbledResponse``. This is the case that charges customers twice when
   a job retries it without an idempotency key.

Which calls fail is decided by hashing the seed, the idempotency key and how
many times that key was tried, so a run with the same seed fails the same way
whatever order workers take the jobs in.

From the shell (``python -m jobs.demo.gateway``): ``faults``, ``down``,
``up``, ``ledger``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import redis

from .. import connect

PREFIX = "gateway:"
FAULTS = PREFIX + "faults"
DOWN = PREFIX + "down"
LEDGER = PREFIX + "ledger"
KEYS = PREFIX + "keys"
CALLS = PREFIX + "calls"
DECLINE_CODES = ("insufficient_funds", "card_expired", "do_not_honor")


class GatewayError(Exception):
    """Anything the gateway raises."""


class GatewayUnavailable(GatewayError, ConnectionRefusedError):
    """503: the gateway is down; the request never ran."""


class GatewayRefused(GatewayError, ConnectionRefusedError):
    """The connection was refused; the request never ran."""


class GatewayTimeout(GatewayError, TimeoutError):
    """No answer in time: the charge may or may not have happened."""


class GarbledResponse(GatewayError, ValueError):
    """An unreadable answer: the charge may or may not have happened."""


class InvalidRequest(GatewayError, ValueError):
    """400: the gateway rejected the request as malformed; nothing happened."""


@dataclass(frozen=True)
class Faults:
    """The share of calls that fail each way, and of customers whose card is declined."""

    refuse: float = 0.0
    timeout_before: float = 0.0
    timeout_after: float = 0.0
    garble: float = 0.0
    decline: float = 0.0
    seed: str = "stalwart"

    def __post_init__(self) -> None:
        shares = [self.refuse, self.timeout_before, self.timeout_after, self.garble]
        if any(not 0 <= share <= 1 for share in [*shares, self.decline]) or sum(shares) > 1:
            raise ValueError(f"fault shares must be between 0 and 1 and add up to at most 1: {self}")


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

    # Operating the simulator.

    def configure(self, faults: Faults) -> None:
        """Fail calls with these odds from now on."""
        self.connection.hset(FAULTS, mapping={k: str(v) for k, v in asdict(faults).items()})

    def faults(self) -> Faults:
        raw = self.connection.hgetall(FAULTS)
        fields = {text(k): text(v) for k, v in raw.items()}
        seed = fields.pop("seed", "stalwart")
        return Faults(**{k: float(v) for k, v in fields.items()}, seed=seed)

    def down(self, reason: str = "maintenance") -> None:
        """Answer every call with 503 until ``up()``."""
        self.connection.set(DOWN, reason)

    def outage(self, seconds: float, reason: str = "maintenance") -> None:
        """Answer every call with 503 for ``seconds`` from now: an outage window that ends by itself."""
        self.connection.set(DOWN, reason, px=max(1, round(seconds * 1000)))

    def up(self) -> None:
        self.connection.delete(DOWN)

    # The API a job calls.

    def charge(
        self, customer_id: int, amount_cents: int, idempotency_key: str, reference: str = ""
    ) -> Answer:
        """Charge ``amount_cents`` to the customer's card on file, once per ``idempotency_key``.

        ``reference`` is what the charge is for ("2026-11 monthly fee"), kept in the ledger.
        """
        reason = self.connection.get(DOWN)
        if reason is not None:
            raise GatewayUnavailable(f"503 Service Unavailable ({text(reason)})")
        faults = self.faults()
        tries = self.connection.hincrby(CALLS, idempotency_key, 1)
        roll = _uniform(faults.seed, idempotency_key, str(tries))
        if roll < faults.refuse:
            raise GatewayRefused("connection refused by gateway")
        roll -= faults.refuse
        if roll < faults.timeout_before:
            raise GatewayTimeout("read timed out after 10 s")
        roll -= faults.timeout_before
        if not isinstance(amount_cents, int) or isinstance(amount_cents, bool) or amount_cents <= 0:
            raise InvalidRequest(
                f"400 Bad Request: amount must be a positive number of cents, got {amount_cents!r}"
            )
        decline_roll = _uniform(faults.seed, "card", str(customer_id))
        if decline_roll < faults.decline:
            return Answer(approved=False, decline_code=DECLINE_CODES[customer_id % len(DECLINE_CODES)])
        code = self._charge_once(customer_id, amount_cents, idempotency_key, reference)
        if roll < faults.timeout_after:
            raise GatewayTimeout("read timed out after 10 s")
        roll -= faults.timeout_after
        if roll < faults.garble:
            raise GarbledResponse("unparseable answer: '<html><body>502 Bad Gat'")
        return Answer(approved=True, authorization_code=code)

    def _charge_once(self, customer_id: int, amount_cents: int, idempotency_key: str, reference: str) -> str:
        """Move the money unless this key already did; the authorization code either way."""
        code = f"AUTH-{hashlib.sha256(idempotency_key.encode()).hexdigest()[:10].upper()}"
        if not self.connection.hsetnx(KEYS, idempotency_key, code):
            earlier = self.connection.hget(KEYS, idempotency_key)
            return text(earlier) if earlier is not None else code
        entry = {
            "customer_id": customer_id,
            "amount_cents": amount_cents,
            "key": idempotency_key,
            "reference": reference,
        }
        self.connection.rpush(LEDGER, json.dumps({**entry, "code": code, "at": time.time()}))
        return code

    # Reading the ledger.

    def ledger(self, reference: str | None = None) -> list[dict[str, Any]]:
        """Every charge that moved money (for ``reference``, or all), in order."""
        entries = [json.loads(raw) for raw in self.connection.lrange(LEDGER, 0, -1)]
        return [e for e in entries if reference is None or e["reference"] == reference]

    def charges_per_customer(self, reference: str | None = None) -> Counter[int]:
        """How many charges each customer had (for ``reference``, or in all)."""
        return Counter(entry["customer_id"] for entry in self.ledger(reference))

    def reset(self) -> None:
        """Forget everything: faults, outage, ledger, keys."""
        self.connection.delete(FAULTS, DOWN, LEDGER, KEYS, CALLS)


def text(value: bytes | str) -> str:
    """A value read from Redis, as text."""
    return value.decode() if isinstance(value, bytes) else value


def _uniform(*parts: str) -> float:
    """A number in [0, 1) that depends only on ``parts``."""
    digest = hashlib.blake2b(":".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.demo.gateway", description="Operate the payment gateway simulator."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    faults = commands.add_parser("faults", help="set the share of calls that fail each way")
    for name in ("refuse", "timeout_before", "timeout_after", "garble", "decline"):
        faults.add_argument(f"--{name.replace('_', '-')}", type=float, default=0.0, metavar="SHARE")
    faults.add_argument("--seed", default="stalwart")
    down = commands.add_parser("down", help="answer every call with 503 (for SECONDS, or until `up`)")
    down.add_argument("seconds", type=float, nargs="?")
    commands.add_parser("up", help="end the outage")
    commands.add_parser("ledger", help="print who was charged how many times")
    args = parser.parse_args(argv)

    gateway = Gateway()
    if args.command == "faults":
        try:
            chosen = Faults(
                refuse=args.refuse,
                timeout_before=args.timeout_before,
                timeout_after=args.timeout_after,
                garble=args.garble,
                decline=args.decline,
                seed=args.seed,
            )
        except ValueError as err:
            parser.error(f"{err}; pass shares such as --refuse 0.05")
        gateway.configure(chosen)
        print(f"gateway faults: {chosen}")
    elif args.command == "down":
        if args.seconds is None:
            gateway.down()
            print("gateway is down until `python -m jobs.demo.gateway up`")
        else:
            gateway.outage(args.seconds)
            print(f"gateway is down for {args.seconds:g} s")
    elif args.command == "up":
        gateway.up()
        print("gateway is up")
    else:
        per_charge = Counter((e["reference"], e["customer_id"]) for e in gateway.ledger())
        for reference in sorted({r for r, _ in per_charge}):
            customers = {c: n for (r, c), n in per_charge.items() if r == reference}
            twice = sorted(c for c, n in customers.items() if n > 1)
            print(
                f"{reference or '(no reference)'}: {sum(customers.values())} charges to {len(customers)} "
                f"customers; charged more than once: {len(twice)}{' ' + str(twice) if twice else ''}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
