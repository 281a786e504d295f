"""The invariant: no purchase is succeeded without an authorization code.

    stalwart check --import examples.invariants.checks     # once (cron); exit 1 while violated
    stalwart watch --import examples.invariants.checks     # every PURCHASES_CHECK_EVERY_S seconds

One alert when the state appears; none while it persists; the next alert only after a run that
found nothing (the check re-arms).
"""

from __future__ import annotations

import os
from typing import Any

import jobs

from .purchases import Purchases

# How often `stalwart watch` runs the check: five minutes in production; the README's demo uses 1 s.
EVERY_S = float(os.environ.get("PURCHASES_CHECK_EVERY_S", "300"))
NAME = "purchases_succeeded_without_auth_code"


@jobs.invariant(
    NAME,
    every_s=EVERY_S,
    remediation=(
        "These purchases are marked succeeded but carry no authorization code: they cannot be captured "
        "or refunded, and may never have been authorized. Hold their shipments. Then run "
        "`python -m examples.invariants.repair`: it records the code the gateway holds for each one, "
        "or marks it payment_failed (and lists the customers to contact) when the gateway has none. "
        "Then fix the code path that wrote them (invariants.AuthorizePurchase's read_answer accepts "
        "'approved' without a code)."
    ),
)
def purchases_succeeded_without_auth_code() -> list[dict[str, Any]]:
    """Succeeded purchases with no authorization code."""
    return Purchases(jobs.connect()).succeeded_without_code()
