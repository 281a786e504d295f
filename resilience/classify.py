"""Deciding whether an error may be retried: ``transient``, ``ambiguous`` or ``permanent``.

- *transient*: the operation certainly did not take effect (connection refused,
  503, rate-limited): safe to retry.
- *ambiguous*: it may have taken effect (a timeout after the request was sent):
  retry only if the operation is idempotent.
- *permanent*: anything not declared: retrying will not help.

Classification looks through ``OperationFailed`` wrappers, so adding context to an
error never changes whether it is retried. ``transient(...)`` and ``ambiguous(...)``
scope a declaration to one block: only errors raised inside it are marked, which
is how "rescue only the one error type from the one line that raises it" is said.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterable, Iterator

from .errors import OperationFailed

_MARK = "__resilience_kind__"


class Kind(str, enum.Enum):
    """What retrying an error would mean."""

    TRANSIENT = "transient"
    AMBIGUOUS = "ambiguous"
    PERMANENT = "permanent"

    def __str__(self) -> str:
        return self.value


def chain(error: BaseException) -> list[BaseException]:
    """``error`` and, through any ``OperationFailed`` wrappers, the errors it stands for (outermost first)."""
    links = [error]
    while isinstance(links[-1], OperationFailed) and links[-1].original is not None:
        links.append(links[-1].original)
    return links


def declared_match(error: BaseException, types: Iterable[type[BaseException]]) -> type[BaseException] | None:
    """The declared type that ``error`` (or what it wraps) is an instance of, most specific first."""
    declared = tuple(types)
    for link in chain(error):
        for klass in type(link).__mro__:
            if klass in declared:
                return klass
    return None


def classify(
    error: BaseException,
    retry_on: Iterable[type[BaseException]] = (),
    ambiguous_on: Iterable[type[BaseException]] = (),
) -> Kind:
    """Classify ``error``: a scoped mark wins, then ``ambiguous_on``, then ``retry_on``; else permanent.

    Ambiguous beats transient when an error matches both (a ``TimeoutError``
    under a declared ``OSError``): the safe reading of an error that may have
    taken effect is that it did.
    """
    for link in chain(error):
        mark = getattr(link, _MARK, None)
        if isinstance(mark, Kind):
            return mark
    if declared_match(error, ambiguous_on) is not None:
        return Kind.AMBIGUOUS
    if declared_match(error, retry_on) is not None:
        return Kind.TRANSIENT
    return Kind.PERMANENT


def mark(error: BaseException, kind: Kind) -> BaseException:
    """Declare what retrying this one error would mean, whatever its type (the innermost mark wins)."""
    if getattr(error, _MARK, None) is None:
        setattr(error, _MARK, kind)
    return error


@contextlib.contextmanager
def _scoped(kind: Kind, types: tuple[type[BaseException], ...]) -> Iterator[None]:
    if not types or not all(isinstance(t, type) and issubclass(t, BaseException) for t in types):
        raise TypeError(f"{kind.value}() takes exception classes, e.g. {kind.value}(ConnectionRefusedError)")
    try:
        yield
    except BaseException as error:
        # The innermost declaration decides: an outer block does not re-mark.
        if declared_match(error, types) is not None and getattr(error, _MARK, None) is None:
            setattr(error, _MARK, kind)
        raise


def transient(*types: type[BaseException]) -> contextlib.AbstractContextManager[None]:
    """Errors of ``types`` raised inside this block are safe to retry (and only those)."""
    return _scoped(Kind.TRANSIENT, types)


def ambiguous(*types: type[BaseException]) -> contextlib.AbstractContextManager[None]:
    """Errors of ``types`` raised inside this block may have taken effect: retried only if idempotent."""
    return _scoped(Kind.AMBIGUOUS, types)
