"""``RetryPolicy``: which errors to retry, how many attempts in all, and how long to wait between them."""

from __future__ import annotations

from dataclasses import dataclass

from .backoff import DEFAULT_BACKOFF, Backoff
from .errors import PolicyError


def _is_exception_type(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)


@dataclass(frozen=True)
class RetryPolicy:
    """Retry errors of the types in ``on``; make ``attempts`` attempts in all, waiting ``backoff`` between."""

    on: tuple[type[BaseException], ...] = ()
    attempts: int = 3
    backoff: Backoff = DEFAULT_BACKOFF

    def __post_init__(self) -> None:
        if isinstance(self.on, type):
            object.__setattr__(self, "on", (self.on,))
        if not isinstance(self.on, tuple) or not all(_is_exception_type(t) for t in self.on):
            raise PolicyError(f"on must be a tuple of exception classes, got {self.on!r}")
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 1:
            raise PolicyError(
                "attempts must be a whole number >= 1 (attempts in all, the first included); "
                f"got {self.attempts!r}"
            )
        if not isinstance(self.backoff, Backoff):
            raise PolicyError(f"backoff must be a strategy such as Exponential(), got {self.backoff!r}")

    def matches(self, error: BaseException) -> bool:
        """Whether ``error`` is of a type this policy retries (subclasses included)."""
        return isinstance(error, self.on)
