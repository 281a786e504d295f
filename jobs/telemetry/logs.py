"""Structured job logs: one JSON object a line, for people and for log aggregators.

Every line carries ``ts``, ``level``, ``pid``, ``host``, ``logger`` and ``msg``.
Lines written while a job runs (ours, RQ's, and the application's own) also carry
the job's ``request_id``, ``job_id``, ``job`` and ``attempt``. Only the fields
named in ``JOB_FIELDS`` are ever written: RQ attaches a job's raw arguments to
some records as ``extra``, and those never reach the output. Text is cut short
(``truncation``), so one enormous error message cannot flood the log.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Any

from sentry_sdk.integrations.logging import ignore_logger

from ..model.outcome import HOST
from ..model.truncation import MESSAGE_CHARS, TRACEBACK_CHARS, shorten, shorten_json

logger = logging.getLogger("stalwart")

JOB_FIELDS = ("request_id", "job_id", "job", "attempt", "outcome", "duration_ms")
EXTRA_FIELDS = ("queue", "classification", "reason", "details", "error_type", "error", "retry_in_s")
# A worker's start and stop lines: how it runs, and why it stopped, having run how many jobs to what end.
WORKER_FIELDS = ("mode", "burst", "redis", "version", "stop_reason", "ran", "waiting")


@dataclass(frozen=True)
class JobContext:
    """The job a process is running now; stamped on every log line written meanwhile."""

    request_id: str | None
    job_id: str
    job: str
    attempt: int


_current: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar("stalwart_job", default=None)


@contextlib.contextmanager
def job_context(context: JobContext) -> Iterator[None]:
    """Stamp the log lines written inside the block with ``context``."""
    token = _current.set(context)
    try:
        yield
    finally:
        _current.reset(token)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line, with only the fields this module names."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "pid": record.process or os.getpid(),
            "host": HOST,
            "logger": record.name,
            "msg": shorten(record.getMessage(), MESSAGE_CHARS),
        }
        context = _current.get()
        if context is not None:
            line["request_id"] = context.request_id
            line["job_id"] = context.job_id
            line["job"] = context.job
            line["attempt"] = context.attempt
        for field in (*JOB_FIELDS, *EXTRA_FIELDS, *WORKER_FIELDS):
            if field in record.__dict__:
                value = record.__dict__[field]
                line[field] = shorten(value, MESSAGE_CHARS) if isinstance(value, str) else value
        if isinstance(line.get("details"), dict | list):
            line["details"] = shorten_json(line["details"], MESSAGE_CHARS)
        if record.exc_info:
            line["traceback"] = shorten(self.formatException(record.exc_info), TRACEBACK_CHARS)
        return json.dumps(line, default=str)


def configure(level: str | int = "INFO", stream: IO[str] | None = None) -> logging.Handler:
    """Send every log record of this process (stalwart's, RQ's, the application's) out as JSON lines.

    Replaces handlers on the root logger, and makes RQ's loggers propagate to it,
    so RQ never installs its own colourised handlers.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("rq", "rq.worker", "rq.job", "rq.scheduler", "rq.queue"):
        rq_logger = logging.getLogger(name)
        for old in list(rq_logger.handlers):
            rq_logger.removeHandler(old)
        rq_logger.propagate = True
    return handler


def _keep_out_of_applications_sentry() -> None:
    """Our own ERROR lines must not become events in the application's Sentry as well.

    Sentry's logging integration (on by default when an application sets up
    Sentry) turns ERROR records into events. Stalwart reports what deserves an
    event once, through its own alert path; its log lines would report every
    dead-lettered job a second and a third time.
    """
    for pattern in ("stalwart*", "resilience*"):
        ignore_logger(pattern)


_keep_out_of_applications_sentry()
