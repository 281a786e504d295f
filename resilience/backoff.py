"""Backoff strategies: how long to wait before attempt ``n + 1`` after attempt ``n`` failed.

Each is a small pure object: ``strategy.delay(n, rng)`` computes seconds, and
nothing here sleeps or reads a clock. The un-jittered curves are tenacity's
wait strategies; jitter draws from an injected ``random.Random`` so tests can
fix it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol, cast, runtime_checkable

import tenacity

from .errors import PolicyError

_shared_rng = random.Random()


class _Attempt:
    """The one field of tenacity's RetryCallState that its wait strategies read."""

    def __init__(self, attempt_number: int) -> None:
        self.attempt_number = attempt_number


def _curve(wait: tenacity.wait.wait_base, attempt: int) -> float:
    if attempt < 1:
        raise PolicyError(f"attempt numbers start at 1, got {attempt}")
    return float(wait(cast(tenacity.RetryCallState, _Attempt(attempt))))


@runtime_checkable
class Backoff(Protocol):
    """A strategy: seconds to wait after failed attempt ``attempt`` (1 for the first)."""

    def delay(self, attempt: int, rng: random.Random | None = None) -> float: ...

    def bounds(self, attempt: int) -> tuple[float, float]: ...


def _check_non_negative(**values: float) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise PolicyError(f"{name} must be a number of seconds >= 0, got {value!r}")


@dataclass(frozen=True)
class Fixed:
    """The same delay every time."""

    seconds: float

    def __post_init__(self) -> None:
        _check_non_negative(seconds=self.seconds)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """``seconds``, whatever the attempt."""
        return _curve(tenacity.wait_fixed(self.seconds), attempt)

    def bounds(self, attempt: int) -> tuple[float, float]:
        """The least and most ``delay`` can return for this attempt."""
        return (self.seconds, self.seconds)

    def __call__(self, attempt: int) -> float:
        return self.delay(attempt)


@dataclass(frozen=True)
class Linear:
    """``start``, then ``start + step``, ``start + 2*step``... up to ``cap``."""

    start: float = 1.0
    step: float = 1.0
    cap: float = 600.0

    def __post_init__(self) -> None:
        _check_non_negative(start=self.start, step=self.step, cap=self.cap)

    def _wait(self) -> tenacity.wait.wait_base:
        return tenacity.wait_incrementing(start=self.start, increment=self.step, max=self.cap)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The linear delay for this attempt."""
        return _curve(self._wait(), attempt)

    def bounds(self, attempt: int) -> tuple[float, float]:
        """The least and most ``delay`` can return for this attempt."""
        d = _curve(self._wait(), attempt)
        return (d, d)

    def __call__(self, attempt: int) -> float:
        return self.delay(attempt)


@dataclass(frozen=True)
class Exponential:
    """``initial * base**(attempt-1)`` seconds, at most ``cap``; jittered by default.

    Jitter spreads retries of many jobs that failed together (one outage) so
    they do not return together: the delay is drawn from ``[d/2, d]``.
    """

    base: float = 2.0
    cap: float = 600.0
    initial: float = 1.0
    jitter: bool = True
    _rng: random.Random = field(default=_shared_rng, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_non_negative(cap=self.cap, initial=self.initial)
        if isinstance(self.base, bool) or not isinstance(self.base, int | float) or self.base < 1:
            raise PolicyError(f"base must be a number >= 1, got {self.base!r}")

    def _raw(self, attempt: int) -> float:
        return _curve(
            tenacity.wait_exponential(multiplier=self.initial, exp_base=self.base, max=self.cap), attempt
        )

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The delay for this attempt, jittered with ``rng`` (a shared generator by default)."""
        d = self._raw(attempt)
        if not self.jitter:
            return d
        return d / 2 + (rng or self._rng).uniform(0, d / 2)

    def bounds(self, attempt: int) -> tuple[float, float]:
        """The least and most ``delay`` can return for this attempt."""
        d = self._raw(attempt)
        return (d / 2 if self.jitter else d, d)

    def __call__(self, attempt: int) -> float:
        return self.delay(attempt)


DEFAULT_BACKOFF = Exponential()
