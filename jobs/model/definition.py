"""``JobDefinition``: what a job is (its options, ``perform`` and ``describe``), checked and registered.

The public ``jobs.Job`` adds enqueueing on top. Everything here is plain Python:
no Redis, no RQ, so the worker's decisions about a job can be made and tested
without either.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from .decisions import Budgets, compile_budgets
from .entry import DeadLetterEntry
from .options import validate_class
from .registry import Registry


class JobDefinition:
    """A unit of background work: options as class attributes, checked when the class is defined.

    ``perform`` returns a JSON value (the job succeeded), returns ``Negative(...)``
    (a business "no": also a success), or raises (a failure).
    """

    name: ClassVar[str] = "jobs.Job"
    queue: ClassVar[str] = "default"
    timeout_s: ClassVar[float] = 600
    result_ttl_s: ClassVar[float] = 24 * 3600
    retry_on: ClassVar[tuple[type[BaseException], ...] | Mapping[type[BaseException], Any]] = ()
    ambiguous_on: ClassVar[tuple[type[BaseException], ...]] = ()
    max_attempts: ClassVar[int] = 3
    backoff: ClassVar[Any] = None
    idempotent: ClassVar[bool] = False
    remediation: ClassVar[str | None] = None
    circuit: ClassVar[str | None] = None
    circuit_failure_threshold: ClassVar[int] = 5
    circuit_reset_after_s: ClassVar[float] = 30
    give_up_after_s: ClassVar[float] = 3600
    # Fleet-wide limits (enforced by runtime/limits.py): at most this many running at once, at most
    # rate_limit[0] starts in any rate_limit[1] seconds; jobs naming one limit_key share both.
    max_concurrency: ClassVar[int | None] = None
    rate_limit: ClassVar[tuple[int, float] | None] = None
    limit_key: ClassVar[str | None] = None
    unique: ClassVar[bool] = False
    abstract: ClassVar[bool] = True
    # Periodic jobs (guide: docs/periodic.md): a schedule, and what to do with ticks missed or late.
    cron: ClassVar[str | None] = None
    every_s: ClassVar[float | None] = None
    cron_timezone: ClassVar[str | None] = None
    catch_up: ClassVar[str] = "latest"
    grace_s: ClassVar[float | None] = None
    periodic_kwargs: ClassVar[Mapping[str, Any]] = {}

    budgets: ClassVar[Budgets]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = dict(vars(cls))
        if "abstract" not in own:
            cls.abstract = False
        if "name" not in own:
            cls.name = f"{cls.__module__}.{cls.__qualname__}"
        validate_class(cls, own)
        cls.budgets = compile_budgets(
            cls.retry_on, cls.ambiguous_on, cls.max_attempts, cls.backoff, cls.idempotent
        )
        if not cls.abstract:
            cls._check_definition()
            REGISTRY.register(cls.name, cls)

    @classmethod
    def _check_definition(cls) -> None:
        """Checks of a concrete class that need more than its options (``Job`` adds the payload rules)."""

    def __init__(
        self,
        *,
        job_id: str,
        attempt: int = 1,
        request_id: str | None = None,
        idempotency_key: str | None = None,
        scheduled_for: datetime | None = None,
    ) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.request_id = request_id
        self.idempotency_key = idempotency_key or ""
        # The tick this run is for (aware, in cron_timezone if any); None unless a tick enqueued it.
        self.scheduled_for = scheduled_for

    @classmethod
    def idempotency_key_for(cls, **kwargs: Any) -> str:
        """The key a third party can deduplicate this job's side effect by.

        Computed once, at enqueue, and kept with the job: every retry (and every
        replay) of one enqueued job sees the same key. By default it is derived
        from the job name and its arguments, so enqueueing the very same job twice
        gives the same key too; override to include what makes two runs distinct.
        """
        canonical = json.dumps([cls.name, kwargs], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    if TYPE_CHECKING:
        # Typed loosely so that subclasses may declare the keyword arguments they take.
        perform: Callable[..., Any]
        describe: Callable[..., str]
    else:

        def perform(self, **kwargs: Any) -> Any:
            """The work. Return a JSON value or a ``Negative``; raise when the work cannot be finished."""
            raise NotImplementedError(f"{type(self).__name__} must define perform()")

        perform.__isabstractmethod__ = True  # class definition refuses a subclass that keeps this one

        def describe(self, **kwargs: Any) -> str:
            """What is being attempted, for failure messages: override to name the customer or order."""
            return f"running {self.name}"

    def on_dead_letter(self, entry: DeadLetterEntry) -> None:
        """Called in the worker after one of this job's runs was dead-lettered; override to react.

        An exception raised here is logged with the entry's id and never stops
        the dead-lettering, which has already happened.
        """


# Every concrete job class, by name: the allow-list workers resolve payloads through.
REGISTRY: Registry[JobDefinition] = Registry()
