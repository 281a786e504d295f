"""Invariants: small functions that look for states that should never exist, and alert when they find any.

    @jobs.invariant("purchases_without_authorization", every_s=300,
                    remediation="Check the gateway's records for these purchases; void or re-authorize them.")
    def purchases_without_authorization() -> list[dict]:
        return db.query("... status = 'paid' AND authorization_code IS NULL AND paid_at < now() - '5 min'")

An empty list means all is well. A non-empty list is one alert with the
offending records (up to ``limit``) and the remediation. An invariant that
raises is itself an alert, never a crash. ``stalwart check`` runs every
invariant once; ``stalwart watch`` runs each on its schedule. With Sentry
configured, every run also reports a cron check-in, so an invariant that stops
running is noticed too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from resilience import redact

from . import _keys
from .telemetry.alerts import Alert, raise_on_change

log = logging.getLogger("stalwart.invariants")

_DEFAULT_REMEDIATION = "investigate these records and put them back into a valid state."


@dataclass(frozen=True)
class Invariant:
    """A named check, how often it runs, and what a person should do when it finds something."""

    name: str
    check: Callable[[], list[Any]]
    every_s: float = 60.0
    remediation: str | None = None
    limit: int = 20


@dataclass(frozen=True)
class Finding:
    """One run of a check: what it found (``records``), or the error it raised."""

    name: str
    records: list[Any]
    error: str | None = None
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the check ran and found nothing."""
        return self.error is None and not self.records

    @property
    def counted(self) -> str:
        """ "1 record" or "3 records"."""
        return f"{len(self.records)} record" + ("" if len(self.records) == 1 else "s")


_invariants: dict[str, Invariant] = {}


def invariant(
    name: str, every_s: float = 60.0, remediation: str | None = None, limit: int = 20
) -> Callable[[Callable[[], list[Any]]], Callable[[], list[Any]]]:
    """Register the decorated function as an invariant named ``name``."""
    if not name or every_s <= 0:
        raise ValueError("an invariant needs a name and every_s > 0, e.g. @invariant('orphans', every_s=300)")

    def register(check: Callable[[], list[Any]]) -> Callable[[], list[Any]]:
        _invariants[name] = Invariant(name, check, every_s, remediation, limit)
        return check

    return register


def registered() -> dict[str, Invariant]:
    """Every registered invariant, by name."""
    return dict(_invariants)


def run(item: Invariant) -> Finding:
    """Run one invariant; an exception becomes a finding, never propagates."""
    started = time.monotonic()
    try:
        records = list(item.check() or [])
    except Exception as err:
        log.exception("invariant %s raised", item.name)
        return Finding(item.name, [], f"{type(err).__name__}: {err}", time.monotonic() - started)
    return Finding(item.name, records, None, time.monotonic() - started)


def report(connection: redis.Redis, item: Invariant, finding: Finding) -> bool:
    """Log the finding; alert when the invariant turns violated (not again while it stays so)."""
    key = _keys.check_state("invariant", item.name)
    if finding.ok:
        log.info("invariant %s holds", item.name, extra={"outcome": "ok"})
        raise_on_change(connection, key, None)
        return False
    shown = [redact(r) if isinstance(r, dict) else r for r in finding.records[: item.limit]]
    if finding.error is not None:
        title = f"invariant {item.name} could not run: {finding.error}"
        message = (
            f"The invariant check {item.name} raised {finding.error}. Remediation: fix the check itself."
        )
    else:
        count = len(finding.records)
        title = f"invariant {item.name} violated by {finding.counted}"
        more = f" (first {item.limit} shown)" if count > item.limit else ""
        verb = "breaks" if count == 1 else "break"
        message = (
            f"{finding.counted} {verb} the invariant {item.name}{more}: {shown}. "
            f"Remediation: {item.remediation or _DEFAULT_REMEDIATION}"
        )
    log.error(message, extra={"outcome": "violated"})
    alert = Alert(
        title=title,
        message=message,
        tags={"invariant": item.name},
        fingerprint=["stalwart.invariant", item.name],
        context={"records": shown},
    )
    raise_on_change(connection, key, alert)
    return True
