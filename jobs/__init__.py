"""stalwart's job framework on RQ: subclass ``Job``, enqueue, run ``stalwart worker``."""

from __future__ import annotations

from . import rules, stats
from .connection import connect
from .context import request_context
from .dead_letter import DeadLetterEntry, DeadLetterQueue
from .embedded import EmbeddedRedis
from .errors import (
    ConfigurationError,
    DeadLetterError,
    EnqueueError,
    JobDefinitionError,
    JobsError,
    NoSuchEntryError,
    NoSuchJobError,
    PayloadError,
    ResultUnavailable,
    UnknownJobError,
)
from .handle import JobHandle
from .invariants import invariant
from .job import Job
from .outcome import Classification, Negative, Status
from .worker import Worker

__all__ = [
    "Classification",
    "ConfigurationError",
    "DeadLetterEntry",
    "DeadLetterError",
    "DeadLetterQueue",
    "EmbeddedRedis",
    "EnqueueError",
    "Job",
    "JobDefinitionError",
    "JobHandle",
    "JobsError",
    "Negative",
    "NoSuchEntryError",
    "NoSuchJobError",
    "PayloadError",
    "ResultUnavailable",
    "Status",
    "UnknownJobError",
    "Worker",
    "connect",
    "invariant",
    "request_context",
    "rules",
    "stats",
]
