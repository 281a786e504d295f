"""Backoff strategies are pure: tested as functions of the attempt number."""

from __future__ import annotations

import random

import pytest

from resilience import Exponential, Fixed, Linear, PolicyError


def test_fixed_waits_the_same_every_time() -> None:
    assert [Fixed(2.5).delay(n) for n in (1, 2, 9)] == [2.5, 2.5, 2.5]


def test_linear_grows_by_its_step_up_to_its_cap() -> None:
    assert [Linear(start=1, step=2, cap=6).delay(n) for n in (1, 2, 3, 4, 5)] == [1, 3, 5, 6, 6]


def test_exponential_without_jitter_doubles_up_to_its_cap() -> None:
    backoff = Exponential(base=2, cap=10, initial=1, jitter=False)
    assert [backoff.delay(n) for n in (1, 2, 3, 4, 5, 60)] == [1, 2, 4, 8, 10, 10]


def test_exponential_jitter_stays_between_half_and_the_full_delay() -> None:
    backoff = Exponential(base=3, cap=100, initial=2)
    rng = random.Random(7)
    for attempt in range(1, 8):
        low, high = backoff.bounds(attempt)
        assert (low, high) == (min(100, 2 * 3 ** (attempt - 1)) / 2, min(100, 2 * 3 ** (attempt - 1)))
        draws = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(low <= d <= high for d in draws)
        assert max(draws) - min(draws) > (high - low) / 2  # it really is spread


def test_jitter_is_reproducible_with_an_injected_generator() -> None:
    backoff = Exponential()
    assert [backoff.delay(3, random.Random(1)) for _ in range(2)] == [backoff.delay(3, random.Random(1))] * 2


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Fixed(-1), "seconds must be a number of seconds >= 0"),
        (lambda: Exponential(base=0.5), "base must be a number >= 1"),
        (lambda: Linear(step=-2), "step must be a number of seconds >= 0"),
        (lambda: Fixed(1).delay(0), "attempt numbers start at 1"),
    ],
)
def test_impossible_values_are_refused(make: object, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        make()  # type: ignore[operator]
