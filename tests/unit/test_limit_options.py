"""Fleet-wide limits are declared on the job class and checked when it is defined, with a fix-it message."""

from __future__ import annotations

import re

import pytest

from jobs import Job, JobDefinitionError

RATE_HINT = (
    "rate_limit must be a tuple (starts, per_s) of a whole number >= 1 and a positive number of seconds, "
    "e.g. rate_limit = (20, 1.0) for at most 20 starts in any second, or None for no limit"
)


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "2"])
def test_max_concurrency_must_be_a_whole_number_of_at_least_one(value: object) -> None:
    expected = (
        ".max_concurrency must be a whole number >= 1 (how many may run at once across every worker), "
        f"e.g. max_concurrency = 2, or None for no limit (got {value!r})"
    )
    with pytest.raises(JobDefinitionError, match=re.escape(expected)):

        class Export(Job):
            max_concurrency = value

            def perform(self) -> None: ...


@pytest.mark.parametrize(
    "value",
    [5, (5,), (5, 1.0, 2), [5, 1.0], (0, 1.0), (2.5, 1.0), (True, 1.0), (5, 0), (5, -1.0), (5, "1"),
     (5, float("inf")), (5, float("nan"))],
)  # fmt: skip
def test_rate_limit_must_be_a_whole_number_of_starts_per_positive_seconds(value: object) -> None:
    with pytest.raises(JobDefinitionError, match=re.escape(f".{RATE_HINT} (got {value!r})")):

        class CallGateway(Job):
            rate_limit = value

            def perform(self) -> None: ...


def test_limit_key_must_be_a_name() -> None:
    with pytest.raises(JobDefinitionError, match=re.escape(".limit_key must be a non-empty name shared by")):

        class CallGateway(Job):
            max_concurrency = 2
            limit_key = " "

            def perform(self) -> None: ...


def test_a_limit_key_without_a_limit_is_a_mistake() -> None:
    expected = (
        "declares limit_key but no limit to share under it: declare max_concurrency = N and/or "
        "rate_limit = (N, per_s) too, or remove limit_key"
    )
    with pytest.raises(JobDefinitionError, match=re.escape(expected)):

        class CallGateway(Job):
            limit_key = "gateway"

            def perform(self) -> None: ...


def test_valid_limits_are_kept_on_the_class_and_inherited() -> None:
    class Gateway(Job):
        abstract = True
        max_concurrency = 4
        rate_limit = (20, 1)
        limit_key = "gateway"

    class Charge(Gateway):
        def perform(self) -> None: ...

    class Unlimited(Job):
        def perform(self) -> None: ...

    assert (Charge.max_concurrency, Charge.rate_limit, Charge.limit_key) == (4, (20, 1), "gateway")
    assert (Unlimited.max_concurrency, Unlimited.rate_limit, Unlimited.limit_key) == (None, None, None)


def test_a_misspelt_limit_option_is_caught() -> None:
    with pytest.raises(
        JobDefinitionError, match="unknown option 'max_concurency'; did you mean 'max_concurrency'"
    ):

        class Export(Job):
            max_concurency = 2

            def perform(self) -> None: ...
