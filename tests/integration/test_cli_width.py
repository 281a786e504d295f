"""`stalwart dlq list` and `stalwart stats` fit a terminal (issue 13): exact output at 80 columns and wider.

The width is forced with COLUMNS on a pipe, and given by a pseudo-terminal of 80 columns.
"""

from __future__ import annotations

import json
import re
import time

import pytest
import redis

from jobs import Classification, DeadLetterQueue, stats
from tests.hardening.test_terminals import in_terminal
from tests.integration.test_cli_ids import FIRST, SECOND, THIRD, an_entry
from tests.workers import stalwart

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def three_entries(connection: redis.Redis) -> None:
    """Two entries whose ids share 8 characters, a long error, a long-ago failure, three statuses."""
    dlq = DeadLetterQueue(connection)
    dlq.put(an_entry(FIRST, minutes_ago=183, error_message="503 Service Unavailable (acquirer outage)"))
    dlq.put(
        an_entry(
            SECOND,
            minutes_ago=5.5,
            status="replayed",
            classification=Classification.AMBIGUOUS,
            error_type="GatewayTimeout",
            error_message="read timed out after 30 s while charging customer 42 the monthly fee of 19.00 EUR",
            attempts=1,
        )
    )
    dlq.put(
        an_entry(
            THIRD,
            job="signup.SendWelcomeEmail",
            status="discarded",
            classification=Classification.NON_RETRYABLE,
            error_type="KeyError",
            error_message="'email'",
            attempts=1,
            first_failed_at="2025-01-02T03:04:05+00:00",
            last_failed_at="2025-01-02T03:04:05+00:00",
        )
    )


LIST_AT_80 = """\
id          failed      status     classification  attempts  job
5d1c0a7e-2  5m ago      replayed   ambiguous              1  …g.ChargeMonthlyFee
            GatewayTimeout: read timed out after 30 s while charging customer 4…
5d1c0a7e-1  3h ago      dead       exhausted              5  …g.ChargeMonthlyFee
            GatewayUnavailable: 503 Service Unavailable (acquirer outage)
9cd8f5be    2025-01-02  discarded  non_retryable          1  …p.SendWelcomeEmail
            KeyError: 'email'
3 shown of 3 in the dead-letter queue; `stalwart dlq show ID` for one.
"""


@pytest.mark.usefixtures("three_entries")
def test_dlq_list_at_80_columns_shows_short_ids_ages_statuses_and_the_error_under_each_entry(
    subprocess_env: dict[str, str],
) -> None:
    run = stalwart("dlq", "list", env={**subprocess_env, "COLUMNS": "80"})

    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout == LIST_AT_80
    assert max(len(line) for line in run.stdout.splitlines()) <= 80


@pytest.mark.usefixtures("three_entries")
def test_dlq_list_in_a_terminal_of_80_columns_is_the_same_table(subprocess_env: dict[str, str]) -> None:
    env = {**subprocess_env, "TERM": "xterm-256color"}
    env.pop("COLUMNS", None)

    code, output = in_terminal("dlq", "list", env=env, columns=80)

    assert code == 0
    assert ANSI.sub("", output.decode()).replace("\r\n", "\n") == LIST_AT_80


@pytest.mark.usefixtures("three_entries")
def test_dlq_list_on_a_wide_terminal_has_a_line_per_entry_with_the_error_last(
    subprocess_env: dict[str, str],
) -> None:
    run = stalwart("dlq", "list", env={**subprocess_env, "COLUMNS": "140"})

    assert run.stdout == (
        "id          failed      status     classification  attempts  job                       error\n"
        "5d1c0a7e-2  5m ago      replayed   ambiguous              1  billing.ChargeMonthlyFee  "
        "GatewayTimeout: read timed out after 30 s while char…\n"
        "5d1c0a7e-1  3h ago      dead       exhausted              5  billing.ChargeMonthlyFee  "
        "GatewayUnavailable: 503 Service Unavailable (acquire…\n"
        "9cd8f5be    2025-01-02  discarded  non_retryable          1  signup.SendWelcomeEmail   "
        "KeyError: 'email'\n"
        "3 shown of 3 in the dead-letter queue; `stalwart dlq show ID` for one.\n"
    )


@pytest.mark.usefixtures("three_entries")
def test_a_dry_run_of_a_bulk_replay_shows_the_same_table(subprocess_env: dict[str, str]) -> None:
    run = stalwart(
        "dlq",
        "replay",
        "--all",
        "--dry-run",
        "--import",
        "jobs.demo.billing",
        env={**subprocess_env, "COLUMNS": "80"},
    )

    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout == (
        "id          failed  status  classification  attempts  job\n"
        "5d1c0a7e-1  3h ago  dead    exhausted              5  billing.ChargeMonthlyFee\n"
        "            GatewayUnavailable: 503 Service Unavailable (acquirer outage)\n"
        "1 dead entry would be replayed\n"
    )


@pytest.fixture
def counted(connection: redis.Redis) -> None:
    """A minute of counts for two jobs (with reasons and durations), and two counters of the application."""
    with connection.pipeline() as pipeline:
        stats.write(
            pipeline,
            [
                ("billing.ChargeMonthlyFee", "succeeded", 420),
                ("billing.ChargeMonthlyFee", "negative", 30),
                ("billing.ChargeMonthlyFee", "negative.card_declined", 25),
                ("billing.ChargeMonthlyFee", "negative.insufficient_funds", 5),
                ("billing.ChargeMonthlyFee", "retried", 112),
                ("billing.ChargeMonthlyFee", "dead_lettered", 8),
                ("billing.ChargeMonthlyFee", "dead_lettered.exhausted", 6),
                ("billing.ChargeMonthlyFee", "dead_lettered.ambiguous", 2),
                ("billing.ChargeMonthlyFee", "runs", 570),
                ("billing.ChargeMonthlyFee", "duration_ms", 23_484.0),
                ("signup.SendWelcomeEmail", "succeeded", 12),
                ("signup.SendWelcomeEmail", "abandoned", 1),
                ("signup.SendWelcomeEmail", "runs", 13),
                ("signup.SendWelcomeEmail", "duration_ms", 100.1),
                ("app", "signup.welcome_email.sent", 12),
                ("app", "invoice.weight_kg", 2.5),
            ],
            now=time.time(),
        )
        pipeline.execute()


TAIL = """
your counters
name                       count
invoice.weight_kg            2.5
signup.welcome_email.sent     12

now
queue  queued  scheduled  started
dead-letter queue: dead 0, replayed 0, resolved 0, discarded 0
"""


@pytest.mark.usefixtures("counted")
def test_stats_at_80_columns_has_short_headers_and_a_legend(subprocess_env: dict[str, str]) -> None:
    run = stalwart("stats", env={**subprocess_env, "COLUMNS": "80"})

    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout == (
        "jobs, last 15 min\n"
        "job                        ok  neg  retry  snooze  dead  aband  avg ms\n"
        "billing.ChargeMonthlyFee  420   30    112       0     8      0    41.2\n"
        "  dead_lettered.ambiguous 2, dead_lettered.exhausted 6,\n"
        "  negative.card_declined 25, negative.insufficient_funds 5\n"
        "signup.SendWelcomeEmail    12    0      0       0     0      1     7.7\n"
        "ok succeeded, neg negative, dead dead-lettered, aband abandoned (worker died)\n" + TAIL
    )


@pytest.mark.usefixtures("counted")
def test_stats_on_a_wide_terminal_has_the_full_headers(subprocess_env: dict[str, str]) -> None:
    run = stalwart("stats", env={**subprocess_env, "COLUMNS": "120"})

    assert run.stdout == (
        "jobs, last 15 min\n"
        "job                       succeeded  negative  retried  snoozed  dead-lettered  abandoned  avg ms\n"
        "billing.ChargeMonthlyFee        420        30      112        0              8          0    41.2\n"
        "  dead_lettered.ambiguous 2, dead_lettered.exhausted 6, negative.card_declined 25, "
        "negative.insufficient_funds 5\n"
        "signup.SendWelcomeEmail          12         0        0        0              0          1     7.7\n"
        + TAIL
    )


@pytest.mark.usefixtures("counted")
def test_stats_json_gives_counts_as_integers_and_durations_as_numbers(subprocess_env: dict[str, str]) -> None:
    run = stalwart("stats", "--json", env=subprocess_env)

    assert run.returncode == 0, run.stderr
    # The JSON text itself: 420, not 420.0
    assert '"succeeded": 420,' in run.stdout and '"runs": 570,' in run.stdout
    report = json.loads(run.stdout)
    assert report["jobs"]["signup.SendWelcomeEmail"] == {
        "succeeded": 12,
        "abandoned": 1,
        "runs": 13,
        "duration_ms": 100.1,
    }
    assert [type(v) for v in report["jobs"]["billing.ChargeMonthlyFee"].values()].count(float) == 1
    assert report["app"] == {"signup.welcome_email.sent": 12, "invoice.weight_kg": 2.5}
    assert type(report["app"]["signup.welcome_email.sent"]) is int
