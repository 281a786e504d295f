"""``Settings``: every environment variable stalwart reads, read once, typed, and checked.

The process's settings are built from the environment the first time anything
asks (``current()``), and passed down from there. Code can replace them
(``configure``) or change a few for a block (``override``), which is how tests
and embedding applications set them without touching ``os.environ``.

A value that cannot be used is a ``ConfigurationError`` naming the variable and
what to set, raised when the settings are built: not a ``ValueError`` from deep
inside a worker at its first job.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigurationError
from .model.limits import DEFAULT_MAX_DEPTH, DEFAULT_MAX_PAYLOAD_BYTES, Limits

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """What the environment asks of stalwart; every field has the default a new user gets."""

    # Redis
    redis_url: str | None = None
    home: Path | None = None  # STALWART_HOME; None: the project's .stalwart (connection.home)
    redis_server: str | None = None
    key_prefix: str = "stalwart"
    # Producers
    limits: Limits = field(default_factory=Limits)
    enqueue_deadline_s: float = 5.0
    # The outbox in the application's database (jobs.outbox): its URL, how often the relay polls it,
    # and when its backlog alerts.
    outbox_url: str | None = None
    outbox_poll_s: float = 1.0
    outbox_alert_depth: int = 10_000
    outbox_alert_age_s: float = 300.0
    # Workers
    heartbeat_interval_s: int = 5
    heartbeat_ttl_s: int = 15
    kill_limit: int = 3
    scheduler_lease_s: int = 5
    # Dead-letter queue
    dlq_alert_size: int = 1000
    dlq_retention_days: float | None = None
    dlq_archive: Path | None = None
    operator: str | None = None
    # Telemetry
    stats_retention_h: float = 24.0
    statsd_host: str | None = None
    statsd_port: int = 8125
    sentry_dsn: str | None = None
    sentry_environment: str | None = None
    alert_command: str | None = None
    # Console (``stalwart console``)
    console_tokens: tuple[ConsoleToken, ...] = ()
    console_secret: str | None = None
    console_bulk_rate: float = 50.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings ``environ`` (by default ``os.environ``) asks for; ConfigurationError if one is bad."""
        env = os.environ if environ is None else environ
        read = _Reader(env)
        return cls(
            redis_url=read.text("REDIS_URL"),
            home=_path(read.text("STALWART_HOME")),
            redis_server=read.text("STALWART_REDIS_SERVER"),
            key_prefix=_key_prefix(read.text("STALWART_KEY_PREFIX")),
            limits=Limits(
                max_payload_bytes=read.number(
                    "STALWART_MAX_PAYLOAD_BYTES", int, DEFAULT_MAX_PAYLOAD_BYTES, minimum=1
                ),
                # At most 200: the JSON codecs and the failure path recurse over (checked) arguments.
                max_depth=read.number(
                    "STALWART_MAX_PAYLOAD_DEPTH", int, DEFAULT_MAX_DEPTH, minimum=1, maximum=200
                ),
            ),
            enqueue_deadline_s=read.number("STALWART_ENQUEUE_DEADLINE_S", float, 5.0, minimum=0.1),
            outbox_url=read.text("STALWART_OUTBOX_URL"),
            outbox_poll_s=read.number("STALWART_OUTBOX_POLL_S", float, 1.0, minimum=0.01),
            outbox_alert_depth=read.number("STALWART_OUTBOX_ALERT_DEPTH", int, 10_000, minimum=0),
            outbox_alert_age_s=read.number("STALWART_OUTBOX_ALERT_AGE_S", float, 300.0, minimum=1),
            heartbeat_interval_s=read.number("STALWART_HEARTBEAT_INTERVAL_S", int, 5, minimum=1),
            heartbeat_ttl_s=read.number("STALWART_HEARTBEAT_TTL_S", int, 15, minimum=2),
            kill_limit=read.number("STALWART_KILL_LIMIT", int, 3, minimum=1),
            scheduler_lease_s=read.number("STALWART_SCHEDULER_LEASE_S", int, 5, minimum=1),
            dlq_alert_size=read.number("STALWART_DLQ_ALERT_SIZE", int, 1000, minimum=0),
            dlq_retention_days=read.optional_number("STALWART_DLQ_RETENTION_DAYS", float, minimum=0),
            dlq_archive=_path(read.text("STALWART_DLQ_ARCHIVE")),
            operator=read.text("STALWART_OPERATOR"),
            stats_retention_h=read.number("STALWART_STATS_RETENTION_H", float, 24.0, minimum=0.02),
            statsd_host=read.text("STATSD_HOST"),
            statsd_port=read.number("STATSD_PORT", int, 8125, minimum=1),
            sentry_dsn=read.text("SENTRY_DSN"),
            sentry_environment=read.text("SENTRY_ENVIRONMENT"),
            alert_command=read.text("STALWART_ALERT_COMMAND"),
            console_tokens=_console_tokens(read.text("STALWART_CONSOLE_TOKENS")),
            console_secret=read.text("STALWART_CONSOLE_SECRET"),
            console_bulk_rate=read.number("STALWART_CONSOLE_BULK_RATE", float, 50.0, minimum=0.1),
        )

    def but(self, **changes: Any) -> Settings:
        """A copy with some fields changed; an unknown field name is a TypeError naming the known ones."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"Settings has no field {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return replace(self, **changes)


CONSOLE_ROLES = ("read", "operate")


@dataclass(frozen=True)
class ConsoleToken:
    """One ``name:role:token`` entry of ``STALWART_CONSOLE_TOKENS``: who (for the audit), what they may do."""

    name: str
    role: str
    token: str = field(repr=False)

    @property
    def can_operate(self) -> bool:
        """Whether this token may change things (replay, discard), not only read."""
        return self.role == "operate"


_TOKEN_NAME = re.compile(r"[A-Za-z0-9_.@-]+")
# Shorter secrets can be guessed by anyone who can reach the console and try.
MIN_TOKEN_CHARS = 16


def _console_tokens(text: str | None) -> tuple[ConsoleToken, ...]:
    """``STALWART_CONSOLE_TOKENS``: comma-separated ``name:role:token`` entries; ConfigurationError if bad."""
    if not text:
        return ()
    tokens: list[ConsoleToken] = []
    for number, raw in enumerate(text.split(","), start=1):
        name, _, rest = raw.strip().partition(":")
        role, _, token = rest.partition(":")
        where = f"STALWART_CONSOLE_TOKENS entry {number}"
        example = "e.g. STALWART_CONSOLE_TOKENS=alice:operate:$(openssl rand -hex 24)"
        if not _TOKEN_NAME.fullmatch(name) or role not in CONSOLE_ROLES:
            raise ConfigurationError(
                f"{where} is not name:role:token with role read or operate (a name of letters, digits "
                f"and _ . @ -); {example}"
            )
        if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
            raise ConfigurationError(
                f"{where} ({name}) has a token shorter than {MIN_TOKEN_CHARS} characters or with spaces; "
                f"{example}"
            )
        if any(t.name == name for t in tokens):
            raise ConfigurationError(f"{where}: the name {name} is given twice; give each token its own name")
        tokens.append(ConsoleToken(name, role, token))
    return tuple(tokens)


_KEY_PREFIX = re.compile(r"[A-Za-z0-9_.:{}-]+")


def _key_prefix(text: str | None) -> str:
    """``STALWART_KEY_PREFIX`` without a trailing colon (one is added), in the characters RQ allows."""
    prefix = (text or "stalwart").rstrip(":")
    if not _KEY_PREFIX.fullmatch(prefix):
        raise ConfigurationError(
            f"STALWART_KEY_PREFIX={text!r} cannot prefix Redis keys; use letters, digits and _ . : - {{ }}, "
            "e.g. STALWART_KEY_PREFIX=billing"
        )
    return prefix


def _path(text: str | None) -> Path | None:
    return Path(text) if text else None


class _Reader:
    """Reads variables from one mapping, turning a bad value into a ConfigurationError that names it."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def text(self, name: str) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or None

    def number(
        self,
        name: str,
        kind: Callable[[str], T],
        default: T,
        *,
        minimum: float,
        maximum: float | None = None,
    ) -> T:
        found = self.optional_number(name, kind, minimum=minimum, maximum=maximum)
        return default if found is None else found

    def optional_number(
        self, name: str, kind: Callable[[str], T], *, minimum: float, maximum: float | None = None
    ) -> T | None:
        raw = self.text(name)
        if raw is None:
            return None
        what = "a whole number" if kind is int else "a number"
        try:
            value = kind(raw)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(raw)  # nan or inf: no setting means that
        except ValueError:
            raise ConfigurationError(
                f"{name}={raw!r} is not {what}; set it to {what} >= {minimum:g}"
            ) from None
        if value < minimum:  # type: ignore[operator]
            raise ConfigurationError(f"{name}={raw!r} is below {minimum:g}; set it to {what} >= {minimum:g}")
        if maximum is not None and value > maximum:  # type: ignore[operator]
            raise ConfigurationError(
                f"{name}={raw!r} is above {maximum:g}; set it to {what} from {minimum:g} to {maximum:g}"
            )
        return value


_current: list[Settings] = []


def current() -> Settings:
    """The settings in force: those given to ``configure``, else the environment's (read once)."""
    if not _current:
        _current.append(Settings.from_environment())
    return _current[-1]


def configure(settings: Settings | None = None, **changes: Any) -> Settings:
    """Replace the settings in force (with ``settings``, or the current ones with ``changes``)."""
    chosen = (settings or current()).but(**changes)
    _current[:] = [chosen]
    return chosen


def reset() -> None:
    """Forget the settings in force; the next ``current()`` reads the environment again."""
    _current.clear()


@contextlib.contextmanager
def override(**changes: Any) -> Iterator[Settings]:
    """Within the block, the settings in force have ``changes``; restored afterwards."""
    saved = list(_current)
    chosen = current().but(**changes)
    _current.append(chosen)
    try:
        yield chosen
    finally:
        _current[:] = saved
