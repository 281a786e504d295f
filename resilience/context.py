"""``attempting``: wrap whatever goes wrong in a block with what was being attempted, for whom."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from .errors import OperationFailed

P = ParamSpec("P")
R = TypeVar("R")


class attempting:
    """Re-raise any ``Exception`` from inside as ``OperationFailed(operation, ids, remediation)``.

    As a context manager::

        with attempting(f"saving customer {c.id}'s preferences", customer_id=c.id, best_time=t):
            c.save()

    As a decorator, ``{name}`` fields in ``operation`` are filled from the call's
    arguments: ``@attempting("charging customer {customer_id}")``.
    """

    def __init__(self, operation: str, remediation: str | None = None, **ids: Any) -> None:
        if not isinstance(operation, str) or not operation:
            raise TypeError("attempting() needs a description of the operation, e.g. 'charging customer 42'")
        self.operation = operation
        self.remediation = remediation
        self.ids = ids

    def __enter__(self) -> attempting:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, Exception):
            raise OperationFailed(self.operation, self.ids, self.remediation, exc) from exc

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except Exception as err:
                bound = signature.bind_partial(*args, **kwargs).arguments
                try:
                    operation = self.operation.format(**bound)
                except (KeyError, IndexError, AttributeError, ValueError):
                    operation = self.operation
                raise OperationFailed(operation, self.ids, self.remediation, err) from err

        return wrapper
