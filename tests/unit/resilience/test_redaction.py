"""resilience.redaction: secret names matched as words, secret values scrubbed from texts, safely."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from resilience import REDACTED, OperationFailed, Scrubber, attempting, is_secret_name, redact
from resilience.redaction import MIN_SCRUBBED_CHARS, name_words

CARD = "4111111111111111"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("cardNumber", ["card", "number"]),
        ("Card Number", ["card", "number"]),
        ("card-number", ["card", "number"]),
        ("CARD_NUMBER", ["card", "number"]),
        ("XSRFToken", ["xsrf", "token"]),
        ("connect.sid", ["connect", "sid"]),
        ("cvv2", ["cvv", "2"]),
        ("__api__key__", ["api", "key"]),
    ],
)
def test_a_name_is_compared_as_lowercase_words_whatever_its_separators_and_case(
    name: str, words: list[str]
) -> None:
    assert name_words(name) == words


@pytest.mark.parametrize(
    "name",
    [
        "userpassword",  # long words match inside longer words
        "dbPassword",
        "X-API-Key",
        "clientSecret",
        "refresh_token",
        "sessionId",
        "card_numbers",
        "cardNo",
        "ccNumber",
        "credit_card",
        "auth_header",  # short words match as whole words
        "basicAuth",
        "mysql_pwd",
        "CVV2",
        "cvc",
        "card_pin",
        "Proxy-Authorization",
    ],
)
def test_secret_words_are_found_in_names_of_any_form(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["author_id", "authorId", "customer_id", "spinner", "pinned", "amount"])
def test_a_short_secret_word_inside_another_word_does_not_make_a_name_secret(name: str) -> None:
    assert not is_secret_name(name)


def test_stalwart_secret_words_adds_words_matched_the_same_way() -> None:
    names = ["ibanNumber", "x_otp", "otpauth_url", "password"]
    assert [is_secret_name(n) for n in names] == [False, False, False, True]
    # Read once, when resilience is imported: hence a fresh interpreter.
    code = f"from resilience import is_secret_name as s; print(*[s(n) for n in {names!r}])"
    env = {**os.environ, "STALWART_SECRET_WORDS": "iban, otp"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    # "otp" is short: a whole word only, so otpauth_url stays shown.
    assert done.stdout.split() == ["True", "True", "False", "True"]


def test_redact_replaces_secret_names_at_any_depth_and_scrubs_their_values_from_other_strings() -> None:
    values = {
        "customer_id": 42,
        "card": {"cardNumber": CARD, "brand": "visa"},
        "batches": [[[{"token": "tok_abcdef123"}]], ({"cvv": "123"},)],
        "note": f"retry card {CARD} with tok_abcdef123, cvv 123",
    }

    assert redact(values) == {
        "customer_id": 42,
        "card": {"cardNumber": REDACTED, "brand": "visa"},
        "batches": [[[{"token": REDACTED}]], [{"cvv": REDACTED}]],
        "note": "retry card [redacted] with [redacted], cvv 123",
    }
    assert values["card"] == {"cardNumber": CARD, "brand": "visa"}  # the original is left whole


def test_a_scrubber_replaces_every_occurrence_of_every_secret_value_longest_first() -> None:
    scrub = Scrubber.of({"password": "hunter22", "secrets": {"a": "hunter22-and-more", "b": ["s3cr3t-b"]}})

    text = "login hunter22 failed; then hunter22-and-more; then s3cr3t-b"
    assert scrub.text(text) == "login [redacted] failed; then [redacted]; then [redacted]"


def test_a_scrubber_finds_a_value_as_repr_json_and_percent_encoding_write_it() -> None:
    secret = 'p@ss"wörd/\\'
    scrub = Scrubber.of({"password": secret})

    for written in (secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], "p%40ss%22w%C3%B6rd%2F%5C"):
        assert scrub.text(f"<{written}>") == "<[redacted]>", written


@pytest.mark.parametrize(
    ("value", "scrubbed"),
    [
        ("123", False),  # a CVV: too short to scrub without garbling line numbers
        ("12345", False),
        ("123456", True),  # MIN_SCRUBBED_CHARS
        ("  abcde  ", False),  # surrounding whitespace does not count
        ("      ", False),
        (True, False),
        (None, False),
        (1234, False),
        (4111111111111111, True),  # a number, as its decimal text
        (-12345, True),
        (12.3456, True),
    ],
)
def test_only_values_long_enough_to_be_unmistakable_are_scrubbed(value: object, scrubbed: bool) -> None:
    assert MIN_SCRUBBED_CHARS == 6
    text = f"line 123456 of 12345: {value} True None -12345 12.3456 abcde"
    expected = text.replace(str(value).strip(), REDACTED) if scrubbed else text
    assert Scrubber.of({"token": value}).text(text) == expected


def test_a_scrubber_never_shows_its_values() -> None:
    scrub = Scrubber.of({"api_key": "k-0123456789", "token": "t-0123456789"})
    assert (repr(scrub), bool(scrub), bool(Scrubber())) == ("Scrubber(2 values)", True, False)
    assert (scrub + Scrubber.of({"pwd": "p-0123456789"})).text("p-0123456789 t-0123456789") == (
        "[redacted] [redacted]"
    )


def test_an_operation_failed_does_not_repeat_a_secret_id_its_cause_echoes() -> None:
    with pytest.raises(OperationFailed) as raised, attempting("charging", customer_id=7, card_number=CARD):
        raise ValueError(f"card {CARD} declined")

    assert str(raised.value) == (
        "charging (customer_id=7, card_number=[redacted]) failed: ValueError: card [redacted] declined"
    )
