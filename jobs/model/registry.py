"""An allow-list of classes by name: the only way a worker turns a job name into code.

A name that is not registered is never imported, so a forged payload cannot run
arbitrary code. The jobs' own registry is ``definition.REGISTRY``.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from ..errors import JobDefinitionError, UnknownJobError

T = TypeVar("T")


def _origin(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class Registry(Generic[T]):
    """Classes by name; a different class under a name already taken is refused."""

    def __init__(self) -> None:
        self._classes: dict[str, type[T]] = {}

    def register(self, name: str, cls: type[T]) -> None:
        """Add ``cls`` under ``name``; a different class under the same name is an error."""
        existing = self._classes.get(name)
        if existing is not None and _origin(existing) != _origin(cls):
            raise JobDefinitionError(
                f"{_origin(cls)} cannot take the job name {name!r}: {_origin(existing)} already has it; "
                "give one of them a distinct `name = ...`"
            )
        # The same class defined again (a module reloaded) replaces the old one.
        self._classes[name] = cls

    def resolve(self, name: object) -> type[T]:
        """The class registered under ``name``; raises UnknownJobError otherwise."""
        found = self._classes.get(name) if isinstance(name, str) else None
        if found is None:
            raise UnknownJobError(name if isinstance(name, str) else repr(name))
        return found

    def get(self, name: str) -> type[T] | None:
        """The class registered under ``name``, or None."""
        return self._classes.get(name)

    def registered(self) -> dict[str, type[T]]:
        """A copy of the registry, name to class."""
        return dict(self._classes)
