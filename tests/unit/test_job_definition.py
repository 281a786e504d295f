"""A job class is checked when it is defined: mistakes fail the import, with a fix-it message."""

from __future__ import annotations

import re

import pytest

from jobs import Job, JobDefinitionError
from jobs.model.definition import REGISTRY


def test_a_job_is_registered_under_its_module_and_qualified_name_by_default() -> None:
    class Welcome(Job):
        def perform(self, user_id: int) -> None: ...

    expected = (
        f"{__name__}.test_a_job_is_registered_under_its_module_and_qualified_name_by_default.<locals>.Welcome"
    )
    assert Welcome.name == expected
    assert REGISTRY.resolve(expected) is Welcome


def test_a_job_can_choose_its_name() -> None:
    class Welcome(Job):
        name = "signup.Welcome"

        def perform(self) -> None: ...

    assert REGISTRY.resolve("signup.Welcome") is Welcome


def test_two_different_classes_cannot_share_a_name() -> None:
    class First(Job):
        name = "shared.Name"

        def perform(self) -> None: ...

    with pytest.raises(JobDefinitionError, match=re.escape("cannot take the job name 'shared.Name'")):

        class Second(Job):
            name = "shared.Name"

            def perform(self) -> None: ...


def test_a_misspelt_option_fails_with_the_option_it_probably_meant() -> None:
    with pytest.raises(JobDefinitionError, match="unknown option 'max_attempt'; did you mean 'max_attempts'"):

        class Charge(Job):
            max_attempt = 3

            def perform(self) -> None: ...


def test_an_option_of_the_wrong_type_fails_with_an_example() -> None:
    with pytest.raises(
        JobDefinitionError, match=r"\.queue must be a queue name without spaces, e.g. queue = 'billing'"
    ):

        class Charge(Job):
            queue = 7  # type: ignore[assignment]

            def perform(self) -> None: ...


@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_max_attempts_must_be_a_whole_number_of_at_least_one(value: object) -> None:
    with pytest.raises(JobDefinitionError, match="must be a whole number >= 1"):

        class Charge(Job):
            max_attempts = value  # type: ignore[assignment]

            def perform(self) -> None: ...


def test_retry_on_must_hold_exception_classes() -> None:
    with pytest.raises(JobDefinitionError, match=r"retry_on must be a tuple of exception classes"):

        class Charge(Job):
            retry_on = ("ConnectionError",)  # type: ignore[assignment]

            def perform(self) -> None: ...


def test_a_type_both_retried_and_ambiguous_is_a_contradiction() -> None:
    with pytest.raises(JobDefinitionError, match="TimeoutError both in retry_on and in ambiguous_on"):

        class Charge(Job):
            retry_on = (TimeoutError,)
            ambiguous_on = (TimeoutError,)

            def perform(self) -> None: ...


def test_a_job_without_perform_fails_unless_it_is_abstract() -> None:
    with pytest.raises(JobDefinitionError, match=r"must define perform\(self, \*\*kwargs\)"):

        class Nothing(Job):
            pass

    class Base(Job):
        abstract = True

    assert Base.name not in REGISTRY.registered()

    class Concrete(Base):
        def perform(self) -> int:
            return 1

    assert REGISTRY.resolve(Concrete.name) is Concrete


def test_perform_cannot_take_positional_only_arguments() -> None:
    with pytest.raises(JobDefinitionError, match="takes 'x' positionally"):

        class Positional(Job):
            def perform(self, x: int, /) -> None: ...


def test_perform_cannot_take_a_parameter_named_connection() -> None:
    with pytest.raises(JobDefinitionError, match="cannot take a parameter named 'connection'"):

        class Clash(Job):
            def perform(self, connection: str) -> None: ...


def test_helper_attributes_that_are_not_near_an_option_are_allowed() -> None:
    class WithHelpers(Job):
        gateway_url = "https://gateway.example"

        def perform(self) -> str:
            return self.gateway_url

    assert WithHelpers.gateway_url == "https://gateway.example"
