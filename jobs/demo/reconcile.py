"""Reconcile the month's invoices with the gateway's ledger: the proof that nothing was lost or doubled.

    python -m jobs.demo.reconcile --month 2026-11 --customers 200

A finance team runs this check after every billing run. Each customer must
have an invoice (paid with an authorization code, or declined); every charge
in the ledger must belong to a paid invoice with the same code; and no
customer may be charged twice for the month.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis

from .. import connect
from ..errors import ConfigurationError
from .billing import Invoices, reference_for
from .gateway import Gateway


@dataclass
class Reconciliation:
    customers: int
    paid: int = 0
    charges: int = 0
    declined: Counter[str] = field(default_factory=Counter)
    missing: list[int] = field(default_factory=list)
    charged_twice: list[int] = field(default_factory=list)
    charged_without_invoice: list[int] = field(default_factory=list)
    paid_without_charge: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.missing or self.charged_twice or self.charged_without_invoice or self.paid_without_charge
        )

    def lines(self) -> list[str]:
        def listed(customers: list[int]) -> str:
            shown = ", ".join(str(c) for c in customers[:10])
            return f"{len(customers)}" + (
                f" (customers {shown}{', ...' if len(customers) > 10 else ''})" if customers else ""
            )

        return [
            f"customers billed:                      {self.customers}",
            f"invoices paid / charges in the ledger: {self.paid} / {self.charges}",
            f"invoices declined:                     {sum(self.declined.values())}",
            f"customers without an invoice (lost):   {listed(self.missing)}",
            f"customers charged twice:               {listed(self.charged_twice)}",
            f"charges no invoice knows of:           {listed(self.charged_without_invoice)}",
            f"invoices paid without a charge:        {listed(self.paid_without_charge)}",
        ]


def reconcile(month: str, customers: Iterable[int], connection: redis.Redis | None = None) -> Reconciliation:
    invoices = Invoices(connection).of(month)
    ledger = Gateway(connection).ledger(reference_for(month))
    per_customer = Counter(int(e["customer_id"]) for e in ledger)
    codes = {int(e["customer_id"]): str(e["code"]) for e in ledger}
    wanted = sorted(set(customers))
    result = Reconciliation(customers=len(wanted), charges=len(ledger))
    for customer in wanted:
        invoice = invoices.get(customer)
        if invoice is None:
            result.missing.append(customer)
        elif invoice.startswith("declined:"):
            result.declined[invoice.removeprefix("declined:")] += 1
        else:
            result.paid += 1
            if codes.get(customer) != invoice:
                result.paid_without_charge.append(customer)
    for customer, count in sorted(per_customer.items()):
        if count > 1:
            result.charged_twice.append(customer)
        invoice = invoices.get(customer)
        if invoice is None or invoice != codes[customer]:
            result.charged_without_invoice.append(customer)
    return result


def main(argv: list[str] | None = None) -> int:
    """Reconcile and print the result; the exit code (1 if not reconciled)."""
    parser = argparse.ArgumentParser(prog="python -m jobs.demo.reconcile", description=__doc__.split("\n")[0])
    parser.add_argument("--month", required=True, help="billing month, e.g. 2026-11")
    parser.add_argument("--customers", type=int, required=True, help="customers 1..N were billed")
    args = parser.parse_args(argv)
    try:
        connection = connect()
    except ConfigurationError as err:
        parser.exit(1, f"{parser.prog}: {err}\n")
    result = reconcile(args.month, range(1, args.customers + 1), connection)
    print("\n".join(result.lines()))
    print("reconciled: every customer accounted for, nobody charged twice" if result.ok else "NOT reconciled")
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
