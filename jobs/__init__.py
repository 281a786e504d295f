"""stalwart's job framework on RQ: subclass ``Job``, enqueue, run ``stalwart worker``."""

from __future__ import annotations

from . import outbox, rules, stats
from .connection import EmbeddedRedis, connect
from .dead_letter import DeadLetterEntry, DeadLetterQueue
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
from .guards import idempotency_guard
from .invariants import invariant
from .job import Job
from .model.outcome import Classification, Negative, Status
from .model.requests import request_context
from .rq_adapter.handle import JobHandle
from .runtime.worker import Worker
from .settings import Settings
from .telemetry.alerts import Alert
from .telemetry.sinks import CommandSink, SentrySink, Sink

__all__ = [
    "Alert",
    "Classification",
    "CommandSink",
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
    "SentrySink",
    "Settings",
    "Sink",
    "Status",
    "UnknownJobError",
    "Worker",
    "connect",
    "idempotency_guard",
    "invariant",
    "outbox",
    "request_context",
    "rules",
    "stats",
]
