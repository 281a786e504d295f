"""`retry_call` retries only declared types, a bounded number of times, and logs each retry."""

from __future__ import annotations

import logging
import random

import pytest

from resilience import Exponential, Fixed, OperationFailed, RetryPolicy, ambiguous, retry_call, retrying
from resilience.errors import PolicyError


class Flaky:
    def __init__(self, *errors: BaseException, result: str = "ok") -> None:
        self.errors = list(errors)
        self.calls = 0
        self.result = result

    def __call__(self, *args: object, **kwargs: object) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def test_a_declared_error_is_retried_until_the_call_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    fn = Flaky(ConnectionRefusedError("refused"), ConnectionRefusedError("refused again"))
    slept: list[float] = []

    assert retry_call(fn, on=ConnectionError, attempts=3, backoff=Fixed(0.5), sleep=slept.append) == "ok"

    assert (fn.calls, slept) == (3, [0.5, 0.5])
    assert [r.getMessage() for r in caplog.records] == [
        "retrying Flaky: attempt 1/3 failed with ConnectionRefusedError: refused; next attempt in 0.50 s",
        "retrying Flaky: attempt 2/3 failed with ConnectionRefusedError: refused again; next attempt in 0.50 s",
    ]
    assert {r.levelno for r in caplog.records} == {logging.WARNING}


def test_the_last_error_is_reraised_unchanged_after_the_last_attempt() -> None:
    last = ConnectionRefusedError("third")
    fn = Flaky(ConnectionRefusedError("first"), ConnectionRefusedError("second"), last)
    with pytest.raises(ConnectionRefusedError) as caught:
        retry_call(fn, on=(ConnectionError,), attempts=3, sleep=lambda s: None)
    assert caught.value is last
    assert fn.calls == 3


def test_an_undeclared_error_is_not_retried() -> None:
    fn = Flaky(ValueError("bad"))
    with pytest.raises(ValueError, match="bad"):
        retry_call(fn, on=ConnectionError, attempts=5, sleep=lambda s: None)
    assert fn.calls == 1


def test_a_wrapped_declared_error_is_still_retried() -> None:
    fn = Flaky(OperationFailed("charging customer 1", cause=ConnectionRefusedError("x")))
    assert retry_call(fn, on=ConnectionError, sleep=lambda s: None) == "ok"
    assert fn.calls == 2


def test_an_error_marked_ambiguous_is_never_retried_blindly() -> None:
    def charge() -> None:
        with ambiguous(ConnectionResetError):
            raise ConnectionResetError("reset after sending")

    calls = []
    with pytest.raises(ConnectionResetError):
        retry_call(lambda: calls.append(1) or charge(), on=ConnectionError, sleep=lambda s: None)
    assert calls == [1]


def test_the_backoff_is_asked_for_each_attempt_with_the_injected_generator() -> None:
    slept: list[float] = []
    fn = Flaky(*(ConnectionRefusedError() for _ in range(3)))
    backoff = Exponential(base=2, cap=100, initial=1)
    retry_call(fn, on=ConnectionError, attempts=4, backoff=backoff, sleep=slept.append, rng=random.Random(3))
    expected_rng = random.Random(3)
    assert slept == [backoff.delay(n, expected_rng) for n in (1, 2, 3)]


def test_the_decorator_form_passes_arguments_through() -> None:
    fn = Flaky(TimeoutError())

    @retrying(on=TimeoutError, attempts=2, sleep=lambda s: None)
    def call(x: int, *, y: int) -> str:
        return fn(x, y=y)

    assert call(1, y=2) == "ok"
    assert fn.calls == 2


def test_a_policy_refuses_values_that_cannot_work() -> None:
    with pytest.raises(PolicyError, match="attempts must be a whole number >= 1"):
        RetryPolicy(on=(ConnectionError,), attempts=0)
    with pytest.raises(PolicyError, match="on must be a tuple of exception classes"):
        RetryPolicy(on=("ConnectionError",))  # type: ignore[arg-type]
