"""Drive the purchases example by hand: ``python -m examples.invariants.simulate COMMAND``.

- ``place ANSWERS...``: one purchase per argument; each argument is what the gateway answers to it,
  steps joined by ``+`` (``refuse+approve``): ``approve``, ``decline``, ``refuse``, ``timeout_after``,
  ``approve_via_backup`` (approved, no code in the answer), ``phantom_approval`` (the same, and
  nothing authorized).
- ``list``: every purchase, its status and its authorization code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import cast

from jobs import connect

from .gateway import PaymentGateway
from .purchases import NEXT_ID, AuthorizePurchase, Purchases

FIRST_CUSTOMER = 101


def place_purchases(answers: Sequence[str]) -> int:
    connection = connect()
    gateway = PaymentGateway(connection)
    purchases = Purchases(connection)
    placed_before = int(cast(bytes | None, connection.get(NEXT_ID)) or 0)
    for number, answer in enumerate(answers):
        customer = FIRST_CUSTOMER + placed_before + number  # one customer per purchase, for clarity
        # What checkout (purchases.place) does, with the gateway's answers scripted in between: before
        # the job is enqueued, so a worker already running cannot get to it first.
        purchase = purchases.create(customer_id=customer, amount_cents=1900 + 100 * number)
        gateway.script(purchase.id, *answer.split("+"))
        handle = AuthorizePurchase.enqueue(connection=connection, purchase_id=purchase.id)
        print(
            f"purchase {purchase.id} (customer {customer}): job {handle.id}; the gateway will answer {answer}"
        )
    return 0


def list_purchases() -> int:
    print(f"{'purchase':<9} {'customer':<9} {'amount':>7}  {'status':<15} {'authorization code':<19} note")
    for p in Purchases(connect()).all():
        print(
            f"{p.id:<9} {p.customer_id:<9} {p.amount_cents / 100:>7.2f}  {p.status:<15} "
            f"{p.authorization_code or '-':<19} {p.note or ''}".rstrip()
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command of the simulation."""
    parser = argparse.ArgumentParser(prog="python -m examples.invariants.simulate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("place", help="place purchases with scripted gateway answers").add_argument(
        "answers", nargs="+"
    )
    commands.add_parser("list", help="every purchase")
    args = parser.parse_args(argv)
    return place_purchases(args.answers) if args.command == "place" else list_purchases()


if __name__ == "__main__":
    sys.exit(main())
