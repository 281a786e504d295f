"""The remediation the invariant names: ``python -m examples.invariants.repair [--dry-run]``.

For each purchase succeeded without an authorization code, ask the gateway what it holds: record the
code it has, or, when it has none, mark the purchase ``payment_failed`` and list the customer to
contact (the goods must not ship; the customer is asked to pay again).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis

from jobs import connect

from .gateway import PaymentGateway
from .purchases import Purchases


@dataclass
class Repair:
    """What a repair did (or, dry, would do)."""

    recovered: dict[int, str] = field(default_factory=dict)
    failed: dict[int, int] = field(default_factory=dict)  # purchase id -> customer to contact


def repair(connection: redis.Redis, dry_run: bool = False) -> Repair:
    """Put every succeeded purchase without a code back into a valid state (see the module's docstring)."""
    purchases = Purchases(connection)
    gateway = PaymentGateway(connection)
    done = Repair()
    for record in purchases.succeeded_without_code():
        purchase_id = int(record["purchase_id"])
        code = gateway.lookup(purchase_id)
        if code is not None:
            done.recovered[purchase_id] = code
            if not dry_run:
                purchases.record_code(purchase_id, code, note="code recovered from the gateway by repair")
        else:
            done.failed[purchase_id] = int(record["customer_id"])
            if not dry_run:
                purchases.mark_payment_failed(
                    purchase_id, note="approved without a code and unknown to the gateway: not paid"
                )
    return done


def main(argv: Sequence[str] | None = None) -> int:
    """Repair, and print each purchase and what was done."""
    parser = argparse.ArgumentParser(prog="python -m examples.invariants.repair", description=__doc__)
    parser.add_argument("--dry-run", action="store_true", help="say what would be done; change nothing")
    args = parser.parse_args(argv)
    done = repair(connect(), dry_run=args.dry_run)
    verb = "would record" if args.dry_run else "recorded"
    for purchase_id, code in done.recovered.items():
        print(f"purchase {purchase_id}: the gateway holds {code}; {verb} it")
    for purchase_id, customer_id in done.failed.items():
        print(
            f"purchase {purchase_id}: the gateway has no authorization; "
            f"{'would mark' if args.dry_run else 'marked'} it payment_failed: "
            f"hold its shipment and contact customer {customer_id}"
        )
    if not done.recovered and not done.failed:
        print("nothing to repair: every succeeded purchase has an authorization code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
