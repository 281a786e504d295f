"""Enqueue one month's fee for customers 1..N, as the billing run on the 1st of the month would.

    python -m jobs.demo.enqueue --month 2026-11 --customers 200 [--bad-amount 17]

``--bad-amount CUSTOMER`` gives that customer a fee of 0, the kind of billing
data error the gateway rejects (repeatable).
"""

from __future__ import annotations

import argparse

import redis

from .. import JobHandle, connect
from ..errors import ConfigurationError
from .billing import ChargeMonthlyFee, fee_for


def enqueue_month(
    month: str,
    customers: range,
    bad_amounts: frozenset[int] = frozenset(),
    connection: redis.Redis | None = None,
) -> list[JobHandle]:
    """One ChargeMonthlyFee per customer; customers in ``bad_amounts`` get an amount of 0."""
    client = connection if connection is not None else connect()
    return [
        ChargeMonthlyFee.enqueue(
            connection=client,
            customer_id=customer,
            month=month,
            amount_cents=0 if customer in bad_amounts else fee_for(customer),
        )
        for customer in customers
    ]


def main(argv: list[str] | None = None) -> int:
    """Enqueue the month's charges; the exit code."""
    parser = argparse.ArgumentParser(prog="python -m jobs.demo.enqueue", description=__doc__.split("\n")[0])
    parser.add_argument("--month", required=True, help="billing month, e.g. 2026-11")
    parser.add_argument("--customers", type=int, default=200, help="bill customers 1..N (default 200)")
    parser.add_argument("--bad-amount", type=int, action="append", default=[], metavar="CUSTOMER")
    args = parser.parse_args(argv)
    if args.customers < 1:
        parser.error("--customers must be at least 1")
    try:
        connection = connect()
    except ConfigurationError as err:
        parser.exit(1, f"{parser.prog}: {err}\n")
    handles = enqueue_month(args.month, range(1, args.customers + 1), frozenset(args.bad_amount), connection)
    print(f"enqueued {len(handles)} charges for {args.month} on queue {ChargeMonthlyFee.queue!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
