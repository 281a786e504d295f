"""Periodic jobs without Redis: their options are checked at class definition, and their ticks are pure math."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from jobs import Job, JobDefinitionError, Status
from jobs.finishing.ticks import TickEnd, tick_end
from jobs.model import payload
from jobs.model.outcome import Outcome
from jobs.model.periodic import PeriodicSpec, spec_of, tick_body, tick_job_id
from jobs.model.schedule import ON_TIME_S, Schedule, deadline, due
from tests.periodic_jobs import Nightly

PARIS = ZoneInfo("Europe/Paris")


def at(*parts: int, zone: Any = timezone.utc) -> float:
    return datetime(*parts, tzinfo=zone).timestamp()  # type: ignore[misc]


# -- class definition ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cron": "61 3 * * *"}, "cron is not a valid cron expression (Bad minute), e.g. cron = '0 3 * * *'"),
        ({"cron": "0 3 * * * *"}, "cron must have 5 fields, not 6"),
        ({"cron": 3}, "cron must be a cron expression"),
        ({"every_s": 0.5}, "every_s must be a number of seconds >= 1, e.g. every_s = 30"),
        ({"every_s": True}, "every_s must be a number of seconds >= 1"),
        ({"cron": "0 3 * * *", "cron_timezone": "Mars/Olympus"}, "cron_timezone is not a time zone"),
        ({"every_s": 30, "catch_up": "some"}, "catch_up must be one of 'latest', 'all', 'none'"),
        ({"every_s": 30, "grace_s": -1}, "grace_s must be a positive number of seconds, e.g. grace_s = 900"),
        ({"every_s": 30, "periodic_kwargs": [1]}, "periodic_kwargs must be a dict of perform()'s keyword"),
        ({"cron": "0 3 * * *", "every_s": 30}, "declares both cron ('0 3 * * *') and every_s (30)"),
        ({"catch_up": "all"}, "declares catch_up but no schedule"),
        ({"every_s": 30, "cron_timezone": "Europe/Paris"}, "declares cron_timezone with every_s"),
    ],
)
def test_a_periodic_option_that_cannot_work_fails_at_class_definition(
    options: dict[str, Any], message: str
) -> None:
    def perform(self: Any) -> None: ...

    with pytest.raises(JobDefinitionError, match=re.escape(message)):
        type("Bad", (Job,), {**options, "perform": perform})


def test_a_periodic_job_whose_perform_requires_an_argument_is_refused() -> None:
    with pytest.raises(JobDefinitionError) as raised:

        class Report(Job):
            name = "tests.unit.Report"
            cron = "0 3 * * *"

            def perform(self, month: str) -> None: ...

    assert str(raised.value).endswith(
        "Report is periodic: each tick calls perform(**periodic_kwargs), with {}, and its argument "
        "'month' is required by perform() but was not given; give it a default, or set periodic_kwargs = {...}"
    )


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        (
            {"month": 7},
            "its argument 'month' must be str (perform()'s annotation), got int; fix periodic_kwargs",
        ),
        ({"month": "2026-09", "extra": 1}, "its argument 'extra' is not accepted by perform()"),
        ({"month": float("nan")}, "its argument 'month' is not JSON-serialisable"),
    ],
)
def test_periodic_kwargs_are_checked_like_enqueue_arguments(kwargs: dict[str, Any], problem: str) -> None:
    with pytest.raises(JobDefinitionError, match=re.escape(problem)):

        class Report(Job):
            name = "tests.unit.Report2"
            every_s = 3600
            periodic_kwargs = kwargs

            def perform(self, month: str) -> None: ...


def test_a_periodic_job_with_defaults_or_periodic_kwargs_is_defined() -> None:
    class Report(Job):
        name = "tests.unit.Report3"
        cron = "0 3 1 * *"
        cron_timezone = "Europe/Paris"
        catch_up = "all"
        grace_s = 900
        periodic_kwargs = {"month": "current"}  # noqa: RUF012

        def perform(self, month: str, dry_run: bool = False) -> None: ...

    spec = spec_of(Report)
    assert spec == PeriodicSpec.from_json(spec.to_json())
    assert (spec.schedule.describe(), spec.catch_up, spec.grace_s, spec.kwargs) == (
        "0 3 1 * * Europe/Paris",
        "all",
        900,
        {"month": "current"},
    )


# -- tick math ----------------------------------------------------------------------------------------


def test_every_s_ticks_fall_on_multiples_of_the_period_whoever_computes_them() -> None:
    schedule = Schedule(every_s=30)
    assert schedule.next_after(at(2026, 11, 30, 17, 0, 1)) == at(2026, 11, 30, 17, 0, 30)
    assert schedule.next_after(at(2026, 11, 30, 17, 0, 30)) == at(2026, 11, 30, 17, 1, 0)
    assert schedule.latest_at_or_before(at(2026, 11, 30, 17, 0, 30)) == at(2026, 11, 30, 17, 0, 30)


def test_a_cron_tick_is_in_utc_unless_a_zone_is_named() -> None:
    now = at(2026, 11, 30, 17, 0)
    assert Schedule(cron="0 3 * * *").next_after(now) == at(2026, 12, 1, 3, 0)
    # Paris is UTC+1 in winter: 03:00 there is 02:00 UTC.
    assert Schedule(cron="0 3 * * *", timezone="Europe/Paris").next_after(now) == at(2026, 12, 1, 2, 0)
    assert Schedule(cron="0 3 * * *").latest_at_or_before(at(2026, 12, 1, 3, 0)) == at(2026, 12, 1, 3, 0)


def test_a_cron_tick_in_a_named_zone_follows_daylight_saving_time() -> None:
    daily = Schedule(cron="30 2 * * *", timezone="Europe/Paris")
    # Spring forward (29 March 2026): 02:30 does not exist; the tick runs at 03:00 local (01:00 UTC).
    spring = daily.next_after(at(2026, 3, 28, 12, 0))
    assert spring == at(2026, 3, 29, 3, 0, zone=PARIS) == at(2026, 3, 29, 1, 0)
    # Fall back (25 October 2026): 02:30 happens twice; the tick runs once, at the first (00:30 UTC).
    autumn = daily.next_after(at(2026, 10, 24, 12, 0))
    assert autumn == at(2026, 10, 25, 0, 30)
    assert daily.next_after(autumn) == at(2026, 10, 26, 1, 30)
    # The period around them is not a day: 23 and 25 hours.
    assert daily.period_after(at(2026, 3, 28, 1, 30)) == 23.5 * 3600
    assert daily.period_after(autumn) == 25 * 3600


def test_missed_ticks_follow_catch_up() -> None:
    hourly = Schedule(every_s=3600)
    last = at(2026, 11, 30, 0, 0)
    now = at(2026, 11, 30, 3, 30)  # 01:00, 02:00 and 03:00 were missed
    assert due(hourly, last, now, "latest").ticks == ((at(2026, 11, 30, 3, 0), True),)
    assert due(hourly, last, now, "all").ticks == tuple((at(2026, 11, 30, h, 0), True) for h in (1, 2, 3))
    # "none": 03:00 is 30 minutes late, so it was missed too: recorded, not run.
    assert due(hourly, last, now, "none").ticks == ((at(2026, 11, 30, 3, 0), False),)
    on_time = at(2026, 11, 30, 3, 0) + ON_TIME_S
    assert due(hourly, last, on_time, "none").ticks == ((at(2026, 11, 30, 3, 0), True),)


def test_nothing_is_due_before_the_next_tick_nor_while_the_clock_is_behind_the_last_one() -> None:
    hourly = Schedule(every_s=3600)
    last = at(2026, 11, 30, 3, 0)
    assert due(hourly, last, last + 3599, "all").ticks == ()
    assert due(hourly, last, last - 7200, "latest").ticks == ()  # the clock went back two hours


def test_catch_up_all_enqueues_a_bounded_batch_per_round_and_says_more_is_due() -> None:
    plan = due(Schedule(every_s=1), 0.0, 10.0, "all", limit=4)
    assert (plan.ticks, plan.more) == (tuple((float(t), True) for t in (1, 2, 3, 4)), True)
    assert due(Schedule(every_s=1), 4.0, 10.0, "all", limit=6).more is False


def test_a_tick_is_late_after_grace_s_or_by_default_the_next_tick_plus_timeout_s() -> None:
    hourly = Schedule(every_s=3600)
    tick = at(2026, 11, 30, 3, 0)
    assert deadline(hourly, tick, 900, timeout_s=600) == tick + 900
    assert deadline(hourly, tick, None, timeout_s=600) == tick + 3600 + 600


def test_a_tick_names_its_job_and_time_so_a_replayed_tick_is_the_same_job() -> None:
    spec = spec_of(Nightly)
    tick = at(2026, 12, 1, 2, 0)
    assert (
        tick_job_id(spec.name, tick) == tick_job_id(spec.name, tick) != tick_job_id(spec.name, tick + 86400)
    )
    body = tick_body(spec, tick, "req-1", datetime(2026, 12, 1, 2, 0, 1, tzinfo=timezone.utc))
    assert body["meta"]["periodic"] == "tests.periodic.Nightly"
    assert body["meta"]["scheduled_for"] == "2026-12-01T02:00:00.000+00:00"
    assert body["kwargs"] == {"region": "eu"}
    # The worker sees the tick in the job's zone: 03:00 in Paris.
    decoded = payload.decode(body)
    assert decoded.scheduled_for == datetime(2026, 12, 1, 3, 0, tzinfo=PARIS)
    assert str(decoded.scheduled_for.tzinfo) == "Europe/Paris"


def test_a_job_not_enqueued_by_a_tick_has_no_scheduled_for() -> None:
    body = payload.build(Nightly, {"region": "us"}, "req-2")
    assert payload.decode(body).scheduled_for is None


@pytest.mark.parametrize(
    ("status", "recorded"),
    [
        (Status.SUCCEEDED, True),
        (Status.NEGATIVE, True),
        (Status.DEAD_LETTERED, True),
        (Status.SCHEDULED, False),  # a retry: the tick's run has not ended
    ],
)
def test_only_an_ending_outcome_of_a_ticked_job_ends_its_tick(status: Status, recorded: bool) -> None:
    meta = tick_body(spec_of(Nightly), at(2026, 12, 1, 2, 0), "req-3", datetime.now(timezone.utc))["meta"]
    outcome = Outcome(
        status=status, job=Nightly.name, job_id="j-1", attempt=1, max_attempts=3, duration_ms=1.0
    )
    end = tick_end(meta, outcome, "j-1")
    expected = TickEnd(Nightly.name, round(at(2026, 12, 1, 2, 0) * 1000), status.value, "j-1")
    assert end == (expected if recorded else None)
    assert tick_end({"request_id": "r"}, outcome, "j-1") is None  # enqueued by hand
