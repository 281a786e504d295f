"""Issue 11, "Secrets": the paths of an echoed secret value that test_secrets.py does not take.

The values of secret-named arguments are scrubbed where a failure record is made, so every outlet
inherits it. These follow the record through the other ways it is made and read: a retried job (its
WARNING line and the job hash's history before it died), a secret nested in a dict argument, echoed by
``describe()`` or named in an ``attempting()`` context, a Negative's details, a circuit's alert, and a
job RQ failed by itself (the sweep's record, from RQ's exception text).
"""

from __future__ import annotations

import json
import logging
from typing import cast

import pytest
import redis
from rq import Queue
from rq.job_lifecycle import record_job_failure
from rq.serializers import JSONSerializer

from jobs import DeadLetterQueue, Status, testing
from jobs.runtime.sweep import sweep
from jobs.telemetry.logs import JsonFormatter
from tests.hardening.secrets_jobs import (
    SESSION,
    BehindACircuitEchoingItsToken,
    EchoesCardInError,
    NegativeEchoingItsCard,
    RetriesEchoingItsCard,
)

CARD = "4111111111111111"
TOKEN = "tok_live_5f4dcc3b5aa765d6"


def log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every captured record as the worker's JSON handler writes it (extras and tracebacks included)."""
    formatter = JsonFormatter()
    return [formatter.format(record) for record in caplog.records]


def test_a_secret_echoed_by_every_attempt_of_a_retried_job_is_scrubbed_from_each_record(
    connection: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a job whose card number sits in a dict argument, and which echoes it in describe(), in its
    # error and, through attempting(session_token=...), alongside a token that is no argument at all;
    # when it is retried once and then dead-lettered
    caplog.set_level(logging.INFO)
    handle = RetriesEchoingItsCard.enqueue(
        connection=connection, payment={"card_number": CARD, "brand": "visa"}, customer_id=7
    )
    run = testing.run_queued(connection)
    assert (run.one(RetriesEchoingItsCard).status, run.one(RetriesEchoingItsCard).attempts) == (
        Status.DEAD_LETTERED,
        2,
    )

    # Then the retry's WARNING line and the final ERROR line say what failed, with both values scrubbed
    failed = (
        f"hardening.RetriesEchoingItsCard (job {handle.id}, attempt {{n}}/2) failed while charging card "
        "[redacted] of customer 7: OperationFailed: calling the gateway (session_token=[redacted], "
        "customer_id=7) failed: ConnectionError: gateway refused card [redacted] in session [redacted] "
        "(caused by ConnectionError: gateway refused card [redacted] in session [redacted])."
    )
    ended = [
        r.getMessage() for r in caplog.records if r.__dict__.get("outcome") in ("retrying", "dead_lettered")
    ]
    assert ended == [
        "job attempt failed, will retry: " + failed.format(n=1) + " Retrying in 0.0 s (transient error).",
        "job ended: "
        + failed.format(n=2)
        + " Gave up: 2 of 2 attempts allowed for this job failed. Remediation: Fix the cause, then replay "
        "the job from the dead-letter queue.",
    ]
    assert [line for line in log_lines(caplog) if CARD in line or SESSION in line] == []

    # The entry: message, error and both attempts' records (tracebacks included) hold neither value
    entry = DeadLetterQueue(connection).get(handle.id)
    assert entry.message == ended[1].removeprefix("job ended: ")
    assert [(r["number"], r["error_message"]) for r in entry.history] == [
        (
            n,
            "calling the gateway (session_token=[redacted], customer_id=7) failed: ConnectionError: gateway "
            "refused card [redacted] in session [redacted]",
        )
        for n in (1, 2)
    ]
    assert all("[redacted]" in r["traceback"] for r in entry.history)
    stored = json.dumps({**json.loads(entry.to_json()), "kwargs": None})
    assert (CARD in stored, SESSION in stored) == (False, False)
    # The job hash's history and the alert neither; the replay copy of the arguments is whole
    history = cast(bytes, connection.hget(f"rq:job:{handle.id}", "stalwart_history"))
    assert (CARD.encode() in history, SESSION.encode() in history, b"[redacted]" in history) == (
        False,
        False,
        True,
    )
    alerts = json.dumps([alert.to_json() for alert in run.alerts])
    assert (CARD in alerts, SESSION in alerts) == (False, False)
    assert entry.kwargs == {"payment": {"card_number": CARD, "brand": "visa"}, "customer_id": 7}


def test_a_negatives_details_quoting_a_secret_argument_are_logged_scrubbed_and_returned_whole(
    connection: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    NegativeEchoingItsCard.enqueue(connection=connection, card_number=CARD, customer_id=7)

    run = testing.run_queued(connection)

    (line,) = [r for r in caplog.records if r.__dict__.get("outcome") == "negative"]
    assert line.__dict__["details"] == {"customer_id": 7, "note": "card [redacted] declined", "last4": 1111}
    assert [text for text in log_lines(caplog) if CARD in text] == []
    # The application reads the Negative it returned, unchanged.
    negative = run.one(NegativeEchoingItsCard).negative
    assert negative is not None and negative.details["note"] == f"card {CARD} declined"


def test_the_alert_of_a_circuit_opened_by_an_error_quoting_a_token_does_not_quote_it(
    connection: redis.Redis,
) -> None:
    BehindACircuitEchoingItsToken.enqueue(connection=connection, api_token=TOKEN)

    run = testing.run_queued(connection)

    titles = {alert.title: alert for alert in run.alerts}
    assert set(titles) == {
        "circuit 'hardening-gateway' opened",
        "hardening.BehindACircuitEchoingItsToken dead-lettered (exhausted): ConnectionError",
    }
    assert (
        "(last: hardening.BehindACircuitEchoingItsToken: ConnectionError: gateway refused token [redacted])"
        in (titles["circuit 'hardening-gateway' opened"].message)
    )
    assert [alert.title for alert in run.alerts if TOKEN in alert.to_json()] == []


def test_a_job_rq_failed_with_an_exception_text_quoting_a_secret_is_swept_in_without_it(
    connection: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a job RQ failed by itself, its exception text quoting the card number
    caplog.set_level(logging.INFO)
    handle = EchoesCardInError.enqueue(connection=connection, card_number=CARD, record_to="/nonexistent")
    queue = Queue("default", connection=connection, serializer=JSONSerializer)
    job = queue.fetch_job(handle.id)
    assert job is not None
    queue.remove(job)
    with connection.pipeline() as pipeline:
        record_job_failure(
            job, f"Traceback (most recent call last):\nValueError: card {CARD} declined", pipeline
        )
        pipeline.execute()

    # When the sweep moves it into the dead-letter queue
    assert sweep(connection, ["default"]) == [handle.id]

    # Then the entry and the sweep's log line quote RQ's text, scrubbed; the arguments are whole
    entry = DeadLetterQueue(connection).get(handle.id)
    assert entry.error_message == "Traceback (most recent call last):\nValueError: card [redacted] declined"
    assert [r["error_message"] for r in entry.history] == [entry.error_message]
    assert CARD not in entry.message and entry.error_message in entry.message
    assert [text for text in log_lines(caplog) if CARD in text] == []
    assert entry.kwargs["card_number"] == CARD
