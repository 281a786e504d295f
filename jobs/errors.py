"""Errors raised by the job framework.

Every error here derives from one root, so callers can catch the framework's
errors without catching their own::

    JobsError
    ├── JobDefinitionError   a Job subclass declares something invalid (import time)
    ├── PayloadError         arguments that cannot be enqueued (nothing was enqueued)
    ├── EnqueueError         Redis did not answer in time, or is full (says if the job may have arrived)
    ├── UnknownJobError      a job name that no imported module registered
    ├── ConfigurationError   Redis cannot be found or reached; says what to set
    ├── NoSuchJobError       a handle whose job Redis no longer knows
    ├── NoSuchEntryError     a dead-letter id that does not exist
    ├── DeadLetterError      an operation the entry's state does not allow (replay a discarded entry)
    ├── ArchiveError         the dead-letter archive file cannot be written (no entry was lost)
    └── ResultUnavailable    result() of a job that has not succeeded (yet)
"""

from __future__ import annotations


class JobsError(Exception):
    """Root of every error raised by the jobs package."""


class JobDefinitionError(JobsError, TypeError):
    """A Job subclass declares an option of the wrong type, an unknown option, or a contradiction."""


class PayloadError(JobsError, ValueError):
    """The arguments given to ``enqueue`` cannot become a job; nothing was enqueued."""

    def __init__(self, job: str, argument: str | None, problem: str, index: int | None = None) -> None:
        self.job = job
        self.argument = argument
        self.problem = problem
        # Which payload of an ``enqueue_many`` it is (counted from 0), if it came from one.
        self.index = index
        where = f"argument {argument!r} of {job}" if argument else job
        which = "" if index is None else f"payload {index} (counted from 0): "
        done = "; nothing was enqueued" if index is not None else ""
        super().__init__(f"cannot enqueue {job}: {which}{where} {problem}{done}")


class UnknownJobError(JobsError, LookupError):
    """A job name that no imported module has registered."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"no job is registered under {name!r}; import the module that defines it "
            "(stalwart worker --import MODULE)"
        )


class ConfigurationError(JobsError):
    """Redis cannot be located or reached; the message says what to set or start."""


class NoSuchJobError(JobsError, LookupError):
    """Redis no longer holds the job a handle refers to (its result expired, or it never existed)."""


class ResultUnavailable(JobsError):
    """``result()`` was asked of a job that has not succeeded or returned a Negative."""


class NoSuchEntryError(JobsError, LookupError):
    """No dead-letter entry has the given id."""

    def __init__(self, entry_id: str) -> None:
        self.entry_id = entry_id
        super().__init__(f"no dead-letter entry has the id {entry_id!r}; `stalwart dlq list` shows the ids")


class DeadLetterError(JobsError):
    """An operation on a dead-letter entry that its state does not allow; nothing was changed."""


class ArchiveError(JobsError):
    """The dead-letter archive file could not be opened or written; every entry is in Redis or the file."""


class EnqueueError(JobsError):
    """Redis did not answer within the enqueue deadline, or is full; the message says whether the job may
    have reached Redis all the same (and then names its id)."""
