"""What to do after a failed attempt: retry (and when), or dead-letter (and why).

A job's declarations are compiled once, when the class is defined, into
``Budgets``. After each failure, ``decide`` classifies the error (through
``resilience.classify``), picks the budget that applies, counts the failures
already charged to it in the job's history, and returns a ``Decision``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resilience import Backoff, Kind, RetryPolicy, classify
from resilience.backoff import DEFAULT_BACKOFF
from resilience.classify import declared_match

from .outcome import Classification

SHARED = "*"


@dataclass(frozen=True)
class Budgets:
    """A job class's retry declarations, compiled."""

    shared: RetryPolicy
    per_type: Mapping[type[BaseException], RetryPolicy]
    retry_on: tuple[type[BaseException], ...]
    ambiguous_on: tuple[type[BaseException], ...]
    idempotent: bool


def compile_budgets(
    retry_on: tuple[type[BaseException], ...] | Mapping[type[BaseException], Any],
    ambiguous_on: tuple[type[BaseException], ...],
    max_attempts: int,
    backoff: Backoff | None,
    idempotent: bool,
) -> Budgets:
    """Budgets for a job class: tuple entries share ``max_attempts``; mapping entries get their own."""
    default_backoff = backoff or DEFAULT_BACKOFF
    per_type: dict[type[BaseException], RetryPolicy] = {}
    shared_types: tuple[type[BaseException], ...] = ()
    if isinstance(retry_on, Mapping):
        for klass, budget in retry_on.items():
            if isinstance(budget, RetryPolicy):
                per_type[klass] = RetryPolicy(on=(klass,), attempts=budget.attempts, backoff=budget.backoff)
            else:
                per_type[klass] = RetryPolicy(on=(klass,), attempts=int(budget), backoff=default_backoff)
    else:
        shared_types = tuple(retry_on)
    return Budgets(
        shared=RetryPolicy(on=shared_types, attempts=max_attempts, backoff=default_backoff),
        per_type=per_type,
        retry_on=(*shared_types, *per_type),
        ambiguous_on=tuple(ambiguous_on),
        idempotent=idempotent,
    )


@dataclass(frozen=True)
class Decision:
    """The verdict on one failed attempt."""

    kind: Kind
    budget: str
    failures: int
    allowed: int
    retry_in_s: float | None = None
    classification: Classification | None = None
    explanation: str = ""

    @property
    def retry(self) -> bool:
        """Whether the job is to be rescheduled."""
        return self.retry_in_s is not None


def decide(
    budgets: Budgets,
    error: BaseException,
    history: Sequence[Mapping[str, Any]],
    attempt: int,
    rng: random.Random | None = None,
) -> Decision:
    """Retry or dead-letter after ``error`` ended attempt ``attempt``; ``history`` holds earlier attempts."""
    kind = classify(error, retry_on=budgets.retry_on, ambiguous_on=budgets.ambiguous_on)
    error_name = type(error).__name__
    if kind is Kind.PERMANENT:
        return Decision(
            kind,
            "",
            1,
            1,
            classification=Classification.NON_RETRYABLE,
            explanation=f"Not retried: {error_name} is not declared transient (retry_on) for this job.",
        )
    if kind is Kind.AMBIGUOUS and not budgets.idempotent:
        return Decision(
            kind,
            "",
            1,
            1,
            classification=Classification.AMBIGUOUS,
            explanation=(
                f"Not retried: {error_name} is ambiguous (the operation may have taken effect) and the job "
                "is not idempotent. Verify whether the side effect happened before replaying it."
            ),
        )
    matched = declared_match(error, budgets.per_type) if kind is Kind.TRANSIENT else None
    policy = budgets.per_type[matched] if matched is not None else budgets.shared
    budget = matched.__qualname__ if matched is not None else SHARED
    failures = 1 + sum(1 for record in history if record.get("budget") == budget)
    if failures >= policy.attempts:
        scope = f"{budget} errors" if matched is not None else "this job"
        return Decision(
            kind,
            budget,
            failures,
            policy.attempts,
            classification=Classification.EXHAUSTED,
            explanation=f"Gave up: {failures} of {policy.attempts} attempts allowed for {scope} failed.",
        )
    return Decision(kind, budget, failures, policy.attempts, retry_in_s=policy.backoff.delay(failures, rng))
