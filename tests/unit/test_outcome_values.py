from __future__ import annotations

import pytest

from jobs import Negative, Status
from resilience import REDACTED, redact


def test_a_negative_survives_its_stored_json_form() -> None:
    negative = Negative("card_declined", customer_id=42, code="05")
    assert Negative.from_json(negative.to_json()) == negative
    assert Negative.from_json({"auth": "x"}) is None
    assert repr(negative) == "Negative('card_declined', customer_id=42, code='05')"


def test_a_negative_needs_a_reason() -> None:
    with pytest.raises(TypeError, match="non-empty string reason"):
        Negative("")


def test_statuses_are_strings() -> None:
    assert Status.DEAD_LETTERED == "dead_lettered"
    assert str(Status.NEGATIVE) == "negative"


def test_secret_looking_names_are_redacted_at_every_depth() -> None:
    shown = redact(
        {
            "customer_id": 42,
            "api_token": "t",
            "card": {"card_number": "4111", "brand": "visa"},
            "items": [{"password": "p"}],
        }
    )
    assert shown == {
        "customer_id": 42,
        "api_token": REDACTED,
        "card": {"card_number": REDACTED, "brand": "visa"},
        "items": [{"password": REDACTED}],
    }
