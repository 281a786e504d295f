"""Invariants and rules the check tests run (`stalwart check --import tests.checks_for_tests`)."""

from __future__ import annotations

import json

import jobs
from jobs import connect


@jobs.invariant(
    "purchases_without_authorization",
    every_s=300,
    remediation="Check the gateway for these purchases; void or re-authorize them.",
)
def purchases_without_authorization() -> list[dict[str, object]]:
    raw = connect().lrange("shop:paid_without_authorization", 0, -1)
    return [json.loads(r) for r in raw]


@jobs.invariant("a_broken_check", every_s=300)
def a_broken_check() -> list[object]:
    if connect().get("checks:break") == b"yes":
        raise RuntimeError("the orders table is not reachable")
    return []


jobs.rules.share_above("tests.ChargeCard", "negative.card_declined", above=0.30, window_s=600, min_count=2)
jobs.rules.count_above("*", "dead_lettered", above=1, window_s=300)
