"""`decide`: the verdict after one failed attempt, as a pure function of declarations and history."""

from __future__ import annotations

import random

import pytest

from jobs import Classification, Job, JobDefinitionError
from jobs.model.decisions import SHARED, compile_budgets, decide
from resilience import Exponential, Fixed, Kind, OperationFailed, RetryPolicy


class Refused(ConnectionRefusedError):
    pass


class Limited(ConnectionError):
    pass


def history(*budgets: str) -> list[dict[str, object]]:
    return [{"number": n, "budget": b} for n, b in enumerate(budgets, start=1)]


def test_a_shared_budget_counts_every_declared_failure() -> None:
    budgets = compile_budgets((ConnectionError,), (), 3, Fixed(5), idempotent=False)
    first = decide(budgets, Refused(), history(), 1)
    third = decide(budgets, Limited(), history(SHARED, SHARED), 3)
    assert (first.kind, first.budget, first.failures, first.allowed, first.retry_in_s) == (
        Kind.TRANSIENT,
        SHARED,
        1,
        3,
        5,
    )
    assert (third.retry, third.classification, third.explanation) == (
        False,
        Classification.EXHAUSTED,
        "Gave up: 3 of 3 attempts allowed for this job failed.",
    )


def test_per_type_budgets_count_only_their_own_failures() -> None:
    budgets = compile_budgets(
        {Refused: 2, Limited: RetryPolicy(attempts=4, backoff=Fixed(1))}, (), 3, Fixed(9), False
    )
    # Two rate limits so far: a refusal still has its own budget of 2.
    refused = decide(budgets, Refused(), history("Limited", "Limited"), 3)
    assert (refused.budget, refused.failures, refused.retry_in_s) == ("Refused", 1, 9)
    limited = decide(budgets, Limited(), history("Limited", "Refused", "Limited", "Limited"), 5)
    assert (limited.retry, limited.classification, limited.explanation) == (
        False,
        Classification.EXHAUSTED,
        "Gave up: 4 of 4 attempts allowed for Limited errors failed.",
    )


def test_the_backoff_gets_the_number_of_failures_in_the_budget() -> None:
    backoff = Exponential(base=2, initial=1, cap=100)
    budgets = compile_budgets((Refused,), (), 5, backoff, False)
    rng = random.Random(4)
    decision = decide(budgets, Refused(), history(SHARED, SHARED), 3, rng)
    assert decision.retry_in_s == backoff.delay(3, random.Random(4))


@pytest.mark.parametrize(
    ("idempotent", "retried", "classification"),
    [(False, False, Classification.AMBIGUOUS), (True, True, None)],
)
def test_an_ambiguous_error_is_retried_only_when_the_job_is_idempotent(
    idempotent: bool, retried: bool, classification: Classification | None
) -> None:
    budgets = compile_budgets((), (TimeoutError,), 3, Fixed(0), idempotent)
    decision = decide(budgets, OperationFailed("charging", cause=TimeoutError()), history(), 1)
    assert (decision.kind, decision.retry, decision.classification) == (
        Kind.AMBIGUOUS,
        retried,
        classification,
    )


def test_an_undeclared_error_is_not_retried_and_the_message_says_how_to_declare_it() -> None:
    budgets = compile_budgets((ConnectionError,), (), 3, None, False)
    decision = decide(budgets, KeyError("x"), history(), 1)
    assert (decision.retry, decision.classification) == (False, Classification.NON_RETRYABLE)
    assert decision.explanation == "Not retried: KeyError is not declared transient (retry_on) for this job."


def test_a_mapping_type_also_in_ambiguous_on_is_a_contradiction() -> None:
    with pytest.raises(JobDefinitionError, match="TimeoutError both in retry_on and in ambiguous_on"):

        class Charge(Job):
            retry_on = {TimeoutError: 3}  # noqa: RUF012
            ambiguous_on = (TimeoutError,)

            def perform(self) -> None: ...


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"retry_on": {ConnectionError: 0}},
            "the budget for ConnectionError must be a whole number of attempts >= 1",
        ),
        ({"backoff": 5}, r"backoff must be a backoff strategy such as resilience.Exponential"),
        ({"idempotent": "yes"}, "idempotent must be True or False"),
    ],
)
def test_retry_options_of_the_wrong_kind_fail_at_class_definition(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(JobDefinitionError, match=message):
        type("Broken", (Job,), {**options, "perform": lambda self: None})
