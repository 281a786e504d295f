"""When a periodic job's ticks fall: a cron expression (with its time zone) or a fixed period, as pure math.

Cron expressions are parsed and walked by ``cronsim`` (standard 5-field cron, DST-aware in a named
zone, as Debian's cron: a time skipped by a spring-forward runs at the first minute after the gap;
one repeated by a fall-back runs once). ``every_s`` ticks fall on multiples of the period since the
Unix epoch, so every host computes the same ticks whoever started first.

Times are epoch seconds (floats) throughout; no clock is read here: the caller passes ``now``.
Which ticks of a backlog run is ``due``'s business (``catch_up``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

CATCH_UP = ("latest", "all", "none")
# Under catch_up = "none", a tick found more than this late counts as missed (the leader's usual lateness
# is milliseconds): it is skipped, not run.
ON_TIME_S = 60.0
# Under catch_up = "all", at most this many ticks are enqueued per round; the next round goes on.
MAX_TICKS_PER_ROUND = 1000
CRON_EXAMPLE = "cron = '0 3 * * *' (minute hour day-of-month month day-of-week)"


def cron_problem(value: object) -> str | None:
    """Why ``value`` is not a 5-field cron expression (cronsim's reason), or None."""
    if not isinstance(value, str) or not value.strip():
        return f"must be a cron expression, e.g. {CRON_EXAMPLE}"
    fields = len(value.split())
    if fields != 5:
        return f"must have 5 fields, not {fields}, e.g. {CRON_EXAMPLE}"
    try:
        CronSim(value, datetime(2000, 1, 1, tzinfo=timezone.utc))
    except CronSimError as err:
        return f"is not a valid cron expression ({err}), e.g. {CRON_EXAMPLE}"
    return None


def zone_problem(value: object) -> str | None:
    """Why ``value`` is not an IANA time zone name this machine knows, or None."""
    if not isinstance(value, str) or not value.strip():
        return "must be an IANA time zone name, e.g. cron_timezone = 'Europe/Paris'"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as err:
        return (
            f"is not a time zone this machine knows ({type(err).__name__}); use an IANA name such as "
            "'Europe/Paris' (the tzdata package provides them where the system has none)"
        )
    return None


@dataclass(frozen=True)
class Schedule:
    """A periodic job's ticks: ``cron`` in ``timezone``, or one every ``every_s`` seconds."""

    cron: str | None = None
    every_s: float | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every_s is None):
            raise ValueError("a schedule needs a cron expression or every_s, and not both")
        problem = cron_problem(self.cron) if self.cron is not None else None
        problem = problem or zone_problem(self.timezone)
        if problem:
            raise ValueError(f"schedule {self.cron or self.every_s!r}: {problem}")
        if self.every_s is not None and not self.every_s > 0:
            raise ValueError(f"every_s must be positive, got {self.every_s!r}")

    @property
    def zone(self) -> ZoneInfo:
        """The time zone cron fields are read in."""
        return ZoneInfo(self.timezone)

    def describe(self) -> str:
        """``0 3 * * * Europe/Paris``, ``0 3 * * *`` (UTC), or ``every 30s``."""
        if self.cron is not None:
            return self.cron if self.timezone == "UTC" else f"{self.cron} {self.timezone}"
        return f"every {self.every_s:g}s"

    def next_after(self, t: float) -> float:
        """The first tick strictly after ``t``."""
        if self.every_s is not None:
            return (math.floor(t / self.every_s) + 1) * self.every_s
        assert self.cron is not None
        # cronsim walks whole seconds from the start, which it truncates: strictly after floor(t).
        start = datetime.fromtimestamp(math.floor(t), self.zone)
        return next(CronSim(self.cron, start)).timestamp()

    def latest_at_or_before(self, t: float) -> float:
        """The last tick at or before ``t``."""
        if self.every_s is not None:
            return math.floor(t / self.every_s) * self.every_s
        assert self.cron is not None
        # Cron ticks are whole seconds: strictly before floor(t) + 1 is at or before t.
        start = datetime.fromtimestamp(math.floor(t) + 1, self.zone)
        return next(CronSim(self.cron, start, reverse=True)).timestamp()

    def period_after(self, tick: float) -> float:
        """How long until the tick after ``tick`` (for cron, it varies: a day, a month, a DST day)."""
        return self.next_after(tick) - tick


@dataclass(frozen=True)
class Due:
    """What one round does for one job: each tick in order, with whether it is enqueued or skipped."""

    ticks: tuple[tuple[float, bool], ...]
    # True when catch_up = "all" left ticks for the next round (MAX_TICKS_PER_ROUND).
    more: bool = False


def due(schedule: Schedule, last: float, now: float, catch_up: str, limit: int = MAX_TICKS_PER_ROUND) -> Due:
    """The ticks after ``last`` (the last one recorded) up to ``now``, as ``catch_up`` says.

    ``latest``: only the latest of them runs (the others are skipped by recording it). ``all``: every one
    runs, oldest first, ``limit`` a round. ``none``: the latest runs only if it is on time (at most
    ``ON_TIME_S`` late), else it is recorded as skipped. A clock that went back (``now`` before ``last``)
    makes nothing due until it passes ``last`` again.
    """
    if catch_up not in CATCH_UP:
        raise ValueError(f"catch_up must be one of {', '.join(CATCH_UP)}, got {catch_up!r}")
    latest = schedule.latest_at_or_before(now)
    if latest <= last:
        return Due(())
    if catch_up == "latest":
        return Due(((latest, True),))
    if catch_up == "none":
        return Due(((latest, now - latest <= ON_TIME_S),))
    ticks: list[tuple[float, bool]] = []
    tick = schedule.next_after(last)
    while tick <= now and len(ticks) < limit:
        ticks.append((tick, True))
        tick = schedule.next_after(tick)
    return Due(tuple(ticks), more=tick <= now)


def deadline(schedule: Schedule, tick: float, grace_s: float | None, timeout_s: float) -> float:
    """When the run of ``tick`` is late: ``tick + grace_s``; by default, the next tick plus ``timeout_s``."""
    if grace_s is not None:
        return tick + grace_s
    return schedule.next_after(tick) + timeout_s


def iso(t: float) -> str:
    """An epoch time as ISO 8601 in UTC, to the millisecond (how a tick is named in payloads)."""
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")
