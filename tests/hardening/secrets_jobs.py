"""Job classes for tests/hardening/test_secrets.py (issue 11, "Secrets").

Workers import them with ``--import tests.hardening.secrets_jobs``.
"""

from __future__ import annotations

from pathlib import Path

from jobs import Job, Negative


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
