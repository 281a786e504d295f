"""Data from Redis is not trusted (issue 11): forged and corrupt job hashes, bombs, oversized text, and an
alert outbox holding what this version cannot read.

Someone with write access to Redis, or a buggy producer, writes job hashes. The tests forge them the way
such a writer would: enqueue a real job (so the hash has the right shape) and overwrite fields with HSET
before a worker takes it, or enqueue a payload through RQ's own ``enqueue_call`` (RQ's JSON serializer,
``func_name`` ``stalwart.run``), skipping every check ``Job.enqueue`` makes. Workers are real
``stalwart worker`` processes on the test's real Redis.

Redis keys and job-hash fields are named by their literal strings (``rq:job:<id>``,
``rq:queue:<name>:intermediate``, ``stalwart:dlq:entry:<id>``, ``stalwart:alerts:outbox``): the modules
that define them are being moved.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import threading
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
from rq import Queue
from rq.serializers import JSONSerializer

from jobs import (
    Classification,
    DeadLetterEntry,
    DeadLetterQueue,
    NoSuchEntryError,
    PayloadError,
    Status,
    request_context,
)
from tests.hardening.untrusted_jobs import (
    ChargeTimesOut,
    FailsNotRetryable,
    RaisesAHugeError,
    Succeeds,
    TakesANumber,
    TakesAnyKeyword,
    TakesATree,
    TakesText,
)
from tests.sentry_server import sentry_server
from tests.workers import Workers, stalwart, wait_for

IMPORT = ("--import", "tests.hardening.untrusted_jobs")
OUTBOX = "stalwart:alerts:outbox"  # the alert outbox, a Redis list of JSON alerts
INTERMEDIATE = "rq:queue:default:intermediate"  # RQ's list of dequeued, not yet started jobs
KB = 1024
MB = 1024 * KB


# -- helpers -------------------------------------------------------------------------------------------


def burst(env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    """Run ``stalwart worker --burst`` on the default queue until nothing is left; it must exit 0."""
    run = stalwart("worker", *IMPORT, "--burst", *options, env=env, timeout=90)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


@contextlib.contextmanager
def long_running(env: dict[str, str], logs: Path, *options: str) -> Iterator[Workers]:
    """Long-running workers (``workers.start(...)``), all killed at the end."""
    logs.mkdir(parents=True, exist_ok=True)
    workers = Workers(env, logs)
    try:
        yield workers
    finally:
        workers.kill_all()


def forge(connection: redis.Redis, job: str, kwargs: dict[str, Any]) -> str:
    """Put a stalwart payload on the default queue through RQ itself, without ``Job.enqueue``'s checks."""
    rq_job = Queue("default", connection=connection, serializer=JSONSerializer).enqueue_call(
        func="stalwart.run", args=[], kwargs={"job": job, "kwargs": kwargs, "meta": {}}
    )
    return str(rq_job.id)


def entry_or_none(connection: redis.Redis, job_id: str) -> DeadLetterEntry | None:
    try:
        return DeadLetterQueue(connection).get(job_id)
    except NoSuchEntryError:
        return None


def head_of(connection: redis.Redis, entry_id: str) -> bytes:
    """The ``head`` field of the entry's hash: the plain part that listings, ``dlq show`` and replays read."""
    raw = connection.hget(f"stalwart:dlq:entry:{entry_id}", "head")
    assert isinstance(raw, bytes), f"no dead-letter entry {entry_id}"
    return raw


def nested(depth: int) -> Any:
    """A JSON value ``depth`` lists deep."""
    tree: Any = "leaf"
    for _ in range(depth):
        tree = [tree]
    return tree


def largest_accepted(accepts: Callable[[int], bool], low: int, high: int) -> int:
    """The largest n in [low, high] with ``accepts(n)``; ``accepts`` holds for ``low`` and is monotonic."""
    assert accepts(low)
    while low < high:
        middle = (low + high + 1) // 2
        if accepts(middle):
            low = middle
        else:
            high = middle - 1
    return low


def peak_rss_mb(pid: int) -> float:
    """The peak resident set size of a live process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM line for process {pid}")


class Listener:
    """An HTTP server on 127.0.0.1 that records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.requests.append((self.command, self.path, body[:2000]))
                self.send_response(200)
                self.end_headers()

            do_GET = do_POST = do_PUT = _record

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextlib.contextmanager
    def running(self) -> Iterator[Listener]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


# -- 1. RQ's `webhooks` field ---------------------------------------------------------------------------


def test_a_forged_webhooks_field_sends_no_request(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Given a job that will succeed and one that will fail, each with a webhook forged into its hash
    # (RQ 3.0's `webhooks` field: a JSON list of {url, job_status, method}) pointing at a listener
    with Listener().running() as listener:
        succeeds = Succeeds.enqueue(connection=connection, path=str(tmp_path / "succeeds"))
        fails = FailsNotRetryable.enqueue(connection=connection, path=str(tmp_path / "fails"))
        connection.hset(
            f"rq:job:{succeeds.id}",
            "webhooks",
            json.dumps([{"url": f"{listener.url}/on-success", "job_status": "finished", "method": "GET"}]),
        )
        connection.hset(
            f"rq:job:{fails.id}",
            "webhooks",
            json.dumps([{"url": f"{listener.url}/on-failure", "job_status": "failed", "method": "POST"}]),
        )

        # When a (forking) worker runs both to their end (RQ sends webhooks synchronously, before it exits)
        burst(subprocess_env)

        # Then both ended as usual, and nothing named in a job hash was called
        assert (succeeds.status(), fails.status()) == (Status.SUCCEEDED, Status.DEAD_LETTERED)
        assert listener.requests == []


# -- 2. RQ's `retries_left` / `retry_intervals` -----------------------------------------------------------


@pytest.mark.parametrize(
    ("job", "intervals", "classification"),
    [
        (FailsNotRetryable, "[0]", Classification.NON_RETRYABLE),  # RQ re-enqueues it at once
        (ChargeTimesOut, "[1]", Classification.AMBIGUOUS),  # RQ schedules it: a second charge, 1 s later
    ],
    ids=["non_retryable-requeued", "ambiguous-scheduled"],
)
def test_a_forged_retries_left_field_never_runs_a_dead_lettered_job_again(
    connection: redis.Redis,
    subprocess_env: dict[str, str],
    tmp_path: Path,
    job: type[FailsNotRetryable] | type[ChargeTimesOut],
    intervals: str,
    classification: Classification,
) -> None:
    # Given a job that must run at most once, with RQ's retry fields forged into its hash
    runs = tmp_path / "runs"
    handle = job.enqueue(connection=connection, path=str(runs))
    connection.hset(f"rq:job:{handle.id}", mapping={"retries_left": 3, "retry_intervals": intervals})

    # When a worker runs until nothing is queued or scheduled
    burst(subprocess_env)

    # Then it ran once, and is dead-lettered once, with one alert
    assert runs.read_text().count("\n") == 1
    assert handle.status() is Status.DEAD_LETTERED
    entry = DeadLetterQueue(connection).get(handle.id)
    assert (entry.classification, entry.attempts) == (classification, 1)
    assert connection.llen(OUTBOX) == 1


# -- 3. Corrupt job-hash fields ---------------------------------------------------------------------------

CORRUPTIONS = {
    "status": b"bogus",
    "created_at": b"yesterday",
    "timeout": b"forever",
    "origin": b"\xff\xfe not utf-8",
    "description": b"\xff\xfe not utf-8",
    "stalwart_attempt": b"two",
    "stalwart_history": b"{not json",
    "stalwart_snoozed_since": b"soon",
    "dependency_ids": b"[not json",
}


@pytest.mark.xfail(
    strict=True,
    reason="issue 11: a corrupt job-hash field crashes RQ's loop (or the job's finish): the job is left in "
    "the intermediate list (or `started`) with no dead-letter entry",
)
@pytest.mark.parametrize(
    ("field", "value"),
    [
        *CORRUPTIONS.items(),
        # Valid JSON, but not a list of attempt records: the job runs, then stays `started` for good.
        ("stalwart_history", b"42"),
    ],
    ids=[*CORRUPTIONS, "stalwart_history-not-a-list"],
)
def test_a_job_with_a_corrupt_hash_field_is_poison_and_the_jobs_behind_it_run(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path, field: str, value: bytes
) -> None:
    # Given a job whose hash has one corrupt field, and a good job behind it
    corrupt = Succeeds.enqueue(connection=connection, path=str(tmp_path / "corrupt-ran"))
    connection.hset(f"rq:job:{corrupt.id}", field, value)
    good = Succeeds.enqueue(connection=connection, path=str(tmp_path / "good-ran"))

    # When a worker runs until nothing is queued
    burst(subprocess_env, "--in-process")

    # Then the good job succeeded, and the corrupt one is a poison entry that never ran
    assert good.status() is Status.SUCCEEDED
    entry = entry_or_none(connection, corrupt.id)
    assert entry is not None, f"no dead-letter entry for the job with a corrupt {field!r}"
    assert entry.classification is Classification.POISON
    assert not (tmp_path / "corrupt-ran").exists()
    assert connection.lrange(INTERMEDIATE, 0, -1) == []


# -- 4. Bombs -------------------------------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="issue 11: a compressed `data` field is inflated whole (200 MB) before the 512 KB size check",
)
def test_a_compressed_payload_that_inflates_to_200_mb_is_poison_without_being_inflated(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Given a job whose `data` field (zlib-compressed, as RQ stores it) is about 200 KB and inflates to
    # 200 MB, and a good job behind it
    bomb = Succeeds.enqueue(connection=connection, path=str(tmp_path / "bomb-ran"))
    connection.hset(f"rq:job:{bomb.id}", "data", zlib.compress(b"\0" * (200 * MB), 9))
    good = Succeeds.enqueue(connection=connection, path=str(tmp_path / "good-ran"))

    # When an in-process worker (jobs are decoded in its own process) takes both
    with long_running(subprocess_env, tmp_path) as workers:
        worker = workers.start(*IMPORT, "--in-process")
        wait_for(lambda: good.status() is Status.SUCCEEDED, timeout_s=30)
        peak = peak_rss_mb(worker.pid)

    # Then the bomb is poison, and the worker never held anything near 200 MB
    entry = entry_or_none(connection, bomb.id)
    assert entry is not None and entry.classification is Classification.POISON
    assert not (tmp_path / "bomb-ran").exists()
    assert peak < 150, f"the worker's peak RSS was {peak:.0f} MB"


@pytest.mark.xfail(
    strict=True,
    reason="issue 11: enqueue has no nesting limit: 600 deep is accepted, 50,000 deep raises RecursionError "
    "instead of PayloadError",
)
@pytest.mark.parametrize("depth", [600, 50_000])
def test_enqueue_refuses_deeply_nested_arguments_with_a_payload_error(
    connection: redis.Redis, tmp_path: Path, depth: int
) -> None:
    with pytest.raises(PayloadError, match="tree"):
        TakesATree.enqueue(connection=connection, path=str(tmp_path / "ran"), tree=nested(depth))
    assert connection.llen("rq:queue:default") == 0


@pytest.mark.xfail(
    strict=True,
    reason="issue 11: a forged payload nested 600 deep runs, then its failure path dies of RecursionError",
)
def test_a_forged_payload_nested_600_deep_is_poison_and_never_runs(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Given a payload nested as deep as enqueue refuses, written past enqueue, and a good job behind it
    forged = forge(connection, TakesATree.name, {"path": str(tmp_path / "forged-ran"), "tree": nested(600)})
    good = Succeeds.enqueue(connection=connection, path=str(tmp_path / "good-ran"))

    burst(subprocess_env, "--in-process")

    assert not (tmp_path / "forged-ran").exists()
    entry = entry_or_none(connection, forged)
    assert entry is not None, "no dead-letter entry for the forged job nested 600 deep"
    assert entry.classification is Classification.POISON
    assert good.status() is Status.SUCCEEDED


@pytest.mark.xfail(
    strict=True,
    reason="issue 11: arguments nested as deep as enqueue accepts (600) break the failure path: the job "
    "stays `started` with no dead-letter entry, while the log says it was dead-lettered",
)
def test_a_failing_job_nested_as_deep_as_enqueue_accepts_is_dead_lettered(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Given a failing job whose argument is nested as deep as enqueue accepts (found on an in-memory Redis,
    # searching up to the 600 levels enqueue must refuse)
    ran = str(tmp_path / "ran")
    scratch = fakeredis.FakeRedis()

    def accepts(depth: int) -> bool:
        try:
            TakesATree.enqueue(connection=scratch, path=ran, tree=nested(depth))
        except PayloadError:
            return False
        return True

    depth = largest_accepted(accepts, 1, 600)
    handle = TakesATree.enqueue(connection=connection, path=ran, tree=nested(depth))

    # When a worker runs it
    burst(subprocess_env, "--in-process")

    # Then it ran once and is dead-lettered like any failing job: an entry, and one alert
    assert Path(ran).read_text() == "ran\n"
    assert handle.status() is Status.DEAD_LETTERED, f"nested {depth} deep, it ended {handle.status()}"
    entry = entry_or_none(connection, handle.id)
    assert entry is not None and entry.classification is Classification.NON_RETRYABLE
    assert connection.llen(OUTBOX) == 1


# -- 5. What enqueue refuses, the worker must refuse, and the other way round -----------------------------


@pytest.mark.xfail(
    strict=True,
    reason="issue 11: a forged payload with NaN/Infinity runs, though enqueue refuses those values",
)
@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), float("-inf")], ids=["NaN", "Infinity", "-Infinity"]
)
def test_a_forged_payload_with_a_non_json_number_is_poison_and_never_runs(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path, value: float
) -> None:
    ran = tmp_path / "ran"
    with pytest.raises(PayloadError, match="number"):
        TakesANumber.enqueue(connection=connection, path=str(ran), number=value)
    # RQ's JSON serializer writes NaN, Infinity and -Infinity, which Python's json reads back.
    forged = forge(connection, TakesANumber.name, {"path": str(ran), "number": value})

    burst(subprocess_env, "--in-process")

    assert not ran.exists(), f"the forged job ran with {ran.read_text().strip()}"
    entry = entry_or_none(connection, forged)
    assert entry is not None and entry.classification is Classification.POISON


@pytest.mark.xfail(
    strict=True,
    reason="issue 11: the worker's size check measures RQ's whole `data` field, enqueue measures the "
    "payload: a payload enqueue accepts is dead-lettered as over the limit",
)
@pytest.mark.parametrize("character", ["x", "é"], ids=["ascii", "non-ascii"])
def test_a_payload_as_large_as_enqueue_accepts_runs(
    connection: redis.Redis,
    subprocess_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    character: str,
) -> None:
    # Given a 2,000-byte limit on both sides, and the longest text enqueue accepts under it (found on an
    # in-memory Redis, with the same request id so that the payloads have the same size)
    monkeypatch.setenv("STALWART_MAX_PAYLOAD_BYTES", "2000")
    env = {**subprocess_env, "STALWART_MAX_PAYLOAD_BYTES": "2000"}
    ran = str(tmp_path / "ran")
    scratch = fakeredis.FakeRedis()

    def accepts(length: int) -> bool:
        try:
            TakesText.enqueue(connection=scratch, path=ran, text=character * length)
        except PayloadError:
            return False
        return True

    with request_context("req-hardening-size"):
        length = largest_accepted(accepts, 0, 2000)
        handle = TakesText.enqueue(connection=connection, path=ran, text=character * length)

    # When a worker runs it
    burst(env, "--in-process")

    # Then it ran: what enqueue accepted, the worker accepts
    entry = entry_or_none(connection, handle.id)
    assert entry is None, f"{length} x {character!r} was accepted by enqueue, then: {entry.error_message}"
    assert handle.status() is Status.SUCCEEDED
    assert Path(ran).read_text() == "ran\n"


@pytest.mark.xfail(
    strict=True,
    reason="issue 11: Job.enqueue(self=1) is accepted for a job whose perform takes **kwargs",
)
def test_enqueue_refuses_an_argument_named_self(connection: redis.Redis) -> None:
    # perform(self, **kwargs) cannot be called with self=1 (it would get two values for `self`).
    with pytest.raises(PayloadError, match="self"):
        TakesAnyKeyword.enqueue(connection=connection, self=1)
    assert connection.llen("rq:queue:default") == 0


# -- 6. Oversized text ------------------------------------------------------------------------------------


def _sentry_event_for(sentry: Any, job: str) -> dict[str, Any]:
    wait_for(lambda: any(e.get("tags", {}).get("job") == job for e in sentry.events), timeout_s=30)
    (event,) = [e for e in sentry.events if e.get("tags", {}).get("job") == job]
    return event  # type: ignore[no-any-return]


@pytest.mark.xfail(
    strict=True,
    reason="issue 11: a 5 MB poison payload is copied whole into the entry's head and the Sentry event",
)
def test_a_5_mb_poison_payload_is_truncated_in_the_entry_and_the_sentry_event(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Given a forged payload of 5 MB, ten times the 512 KB limit
    forged = forge(connection, TakesText.name, {"path": str(tmp_path / "ran"), "text": "x" * (5 * MB)})

    with sentry_server() as sentry, long_running({**subprocess_env, "SENTRY_DSN": sentry.dsn}, tmp_path) as w:
        w.start(*IMPORT, "--in-process")
        event = _sentry_event_for(sentry, TakesText.name)

    # Then it is poison; what people read is cut short, and says so
    entry = entry_or_none(connection, forged)
    assert entry is not None and entry.classification is Classification.POISON
    head = head_of(connection, forged)
    assert len(head) < 64 * KB, f"the entry's head is {len(head)} bytes"
    assert b"truncated" in head
    sent = json.dumps(event)
    assert len(sent) < 200 * KB, f"the Sentry event is {len(sent)} bytes"
    assert "truncated" in sent


@pytest.mark.xfail(
    strict=True,
    reason="issue 11: a 2 MB error message is copied whole into the entry and into a 4 MB Sentry event",
)
def test_a_2_mb_error_message_is_truncated_in_the_entry_and_the_sentry_event(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    handle = RaisesAHugeError.enqueue(connection=connection, size=2 * MB)

    with sentry_server() as sentry, long_running({**subprocess_env, "SENTRY_DSN": sentry.dsn}, tmp_path) as w:
        w.start(*IMPORT, "--in-process")
        event = _sentry_event_for(sentry, RaisesAHugeError.name)

    assert handle.status() is Status.DEAD_LETTERED
    head = head_of(connection, handle.id)
    assert len(head) < 64 * KB, f"the entry's head is {len(head)} bytes"
    assert b"truncated" in head
    sent = json.dumps(event)
    assert len(sent) < 200 * KB, f"the Sentry event is {len(sent)} bytes"  # Sentry drops events over ~1 MB
    assert "truncated" in sent
    assert event["message"].startswith(f"{RaisesAHugeError.name} (job {handle.id}, attempt 1/1) failed")


@pytest.mark.xfail(
    strict=True,
    reason="issue 11: a large (400 KB) argument is copied whole into the Sentry event",
)
def test_a_large_argument_is_kept_whole_for_replay_and_truncated_in_the_sentry_event(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Given a failing job with a 400 KB argument, under the 512 KB limit: a legitimate payload
    text = "y" * (400 * KB)
    handle = TakesATree.enqueue(connection=connection, path=str(tmp_path / "ran"), tree=text)

    with sentry_server() as sentry, long_running({**subprocess_env, "SENTRY_DSN": sentry.dsn}, tmp_path) as w:
        w.start(*IMPORT, "--in-process")
        event = _sentry_event_for(sentry, TakesATree.name)

    # Then replay has it whole; the alert has it cut short, and says so
    entry = DeadLetterQueue(connection).get(handle.id)
    assert entry.kwargs["tree"] == text
    sent = json.dumps(event)
    assert len(sent) < 200 * KB, f"the Sentry event is {len(sent)} bytes"
    assert "truncated" in sent


# -- 7. The alert outbox ----------------------------------------------------------------------------------

NEWER_ALERT = {
    "title": "hardening: an alert written by a newer stalwart",
    "message": "A newer version added a field to alerts; this one must deliver it all the same.",
    "tags": {"job": "hardening.Newer"},
    "fingerprint": ["hardening.Newer"],
    "context": {},
    "level": "error",
    "runbook_url": "https://runbooks.example/hardening",  # the field this version does not know
}
DEAD_LETTER_TITLE = f"{FailsNotRetryable.name} dead-lettered (non_retryable): RuntimeError"


def _text_of(path: Path) -> str:
    return path.read_text() if path.exists() else ""


@pytest.mark.xfail(
    strict=True,
    reason="issue 11: an unreadable item in the alert outbox kills the dispatcher thread: later alerts are "
    "never sent",
)
@pytest.mark.parametrize(
    ("unreadable", "delivered_too"),
    [
        (b"\x00garbage{", None),
        (json.dumps(["not", "an", "alert"]).encode(), None),
        (json.dumps(NEWER_ALERT).encode(), NEWER_ALERT["title"]),
    ],
    ids=["garbage", "json-not-an-alert", "newer-alert-with-an-extra-field"],
)
def test_an_unreadable_outbox_item_does_not_stop_later_alerts(
    connection: redis.Redis,
    subprocess_env: dict[str, str],
    tmp_path: Path,
    unreadable: bytes,
    delivered_too: str | None,
) -> None:
    # Given an item this version cannot read at the head of the alert outbox, and a command sink
    mail = tmp_path / "mail.txt"
    connection.rpush(OUTBOX, unreadable)
    env = {**subprocess_env, "STALWART_ALERT_COMMAND": f"sh -c 'cat >> {mail}'"}

    # When a worker dead-letters a job
    handle = FailsNotRetryable.enqueue(connection=connection, path=str(tmp_path / "ran"))
    with long_running(env, tmp_path) as workers:
        workers.start(*IMPORT, "--in-process")
        wait_for(lambda: handle.status() is Status.DEAD_LETTERED, timeout_s=30)
        with contextlib.suppress(AssertionError):
            wait_for(lambda: DEAD_LETTER_TITLE in _text_of(mail), timeout_s=10)

    # Then its alert reaches the command (and a newer alert is delivered too, its unknown field ignored)
    assert DEAD_LETTER_TITLE in _text_of(mail), (
        f"outbox: {connection.lrange(OUTBOX, 0, -1)!r}; log: {workers.log_of(0).read_text()[-1500:]}"
    )
    if delivered_too is not None:
        assert delivered_too in _text_of(mail)


@pytest.mark.xfail(
    strict=True,
    reason="issue 11: the dispatcher pops an alert before sending it: a worker killed mid-send loses it",
)
def test_an_alert_being_sent_when_its_worker_is_killed_is_delivered_by_another_worker(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Given a worker whose alert command records the alert, then blocks (reading a FIFO nobody writes)
    attempted, delivered, gate = tmp_path / "attempted.txt", tmp_path / "delivered.txt", tmp_path / "gate"
    os.mkfifo(gate)
    env = {**subprocess_env, "STALWART_HEARTBEAT_INTERVAL_S": "1", "STALWART_HEARTBEAT_TTL_S": "3"}
    blocking = {**env, "STALWART_ALERT_COMMAND": f"sh -c 'cat >> {attempted}; cat {gate} > /dev/null'"}
    working = {**env, "STALWART_ALERT_COMMAND": f"sh -c 'cat >> {delivered}'"}
    handle = FailsNotRetryable.enqueue(connection=connection, path=str(tmp_path / "ran"))
    try:
        with long_running(blocking, tmp_path / "first") as first:
            # When the worker is SIGKILLed while its dispatcher is sending the job's dead-letter alert
            worker = first.start(*IMPORT, "--in-process")
            wait_for(lambda: DEAD_LETTER_TITLE in _text_of(attempted), timeout_s=30)
            worker.kill()
            worker.wait(10)
        assert handle.status() is Status.DEAD_LETTERED

        # Then a second worker delivers it
        with long_running(working, tmp_path / "second") as second:
            second.start(*IMPORT, "--in-process")
            with contextlib.suppress(AssertionError):
                wait_for(lambda: DEAD_LETTER_TITLE in _text_of(delivered), timeout_s=20)
        assert _text_of(delivered).count(DEAD_LETTER_TITLE) == 1, (
            f"outbox: {connection.lrange(OUTBOX, 0, -1)!r}; delivered: {_text_of(delivered)!r}"
        )
    finally:
        _release(gate)


def _release(fifo: Path) -> None:
    """Let a command blocked reading ``fifo`` finish (a writer opens it and closes it)."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError as err:
        if err.errno != errno.ENXIO:  # ENXIO: nobody is reading it
            raise
