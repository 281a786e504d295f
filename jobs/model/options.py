"""Class options of ``Job`` and their validation at class-definition time.

A job class is checked when Python executes its ``class`` statement, so a typo
or a wrong type fails the import with a message that says how to fix it, not
the first job in production.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from resilience import Backoff, RetryPolicy

from ..errors import JobDefinitionError
from .schedule import CATCH_UP, cron_problem, zone_problem

# Parameters of ``perform`` that would collide with ``enqueue``'s own keywords.
RESERVED_ARGUMENTS = frozenset({"connection"})


def _is_exception_type(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)


def _check_name(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string, e.g. name = 'billing.ChargeMonthlyFee'"
    return None


def _check_queue(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        return "must be a queue name without spaces, e.g. queue = 'billing'"
    return None


def _check_positive_number(example: str) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            return f"must be a positive number of seconds, e.g. {example}"
        return None

    return check


def _check_whole_number(example: str) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return f"must be a whole number >= 1, e.g. {example}"
        return None

    return check


def _check_max_attempts(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return "must be a whole number >= 1 (attempts in all, the first included), e.g. max_attempts = 5"
    return None


def _check_exception_types(option: str) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        if not isinstance(value, tuple) or not all(_is_exception_type(t) for t in value):
            return f"must be a tuple of exception classes, e.g. {option} = (ConnectionRefusedError,)"
        return None

    return check


def _check_retry_on(value: object) -> str | None:
    if isinstance(value, Mapping):
        for key, budget in value.items():
            if not _is_exception_type(key):
                return f"keys must be exception classes, got {key!r}"
            if isinstance(budget, bool) or not (
                (isinstance(budget, int) and budget >= 1) or isinstance(budget, RetryPolicy)
            ):
                return (
                    f"the budget for {key.__name__} must be a whole number of attempts >= 1 or a "
                    "RetryPolicy, e.g. retry_on = {ConnectionRefusedError: 5}"
                )
        return None
    return _check_exception_types("retry_on")(value)


def _check_bool(option: str) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        if not isinstance(value, bool):
            return f"must be True or False, e.g. {option} = True"
        return None

    return check


def _check_optional_str(option: str) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        if value is not None and (not isinstance(value, str) or not value.strip()):
            return f"must be a sentence for a person, e.g. {option} = 'Check the gateway, then replay.'"
        return None

    return check


def _check_max_concurrency(value: object) -> str | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        return (
            "must be a whole number >= 1 (how many may run at once across every worker), "
            "e.g. max_concurrency = 2, or None for no limit"
        )
    return None


def _check_rate_limit(value: object) -> str | None:
    if value is None:
        return None
    problem = (
        "must be a tuple (starts, per_s) of a whole number >= 1 and a positive number of seconds, "
        "e.g. rate_limit = (20, 1.0) for at most 20 starts in any second, or None for no limit"
    )
    if not isinstance(value, tuple) or len(value) != 2:
        return problem
    starts, per_s = value
    if isinstance(starts, bool) or not isinstance(starts, int) or starts < 1:
        return problem
    if isinstance(per_s, bool) or not isinstance(per_s, int | float) or not 0 < per_s < float("inf"):
        return problem
    return None


def _check_limit_key(value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        return (
            "must be a non-empty name shared by the jobs that share a limit, e.g. limit_key = 'gateway', "
            "or None for the job's own name"
        )
    return None


def _check_backoff(value: object) -> str | None:
    if value is not None and not isinstance(value, Backoff):
        return "must be a backoff strategy such as resilience.Exponential(base=2.0, cap=600)"
    return None


def _check_every_s(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
        return "must be a number of seconds >= 1, e.g. every_s = 30"
    return None


def _check_optional(check: Callable[[object], str | None]) -> Callable[[object], str | None]:
    def optional(value: object) -> str | None:
        return None if value is None else check(value)

    return optional


def _check_catch_up(value: object) -> str | None:
    if value not in CATCH_UP:
        return f"must be one of {', '.join(repr(c) for c in CATCH_UP)}, e.g. catch_up = 'latest'"
    return None


def _check_periodic_kwargs(value: object) -> str | None:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        return "must be a dict of perform()'s keyword arguments, e.g. periodic_kwargs = {'region': 'eu'}"
    return None


OPTIONS: dict[str, Callable[[object], str | None]] = {
    "name": _check_name,
    "queue": _check_queue,
    "timeout_s": _check_positive_number("timeout_s = 300"),
    "result_ttl_s": _check_positive_number("result_ttl_s = 86400"),
    "retry_on": _check_retry_on,
    "ambiguous_on": _check_exception_types("ambiguous_on"),
    "max_attempts": _check_max_attempts,
    "backoff": _check_backoff,
    "idempotent": _check_bool("idempotent"),
    "remediation": _check_optional_str("remediation"),
    "circuit": _check_optional_str("circuit"),
    "circuit_failure_threshold": _check_whole_number("circuit_failure_threshold = 5"),
    "circuit_reset_after_s": _check_positive_number("circuit_reset_after_s = 30"),
    "give_up_after_s": _check_positive_number("give_up_after_s = 3600"),
    "max_concurrency": _check_max_concurrency,
    "rate_limit": _check_rate_limit,
    "limit_key": _check_limit_key,
    "unique": _check_bool("unique"),
    "abstract": _check_bool("abstract"),
    "cron": _check_optional(cron_problem),
    "every_s": _check_every_s,
    "cron_timezone": _check_optional(zone_problem),
    "catch_up": _check_catch_up,
    "grace_s": _check_optional(_check_positive_number("grace_s = 900")),
    "periodic_kwargs": _check_periodic_kwargs,
}
# Options that mean something only for a periodic job (one with cron or every_s).
PERIODIC_ONLY = ("cron_timezone", "catch_up", "grace_s", "periodic_kwargs")

# Methods a subclass may define; listed so a misspelt one is caught like an option.
METHODS = frozenset(
    {
        "perform",
        "describe",
        "idempotency_key_for",
        "on_dead_letter",
        "enqueue",
        "enqueue_in",
        "enqueue_at",
        "enqueue_many",
    }
)


def validate_class(cls: type, own: Mapping[str, Any]) -> None:
    """Check the options ``cls`` declares in its own body; raise JobDefinitionError on the first problem."""
    label = f"{cls.__module__}.{cls.__qualname__}"
    for attr, value in own.items():
        if attr.startswith("_"):
            continue
        check = OPTIONS.get(attr)
        if check is not None:
            problem = check(value)
            if problem:
                raise JobDefinitionError(f"{label}.{attr} {problem} (got {value!r})")
            continue
        if attr not in METHODS:
            close = difflib.get_close_matches(attr, [*OPTIONS, *METHODS], n=1, cutoff=0.8)
            if close:
                raise JobDefinitionError(
                    f"{label} declares unknown option {attr!r}; did you mean {close[0]!r}? "
                    f"Known options: {', '.join(sorted(OPTIONS))}"
                )
    _check_contradictions(cls, label)
    if not getattr(cls, "abstract", False) and "abstract" not in own:
        _check_perform(cls, label)


def _check_contradictions(cls: type, label: str) -> None:
    _check_schedule(cls, label)
    retry_on = getattr(cls, "retry_on", ())
    both = set(retry_on) & set(getattr(cls, "ambiguous_on", ()))
    if both:
        names = ", ".join(sorted(t.__name__ for t in both))
        raise JobDefinitionError(
            f"{label} declares {names} both in retry_on and in ambiguous_on; an error either may have "
            "taken effect (ambiguous_on) or certainly did not (retry_on): keep it in one"
        )
    limited = (
        getattr(cls, "max_concurrency", None) is not None or getattr(cls, "rate_limit", None) is not None
    )
    if getattr(cls, "limit_key", None) is not None and not limited:
        raise JobDefinitionError(
            f"{label} declares limit_key but no limit to share under it: declare max_concurrency = N "
            "and/or rate_limit = (N, per_s) too, or remove limit_key"
        )


def _check_schedule(cls: type, label: str) -> None:
    cron, every_s = getattr(cls, "cron", None), getattr(cls, "every_s", None)
    if cron is not None and every_s is not None:
        raise JobDefinitionError(
            f"{label} declares both cron ({cron!r}) and every_s ({every_s!r}); a periodic job has one "
            "schedule: keep one"
        )
    if cron is None and every_s is None:
        declared = [o for o in PERIODIC_ONLY if o in vars(cls)]
        if declared:
            raise JobDefinitionError(
                f"{label} declares {', '.join(declared)} but no schedule; add cron = '0 3 * * *' or "
                "every_s = 30, or remove them"
            )
    elif every_s is not None and "cron_timezone" in vars(cls) and cls.cron_timezone is not None:  # type: ignore[attr-defined]
        raise JobDefinitionError(
            f"{label} declares cron_timezone with every_s; a period needs no time zone: remove it"
        )


def _check_perform(cls: type, label: str) -> None:
    perform = cls.__dict__.get("perform") or getattr(cls, "perform", None)
    if perform is None or getattr(perform, "__isabstractmethod__", False):
        raise JobDefinitionError(
            f"{label} must define perform(self, **kwargs); mark base classes with abstract = True"
        )
    parameters = list(inspect.signature(perform).parameters.values())[1:]
    for parameter in parameters:
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.VAR_POSITIONAL):
            raise JobDefinitionError(
                f"{label}.perform takes {parameter.name!r} positionally; jobs receive keyword "
                "arguments only: declare it as a normal or keyword-only parameter"
            )
        if parameter.name in RESERVED_ARGUMENTS:
            raise JobDefinitionError(
                f"{label}.perform cannot take a parameter named {parameter.name!r}: enqueue() uses that "
                "keyword itself; rename the parameter"
            )
