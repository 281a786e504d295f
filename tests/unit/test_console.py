"""The console's pure rules: tokens, sessions, filters, edits, audit rows, prefixes and the bind check."""

from __future__ import annotations

import re

import pytest

from jobs.console import Authenticator, check_bind
from jobs.console.auth import csrf_matches
from jobs.console.fleet import Row, bars
from jobs.console.views import BadRequest, Filters, audit_rows, changes_of, kwargs_of, limit_of
from jobs.console.web import clean_prefix
from jobs.errors import ConfigurationError, DeadLetterError
from jobs.settings import ConsoleToken, Settings

ADA = ConsoleToken("ada", "operate", "ada-secret-0123456789")
BOB = ConsoleToken("bob", "read", "bob-secret-0123456789")


def test_tokens_are_read_from_name_role_token_entries() -> None:
    settings = Settings.from_environment(
        {"STALWART_CONSOLE_TOKENS": " ada:operate:ada-secret-0123456789 , bob:read:bob-secret-0123456789"}
    )

    assert settings.console_tokens == (ADA, BOB)
    assert "secret" not in repr(settings.console_tokens)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("ada:admin:ada-secret-0123456789", "entry 1 is not name:role:token"),
        ("ada:operate:short", "entry 1 (ada) has a token shorter than 16"),
        ("ada:operate", "entry 1 (ada) has a token shorter"),
        ("a b:read:ada-secret-0123456789", "entry 1 is not name:role:token"),
        (
            "ada:read:ada-secret-0123456789,ada:operate:other-secret-0123456789",
            "entry 2: the name ada is given twice",
        ),
    ],
)
def test_a_bad_token_entry_stops_the_settings_naming_it(value: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(says)):
        Settings.from_environment({"STALWART_CONSOLE_TOKENS": value})


def test_a_bearer_token_is_matched_to_its_name_and_role() -> None:
    auth = Authenticator((ADA, BOB))

    assert auth.bearer("Bearer ada-secret-0123456789") is not None
    assert auth.bearer("Bearer bob-secret-0123456789").can_operate is False  # type: ignore[union-attr]
    assert auth.bearer("Bearer ada-secret-012345678") is None
    assert auth.bearer("Basic ada-secret-0123456789") is None
    assert auth.bearer("Bearer ") is None


def test_a_session_is_signed_and_ends_when_its_token_changes() -> None:
    auth = Authenticator((ADA,), secret="s" * 32)
    cookie = auth.session_cookie(ADA)

    identity = auth.session(cookie)

    assert identity is not None
    assert (identity.name, identity.can_operate, identity.by_cookie) == ("ada", True, True)
    assert csrf_matches(identity, identity.csrf)
    assert not csrf_matches(identity, "")
    assert auth.session(cookie[:-2] + "xx") is None
    assert Authenticator((ADA,), secret="t" * 32).session(cookie) is None
    rotated = ConsoleToken("ada", "operate", "ada-new-secret-0123456789")
    assert Authenticator((rotated,), secret="s" * 32).session(cookie) is None


def test_filters_are_checked_and_kept_in_links() -> None:
    filters = Filters.of({"job": "billing.Charge", "status": "dead", "since": "2h", "error_type": ""})

    assert filters.error_type is None
    assert filters.query(page=2) == "job=billing.Charge&status=dead&since=2h&page=2"
    assert filters.store_filters()["since"] is not None
    for bad in ({"status": "gone"}, {"classification": "odd"}, {"since": "yesterday"}):
        with pytest.raises(BadRequest):
            Filters.of(bad)
    with pytest.raises(BadRequest):
        limit_of("5000")


def test_a_replay_form_is_read_as_the_cli_reads_set() -> None:
    assert changes_of('amount_cents=4900\nnote=fixed\n\naddress.city="Lyon"') == {
        "amount_cents": 4900,
        "note": "fixed",
        "address.city": "Lyon",
    }
    assert changes_of("  \n") is None
    with pytest.raises(DeadLetterError, match="set twice"):
        changes_of("a=1\na=2")
    with pytest.raises(DeadLetterError, match="not FIELD=VALUE"):
        changes_of("just text")
    assert kwargs_of('{"order_id": 7}') == {"order_id": 7}
    with pytest.raises(DeadLetterError, match="JSON object"):
        kwargs_of("[1, 2]")


def test_audit_records_of_any_shape_become_rows() -> None:
    rows = audit_rows(
        [
            {
                "at": "t",
                "by": "console:ada",
                "action": "replay",
                "result": "ok",
                "kwargs_edited": True,
                "changes": [{"field": "month", "change": "changed", "from": "06", "to": "07"}],
                "kwargs": {"month": "07"},
            },
            "not a record",
            {"by": "x", "changes": "odd"},
        ]
    )

    assert rows[0]["details"] == [
        "kwargs_edited: true",
        'changed month: "06" → "07"',
        'arguments: {"month": "07"}',
    ]
    assert rows[1]["details"] == ['"not a record"']
    assert rows[2]["details"] == ['changes: "odd"']


@pytest.mark.parametrize("bad", ["//evil.example", "/a/../b", "stalwart", "/a b", "/x?y", "/%2e%2e"])
def test_a_path_prefix_is_plain_path_segments(bad: str) -> None:
    with pytest.raises(ValueError, match="path segments"):
        clean_prefix(bad)


def test_a_prefix_loses_its_trailing_slash() -> None:
    assert clean_prefix("/stalwart/") == "/stalwart"
    assert clean_prefix("") == ""


def test_a_remote_bind_needs_tokens() -> None:
    check_bind("127.0.0.1", Settings())
    check_bind("::1", Settings())
    check_bind("0.0.0.0", Settings(console_tokens=(ADA,)))
    with pytest.raises(ValueError, match="not a loopback address"):
        check_bind("0.0.0.0", Settings())


def test_the_rhythm_chart_has_a_slot_per_minute_and_stacks_the_outcomes() -> None:
    quiet = {"succeeded": 0.0, "negative": 0.0, "retried": 0.0, "dead_lettered": 0.0}
    rows = [
        Row(1, "m1", {**quiet, "succeeded": 3.0, "dead_lettered": 1.0}, {}),
        Row(3, "m3", {**quiet, "negative": 2.0}, {"card_declined": 2.0}),
    ]

    shapes = bars(rows, minutes=4, width=400, height=40)

    assert [(s["metric"], s["x"], s["y"], s["h"]) for s in shapes] == [
        ("succeeded", 100.0, 10.0, 30.0),
        ("dead_lettered", 100.0, 0.0, 10.0),
        ("negative", 300.0, 20.0, 20.0),
    ]
    assert bars([], minutes=4) == []
