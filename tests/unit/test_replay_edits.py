"""Edited replays' arguments and their audit, as pure functions: changing fields, the diff, redaction."""

from __future__ import annotations

import pytest

from jobs.dead_letter import edits
from jobs.errors import DeadLetterError
from resilience import Scrubber

ORIGINAL = {
    "customer_id": 7,
    "amount_cents": 1900,
    "api_token": "tok-OLD-SECRET",
    "address": {"city": "Paris", "zip": "75001"},
    "tags": ["a"],
}


def test_a_change_replaces_one_field_and_leaves_the_others_and_the_original_alone() -> None:
    edited = edits.apply(ORIGINAL, {"amount_cents": 4900, "address.city": "Lyon", "address.floor": 2})

    assert edited == {
        **ORIGINAL,
        "amount_cents": 4900,
        "address": {"city": "Lyon", "zip": "75001", "floor": 2},
    }
    assert ORIGINAL["address"] == {"city": "Paris", "zip": "75001"}


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("tags.0", "cannot set 'tags.0': 'tags' is a list, not an object; set 'tags' whole instead"),
        (
            "address.city.name",
            "cannot set 'address.city.name': 'address.city' is a string, not an object; "
            "set 'address.city' whole instead",
        ),
        (
            "billing.city",
            "cannot set 'billing.city': the arguments have no 'billing' to set a key in; "
            "set 'billing' whole (a JSON object)",
        ),
        (
            "address..city",
            "'address..city' is not a field name; use a name, or names joined by dots for a key inside an "
            "object argument (address.city)",
        ),
    ],
)
def test_a_path_through_something_that_is_not_an_object_is_refused(path: str, error: str) -> None:
    with pytest.raises(DeadLetterError) as raised:
        edits.apply(ORIGINAL, {path: 1})
    assert str(raised.value) == error


def test_the_diff_names_each_field_added_removed_or_changed_objects_key_by_key() -> None:
    new = {
        "customer_id": 7,
        "amount_cents": 4900,
        "api_token": "tok-OLD-SECRET",
        "address": {"city": "Lyon", "zip": "75001"},
        "note": "fixed",
    }

    assert edits.diff(ORIGINAL, new) == [
        {"field": "amount_cents", "change": "changed", "from": 1900, "to": 4900},
        {"field": "address.city", "change": "changed", "from": "Paris", "to": "Lyon"},
        {"field": "note", "change": "added", "to": "fixed"},
        {"field": "tags", "change": "removed", "from": ["a"]},
    ]


def test_values_equal_in_python_but_not_in_json_are_a_change() -> None:
    assert edits.diff({"n": 1}, {"n": True}) == [{"field": "n", "change": "changed", "from": 1, "to": True}]
    assert edits.diff({"n": 1}, {"n": 1}) == []


def test_the_audit_redacts_secret_fields_and_scrubs_secret_values_from_the_rest() -> None:
    new = {
        **ORIGINAL,
        "api_token": "tok-NEW-SECRET",
        "note": "retry after rotating tok-OLD-SECRET to tok-NEW-SECRET",
        "credentials": {"user": "ops", "key": "k-123456"},
    }

    audited = edits.audited(ORIGINAL, new)

    assert audited["changes"] == [
        {"field": "api_token", "change": "changed", "from": "[redacted]", "to": "[redacted]"},
        {"field": "note", "change": "added", "to": "retry after rotating [redacted] to [redacted]"},
        {"field": "credentials", "change": "added", "to": "[redacted]"},
    ]
    assert audited["kwargs"]["api_token"] == "[redacted]"
    assert audited["kwargs"]["credentials"] == "[redacted]"
    assert "SECRET" not in repr(audited) and "k-123456" not in repr(audited)


def test_a_changed_object_holding_a_secret_key_is_shown_with_that_key_redacted() -> None:
    changes = edits.diff(
        {"headers": "none"}, {"headers": {"Authorization": "Bearer abcdef", "accept": "json"}}
    )

    assert edits.redacted(changes, Scrubber()) == [
        {
            "field": "headers",
            "change": "changed",
            "from": "none",
            "to": {"Authorization": "[redacted]", "accept": "json"},
        }
    ]
