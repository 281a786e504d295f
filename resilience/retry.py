"""Retrying one call in-process, for blips that pass in a second: ``retry_call`` and ``@retrying``.

Only the declared types are retried (through ``OperationFailed`` wrappers, and
never an error a scoped ``ambiguous()`` marked); the last error is re-raised
unchanged after the last attempt; every retry is logged with what and why.
Tenacity does the looping; sleeping is injected.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

import tenacity

from .backoff import DEFAULT_BACKOFF, Backoff
from .classify import Kind, classify
from .policy import RetryPolicy

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("resilience.retry")


def _describe(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__qualname__


def _retrying(
    fn: Callable[..., Any],
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    rng: random.Random | None,
) -> tenacity.Retrying:
    def wait(state: tenacity.RetryCallState) -> float:
        return policy.backoff.delay(state.attempt_number, rng)

    def should_retry(error: BaseException) -> bool:
        return classify(error, retry_on=policy.on) is Kind.TRANSIENT

    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "retrying %s: attempt %d/%d failed with %s: %s; next attempt in %.2f s",
            _describe(fn),
            state.attempt_number,
            policy.attempts,
            type(error).__name__,
            error,
            state.upcoming_sleep,
            extra={"error_type": type(error).__name__, "retry_in_s": round(state.upcoming_sleep, 3)},
        )

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=wait,
        retry=tenacity.retry_if_exception(should_retry),
        sleep=sleep,
        reraise=True,
        before_sleep=before_sleep,
    )


def retry_call(
    fn: Callable[..., R],
    *args: Any,
    on: type[BaseException] | Iterable[type[BaseException]],
    attempts: int = 3,
    backoff: Backoff = DEFAULT_BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    **kwargs: Any,
) -> R:
    """Call ``fn(*args, **kwargs)``, retrying errors of the types in ``on``; ``attempts`` in all."""
    policy = RetryPolicy(on=(on,) if isinstance(on, type) else tuple(on), attempts=attempts, backoff=backoff)
    result: R = _retrying(fn, policy, sleep, rng)(fn, *args, **kwargs)
    return result


def retrying(
    *,
    on: type[BaseException] | Iterable[type[BaseException]],
    attempts: int = 3,
    backoff: Backoff = DEFAULT_BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator form of ``retry_call``."""
    policy = RetryPolicy(on=(on,) if isinstance(on, type) else tuple(on), attempts=attempts, backoff=backoff)

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            result: R = _retrying(fn, policy, sleep, rng)(fn, *args, **kwargs)
            return result

        return wrapper

    return decorate
