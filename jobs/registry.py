"""The allow-list of runnable jobs: every ``Job`` subclass, by name.

Workers resolve a payload's job name here and nowhere else. A name that is not
registered is never imported, so a forged payload cannot run arbitrary code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import JobDefinitionError, UnknownJobError

if TYPE_CHECKING:
    from .job import Job

_jobs: dict[str, type[Job]] = {}


def register(cls: type[Job]) -> None:
    """Add ``cls`` under ``cls.name``; a different class under the same name is an error."""
    existing = _jobs.get(cls.name)
    if existing is not None and _origin(existing) != _origin(cls):
        raise JobDefinitionError(
            f"{_origin(cls)} cannot take the job name {cls.name!r}: {_origin(existing)} already has it; "
            "give one of them a distinct `name = ...`"
        )
    # The same class defined again (a module reloaded) replaces the old one.
    _jobs[cls.name] = cls


def resolve(name: str) -> type[Job]:
    """The job class registered under ``name``; raises UnknownJobError otherwise."""
    try:
        return _jobs[name]
    except (KeyError, TypeError):
        raise UnknownJobError(str(name)) from None


def registered() -> dict[str, type[Job]]:
    """A copy of the registry, name to class."""
    return dict(_jobs)


def _origin(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
