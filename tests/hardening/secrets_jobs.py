"""Job classes for tests/hardening/test_secrets.py (issue 11, "Secrets").

Workers import them with ``--import tests.hardening.secrets_jobs``.
"""

from __future__ import annotations

from pathlib import Path

from jobs import Job, Negative
from resilience import Fixed, attempting


class EchoesCardInError(Job):
    """Echoes its secret argument in its error, as real code does: ``ValueError("card 4111... declined")``.

    It appends the ``card_number`` it received to ``record_to``, one line per run, so a test can see what
    a replay ran with; it fails on its first run only, so a replay of its dead-letter entry succeeds.
    """

    name = "hardening.EchoesCardInError"

    def perform(self, card_number: str, record_to: str) -> str:
        record = Path(record_to)
        first_run = not record.exists()
        with record.open("a", encoding="utf-8") as out:
            out.write(card_number + "\n")
        if first_run:
            raise ValueError(f"card {card_number} declined")
        return "charged"


class NegativeWithSecretDetails(Job):
    """Returns a Negative whose details hold secrets under names stalwart's redaction misses today."""

    name = "hardening.NegativeWithSecretDetails"

    def perform(self, customer_id: int, card: str, key: str) -> Negative:
        return Negative(
            "declined",
            customer_id=customer_id,
            cardNumber=card,
            privateKey=key,
            **{"Card Number": card},
            wallet=[[{"card_number": card}]],
        )


# Session token known only inside perform (not an argument): named in an ``attempting`` context.
SESSION = "sess-9f8e7d6c5b4a"


class RetriesEchoingItsCard(Job):
    """Echoes a card number nested in its ``payment`` argument in ``describe``, in its error (through an
    ``attempting`` context that names a session token) on every attempt; retried once, then dead-lettered."""

    name = "hardening.RetriesEchoingItsCard"
    retry_on = (ConnectionError,)
    max_attempts = 2
    backoff = Fixed(0)

    def describe(self, payment: dict[str, str], customer_id: int) -> str:
        return f"charging card {payment['card_number']} of customer {customer_id}"

    def perform(self, payment: dict[str, str], customer_id: int) -> None:
        with attempting("calling the gateway", session_token=SESSION, customer_id=customer_id):
            raise ConnectionError(f"gateway refused card {payment['card_number']} in session {SESSION}")


class NegativeEchoingItsCard(Job):
    """Returns a Negative whose details quote its secret argument under names that are not secret."""

    name = "hardening.NegativeEchoingItsCard"

    def perform(self, card_number: str, customer_id: int) -> Negative:
        return Negative("declined", customer_id=customer_id, note=f"card {card_number} declined", last4=1111)


class BehindACircuitEchoingItsToken(Job):
    """Fails with a transient error quoting its API token; its circuit opens at the first failure."""

    name = "hardening.BehindACircuitEchoingItsToken"
    retry_on = (ConnectionError,)
    max_attempts = 1
    circuit = "hardening-gateway"
    circuit_failure_threshold = 1

    def perform(self, api_token: str) -> None:
        raise ConnectionError(f"gateway refused token {api_token}")
