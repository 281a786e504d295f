"""Threshold rules on the statistics: alert when a rhythm breaks.

    jobs.rules.share_above("billing.ChargeMonthlyFee", "negative.card_declined", above=0.30, window_s=600)
    jobs.rules.count_above("*", "dead_lettered", above=50, window_s=300)      # the DLQ grows too fast
    jobs.rules.count_below("signup.SendWelcome", "succeeded", below=1, window_s=900)   # a busy job went quiet

Rules are declared in code and evaluated by ``stalwart check`` (once) and
``stalwart watch`` (every minute) against the per-minute counts in Redis. A
rule alerts when it starts being broken, not again while it stays broken.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis

from . import _keys, stats
from .telemetry.alerts import Alert, raise_on_change

log = logging.getLogger("stalwart.rules")

OUTCOME_METRICS = ("succeeded", "negative", "dead_lettered")
_DEFAULT_REMEDIATION = "look at what changed: a deploy, a third party, the data."


@dataclass(frozen=True)
class Rule:
    """A bound on one statistic over a time window; ``scope``: a job name, ``app``, or ``*`` (all jobs)."""

    name: str
    kind: str
    scope: str
    metric: str
    bound: float
    window_s: float
    min_count: int = 0
    remediation: str | None = None

    def measure(self, totals: dict[str, dict[str, float]]) -> tuple[float, float]:
        """The measured value, and the count it is based on."""
        scopes = (
            [m for s, m in totals.items() if s != stats.APP]
            if self.scope == "*"
            else [totals.get(self.scope, {})]
        )
        value = sum(m.get(self.metric, 0.0) for m in scopes)
        if self.kind != "share_above":
            return value, value
        total = sum(m.get(o, 0.0) for m in scopes for o in OUTCOME_METRICS)
        return (value / total if total else 0.0), total

    def broken(self, value: float, count: float) -> bool:
        """Whether the measured value breaks the bound."""
        if self.kind == "share_above":
            return count >= self.min_count and value > self.bound
        if self.kind == "count_above":
            return value > self.bound
        return value < self.bound


_rules: dict[str, Rule] = {}


def _add(rule: Rule) -> Rule:
    _rules[rule.name] = rule
    return rule


def share_above(
    job: str,
    metric: str,
    above: float,
    *,
    window_s: float = 600,
    min_count: int = 10,
    remediation: str | None = None,
) -> Rule:
    """Alert when ``metric`` is more than ``above`` (0..1) of the job's outcomes in the window."""
    return _add(
        Rule(
            f"{job}:{metric} share above {above:g}",
            "share_above",
            job,
            metric,
            above,
            window_s,
            min_count,
            remediation,
        )
    )


def count_above(
    scope: str, metric: str, above: float, window_s: float = 300, remediation: str | None = None
) -> Rule:
    """Alert when ``metric`` counts more than ``above`` in the window (``scope="*"``: all jobs)."""
    return _add(
        Rule(
            f"{scope}:{metric} above {above:g}", "count_above", scope, metric, above, window_s, 0, remediation
        )
    )


def count_below(
    scope: str, metric: str, below: float, window_s: float = 900, remediation: str | None = None
) -> Rule:
    """Alert when a normally busy counter counts fewer than ``below`` in the window."""
    return _add(
        Rule(
            f"{scope}:{metric} below {below:g}", "count_below", scope, metric, below, window_s, 0, remediation
        )
    )


def registered() -> dict[str, Rule]:
    """Every declared rule, by name."""
    return dict(_rules)


def evaluate(connection: redis.Redis, rule: Rule, now: float | None = None) -> bool:
    """Evaluate one rule; log it, alert when it starts being broken; returns True while broken."""
    value, count = rule.measure(stats.read(connection, rule.window_s, now))
    key = _keys.check_state("rule", rule.name)
    shown = f"{value:.0%}" if rule.kind == "share_above" else f"{value:g}"
    if not rule.broken(value, count):
        raise_on_change(connection, key, None)
        log.info("rule %s holds: %s over %g s", rule.name, shown, rule.window_s, extra={"outcome": "ok"})
        return False
    message = (
        f"{rule.scope} {rule.metric} is {shown} over the last {rule.window_s / 60:g} min, breaking the rule "
        f"{rule.name!r}. Remediation: {rule.remediation or _DEFAULT_REMEDIATION}"
    )
    log.error(message, extra={"outcome": "violated"})
    alert = Alert(
        title=f"statistic out of range: {rule.name}",
        message=message,
        tags={"rule": rule.name, "job": rule.scope},
        fingerprint=["stalwart.rule", rule.name],
    )
    raise_on_change(connection, key, alert)
    return True
