"""Operate the payment gateway simulator from the shell: ``python -m jobs.demo.gateway --help``."""

from __future__ import annotations

import argparse
from collections import Counter

from ...errors import ConfigurationError
from .client import Gateway
from .faults import Faults

SHARES = {
    "refuse": "share of calls whose connection is refused",
    "rate_limited": "share of calls answered 429",
    "timeout_before": "share of calls that time out before charging",
    "timeout_after": "share of calls that charge, then time out",
    "garble": "share of calls that charge, then answer garbage",
    "decline": "share of customers whose card is declined",
}


def main(argv: list[str] | None = None) -> int:
    """Run one command (``faults``, ``down``, ``up``, ``ledger``); the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    chosen = Faults()
    if args.command == "faults":
        try:
            chosen = Faults(**{name: getattr(args, name) for name in SHARES}, seed=args.seed)
        except ValueError as err:
            parser.error(f"{err}; pass shares such as --refuse 0.05")
    try:
        gateway = Gateway()
    except ConfigurationError as err:
        parser.exit(1, f"{parser.prog}: {err}\n")
    if args.command == "faults":
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
        print("\n".join(_ledger_lines(gateway)))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.demo.gateway", description="Operate the payment gateway simulator."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    faults = commands.add_parser("faults", help="set the share of calls that fail each way")
    for name, meaning in SHARES.items():
        option = f"--{name.replace('_', '-')}"
        faults.add_argument(option, type=float, default=0.0, metavar="SHARE", help=meaning)
    faults.add_argument("--seed", default=Faults().seed, help="the same seed fails the same calls")
    down = commands.add_parser("down", help="answer every call with 503 (for SECONDS, or until `up`)")
    down.add_argument("seconds", type=float, nargs="?")
    commands.add_parser("up", help="end the outage")
    commands.add_parser("ledger", help="print who was charged how many times")
    return parser


def _ledger_lines(gateway: Gateway) -> list[str]:
    """Per reference: how many charges to how many customers, and who was charged more than once."""
    per_charge = Counter((e["reference"], e["customer_id"]) for e in gateway.ledger())
    lines = []
    for reference in sorted({r for r, _ in per_charge}):
        customers = {c: n for (r, c), n in per_charge.items() if r == reference}
        twice = sorted(c for c, n in customers.items() if n > 1)
        lines.append(
            f"{reference or '(no reference)'}: {sum(customers.values())} charges to {len(customers)} "
            f"customers; charged more than once: {len(twice)}{' ' + str(twice) if twice else ''}"
        )
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
