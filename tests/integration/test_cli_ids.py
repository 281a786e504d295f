"""Entry ids as people type them (issue 13): shown abbreviated, taken back as any unique prefix."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
import redis

from jobs import Classification, DeadLetterEntry, DeadLetterQueue
from jobs.cli.ids import abbreviations, shortest_unique
from tests.workers import stalwart

FIRST = "5d1c0a7e-1111-4000-8000-000000000001"
SECOND = "5d1c0a7e-2222-4000-8000-000000000002"
THIRD = "9cd8f5be-3333-4000-8000-000000000003"


def an_entry(entry_id: str, minutes_ago: float = 10, **changes: object) -> DeadLetterEntry:
    at = (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).isoformat()
    entry = DeadLetterEntry(
        id=entry_id,
        job="billing.ChargeMonthlyFee",
        queue="billing",
        kwargs={"customer_id": 42, "month": "2026-11", "amount_cents": 1900},
        classification=Classification.EXHAUSTED,
        error_type="GatewayUnavailable",
        error_message="503 Service Unavailable",
        message="m",
        attempts=5,
        request_id=None,
        first_failed_at=at,
        last_failed_at=at,
    )
    return dataclasses.replace(entry, **changes)  # type: ignore[arg-type]


@pytest.fixture
def dlq(connection: redis.Redis) -> DeadLetterQueue:
    queue = DeadLetterQueue(connection)
    for n, entry_id in enumerate((FIRST, SECOND, THIRD)):
        queue.put(an_entry(entry_id, minutes_ago=10 - n))
    return queue


def test_ids_starting_with_finds_every_id_with_each_prefix_in_one_scan(dlq: DeadLetterQueue) -> None:
    assert dlq.ids_starting_with(["5d1c0a7e", "9cd8", "5d1c0a7e-2", "ffff"]) == {
        "5d1c0a7e": [FIRST, SECOND],
        "9cd8": [THIRD],
        "5d1c0a7e-2": [SECOND],
        "ffff": [],
    }
    assert dlq.ids_starting_with(["5d1c"]) == {"5d1c": [FIRST, SECOND]}
    assert dlq.ids_starting_with([]) == {}


def test_glob_characters_in_a_prefix_match_only_themselves(connection: redis.Redis) -> None:
    # Given ids that look like Redis glob patterns (ids the project has been attacked with)
    dlq = DeadLetterQueue(connection)
    ids = ["a*c", "a?c", "a[b]c", "abc", "a\\c", "a]c", "a^c"]
    for entry_id in ids:
        dlq.put(an_entry(entry_id))

    # When each is looked up by its first two characters, alone (Redis matches) or together (we match)
    alone = {
        prefix: dlq.ids_starting_with([prefix])[prefix] for prefix in ("a*", "a?", "a[", "a\\", "a]", "a^")
    }
    together = dlq.ids_starting_with(["a*", "a?", "a[", "a\\", "*", "?", "["])

    # Then each finds only the id that starts with those very characters
    assert alone == {
        "a*": ["a*c"],
        "a?": ["a?c"],
        "a[": ["a[b]c"],
        "a\\": ["a\\c"],
        "a]": ["a]c"],
        "a^": ["a^c"],
    }
    assert together == {
        "a*": ["a*c"],
        "a?": ["a?c"],
        "a[": ["a[b]c"],
        "a\\": ["a\\c"],
        "*": [],
        "?": [],
        "[": [],
    }
    assert dlq.ids_starting_with(["a"]) == {"a": sorted(ids)}


def test_an_id_is_abbreviated_to_its_shortest_unique_prefix_of_eight_characters_or_more(
    dlq: DeadLetterQueue,
) -> None:
    assert abbreviations(dlq, [FIRST, SECOND, THIRD]) == {
        FIRST: "5d1c0a7e-1",
        SECOND: "5d1c0a7e-2",
        THIRD: "9cd8f5be",
    }
    # Unique in the whole queue, not only among those shown
    assert abbreviations(dlq, [THIRD, FIRST]) == {THIRD: "9cd8f5be", FIRST: "5d1c0a7e-1"}
    assert abbreviations(dlq, []) == {}


def test_an_id_that_starts_another_is_shown_whole_and_a_short_id_as_it_is() -> None:
    assert shortest_unique("abcdef12", ["abcdef12", "abcdef123"]) == "abcdef12"
    assert shortest_unique("abcdef123", ["abcdef12", "abcdef123"]) == "abcdef123"
    assert shortest_unique("e7", ["e7", "e71"]) == "e7"
    assert shortest_unique("abcdefghij", ["abcdefghij"]) == "abcdefgh"


def test_show_replay_and_discard_take_a_unique_prefix_of_an_id(
    dlq: DeadLetterQueue, subprocess_env: dict[str, str]
) -> None:
    shown = stalwart("dlq", "show", "9cd8", env=subprocess_env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == f"billing.ChargeMonthlyFee  {THIRD}  [dead, exhausted]"

    discarded = stalwart("dlq", "discard", "5d1c0a7e-2", "--reason", "refunded by hand", env=subprocess_env)
    assert (discarded.returncode, discarded.stdout) == (0, f"discarded {SECOND}: refunded by hand\n")
    assert dlq.get(SECOND).status == "discarded"

    # (the job is not registered here: the replay gets as far as naming the whole id)
    replayed = stalwart("dlq", "replay", "5d1c0a7e-1", env=subprocess_env)
    assert replayed.stderr == (
        f"stalwart: cannot replay entry {FIRST}: job 'billing.ChargeMonthlyFee' is not registered here; "
        "pass --import MODULE (the module that defines it) so the replay can be checked\n"
    )


def test_an_ambiguous_prefix_names_the_candidates_and_changes_nothing(
    dlq: DeadLetterQueue, subprocess_env: dict[str, str]
) -> None:
    for args in (("show", "5d1c"), ("discard", "5d1c", "--reason", "r"), ("replay", "5d1c")):
        run = stalwart("dlq", *args, env=subprocess_env)

        assert (run.returncode, run.stdout) == (1, "")
        assert run.stderr == (
            "stalwart: the id prefix '5d1c' is ambiguous: 2 entries have ids starting with it: "
            "5d1c0a7e-2 (billing.ChargeMonthlyFee, dead, failed 9m ago), "
            "5d1c0a7e-1 (billing.ChargeMonthlyFee, dead, failed 10m ago); give more of the id\n"
        )
    assert [dlq.get(i).status for i in (FIRST, SECOND)] == ["dead", "dead"]


def test_a_prefix_of_no_id_or_of_glob_characters_is_no_such_entry(
    dlq: DeadLetterQueue, subprocess_env: dict[str, str]
) -> None:
    for given in ("ffff", "*", "?", "[5]", "5d1c*"):
        run = stalwart("dlq", "show", given, env=subprocess_env)

        assert (run.returncode, run.stdout) == (1, "")
        assert run.stderr == (
            f"stalwart: no dead-letter entry has the id {given!r}; `stalwart dlq list` shows the ids\n"
        )
    empty = stalwart("dlq", "discard", "", "--reason", "r", env=subprocess_env)
    assert empty.stderr == "stalwart: an entry id cannot be empty; `stalwart dlq list` shows the ids\n"


def test_an_exact_id_is_taken_as_itself_even_when_it_starts_another(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    dlq = DeadLetterQueue(connection)
    dlq.put(an_entry("order-7", job="app.Short"))
    dlq.put(an_entry("order-77", job="app.Long"))

    run = stalwart("dlq", "show", "order-7", env=subprocess_env)

    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == "app.Short  order-7  [dead, exhausted]"
