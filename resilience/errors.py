"""Errors raised by the resilience primitives.

ResilienceError
├── OperationFailed      an error wrapped with what was being attempted, for whom, and what to do
└── PolicyError          a retry policy or backoff declared with invalid values
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .redaction import REDACTED, Scrubber, is_secret_name


class ResilienceError(Exception):
    """Root of every error raised by the resilience package."""


class PolicyError(ResilienceError, ValueError):
    """A retry policy or backoff strategy declared with values that cannot work."""


class OperationFailed(ResilienceError):
    """An error raised while ``operation`` was attempted; the original is ``__cause__``.

    ``str()`` reads as a sentence a person can act on::

        saving customer 42's preferences (customer_id=42, best_time='morning') failed: IntegrityError: ...
    """

    def __init__(
        self,
        operation: str,
        ids: Mapping[str, Any] | None = None,
        remediation: str | None = None,
        cause: BaseException | None = None,
    ) -> None:
        self.operation = operation
        self.ids = dict(ids or {})
        self.remediation = remediation
        self.original = cause
        super().__init__(self._render())

    def _render(self) -> str:
        shown = ", ".join(f"{k}={REDACTED if is_secret_name(k) else repr(v)}" for k, v in self.ids.items())
        where = f" ({shown})" if shown else ""
        cause = self.original
        # The cause's text may echo a secret id's value (``card 4111... declined``).
        said = Scrubber.of(self.ids).text(str(cause))
        what = f": {type(cause).__name__}: {said}" if cause is not None else ""
        todo = f". Remediation: {self.remediation}" if self.remediation else ""
        return f"{self.operation}{where} failed{what}{todo}"

    @property
    def root(self) -> BaseException:
        """The innermost error this wrapper (and any wrappers inside it) stands for."""
        error: BaseException = self
        while isinstance(error, OperationFailed) and error.original is not None:
            error = error.original
        return error
