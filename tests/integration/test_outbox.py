"""The outbox, in this process: rows written in the caller's transaction, and a relay that moves each
committed row to Redis once. Real SQLite files and a real PostgreSQL server; Redis is the test Redis."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
import redis
import sqlalchemy
from sqlalchemy.orm import Session

from jobs import ConfigurationError, JobHandle, PayloadError, Status, Worker, outbox, settings
from jobs.outbox.backlog import Backlog
from jobs.outbox.database import database
from jobs.outbox.relay import UnreadableRow
from jobs.rq_adapter.schedule import redis_time
from tests.outbox_jobs import CountsRuns, ExportsOnce
from tests.workers import stalwart, wait_for


def sqlite_db(url: str) -> sqlite3.Connection:
    """The application's own connection, as an application opens it (Python's default transactions)."""
    return sqlite3.connect(url.removeprefix("sqlite:///"))


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest) -> str:
    """The outbox's database: a SQLite file, then the test PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def app_db(url: str) -> Iterator[Any]:
    """The application's connection to ``url``, with the outbox table installed and committed."""
    db: Any = sqlite_db(url) if url.startswith("sqlite") else psycopg.connect(url)
    outbox.install(db)
    db.commit()
    yield db
    db.close()


def queued_ids(connection: redis.Redis, queue: str = "outbox") -> list[str]:
    return [i.decode() for i in connection.lrange(f"rq:queue:{queue}", 0, -1)]


def rows(url: str) -> int:
    return outbox.backlog(url).rows


def test_a_committed_job_is_relayed_once_under_the_id_enqueue_returned(
    url: str, app_db: Any, connection: redis.Redis
) -> None:
    job_id = outbox.enqueue(app_db, CountsRuns, n=1)
    assert rows(url) == 0  # not committed yet: the relay cannot see it
    app_db.commit()

    relay = outbox.Relay(url, connection)
    first, second = relay.relay_once(), relay.relay_once()

    assert (first, second) == (outbox.Round(written=1), outbox.Round())
    assert queued_ids(connection) == [job_id] and rows(url) == 0
    handle = JobHandle(job_id, CountsRuns.name, connection)
    assert handle.status() is Status.QUEUED


def test_a_rolled_back_transaction_never_produces_a_job(
    url: str, app_db: Any, connection: redis.Redis
) -> None:
    outbox.enqueue(app_db, CountsRuns, n=1)
    app_db.rollback()

    assert outbox.Relay(url, connection).relay_once() == outbox.Round()
    assert queued_ids(connection) == [] and rows(url) == 0


def test_a_bad_payload_raises_and_writes_nothing(url: str, app_db: Any, connection: redis.Redis) -> None:
    with pytest.raises(PayloadError, match="n"):
        outbox.enqueue(app_db, CountsRuns, n="one")
    with pytest.raises(PayloadError, match="is not accepted by perform"):
        outbox.enqueue(app_db, CountsRuns, n=1, extra=2)
    app_db.commit()
    assert rows(url) == 0


def test_a_relay_stopped_between_redis_and_its_commit_leaves_rows_whose_jobs_are_not_written_twice(
    url: str, app_db: Any, connection: redis.Redis
) -> None:
    # Given a committed row, and a relay that dies after writing its job to Redis, before deleting it
    job_id = outbox.enqueue(app_db, CountsRuns, n=1)
    app_db.commit()

    def dies(ids: list[str]) -> None:
        raise SystemExit("killed")

    with pytest.raises(SystemExit):
        outbox.Relay(url, connection, after_redis=dies).relay_once()
    assert queued_ids(connection) == [job_id] and rows(url) == 1  # rolled back: the row is still there

    # When the next relay takes the row
    again = outbox.Relay(url, connection).relay_once()

    # Then it finds the job in Redis, deletes the row, and writes nothing
    assert again == outbox.Round(existed=1)
    assert queued_ids(connection) == [job_id] and rows(url) == 0


def test_later_and_at_jobs_go_through_the_outbox_never_early(
    url: str, app_db: Any, connection: redis.Redis
) -> None:
    later = outbox.enqueue_in(app_db, CountsRuns, timedelta(minutes=10), n=1)
    new_year = datetime(2030, 1, 1, 9, 0, tzinfo=timezone.utc)
    at = outbox.enqueue_at(app_db, CountsRuns, new_year, n=2)
    app_db.commit()
    before = redis_time(connection)

    outbox.Relay(url, connection).relay_once()

    assert queued_ids(connection) == []
    later_handle = JobHandle(later, CountsRuns.name, connection)
    at_handle = JobHandle(at, CountsRuns.name, connection)
    assert later_handle.status() is at_handle.status() is Status.SCHEDULED
    due = dict(connection.zrange("rq:scheduled:outbox", 0, -1, withscores=True))
    assert due[at.encode()] == new_year.timestamp()
    assert before + 600 <= due[later.encode()] <= redis_time(connection) + 600


def test_naive_times_and_negative_delays_are_refused_before_anything_is_written(
    url: str, app_db: Any
) -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        outbox.enqueue_at(app_db, CountsRuns, datetime(2030, 1, 1), n=1)
    with pytest.raises(ValueError, match="must not be negative"):
        outbox.enqueue_in(app_db, CountsRuns, -1, n=1)
    app_db.commit()
    assert rows(url) == 0


def test_a_unique_job_already_held_is_not_enqueued_twice_and_its_row_goes(
    url: str, app_db: Any, connection: redis.Redis
) -> None:
    held = ExportsOnce.enqueue(connection=connection, account_id=7)
    outbox.enqueue(app_db, ExportsOnce, account_id=7)
    other = outbox.enqueue(app_db, ExportsOnce, account_id=8)
    app_db.commit()

    done = outbox.Relay(url, connection).relay_once()

    assert done == outbox.Round(written=1, deduplicated=1)
    assert queued_ids(connection) == [held.id, other] and rows(url) == 0


def test_the_request_id_of_the_enqueueing_request_travels_with_the_job(
    url: str, app_db: Any, connection: redis.Redis
) -> None:
    from jobs import request_context

    with request_context("req-42"):
        job_id = outbox.enqueue(app_db, CountsRuns, n=1)
    app_db.commit()
    outbox.Relay(url, connection).relay_once()

    data = connection.hget(f"rq:job:{job_id}", "data")
    assert isinstance(data, bytes)
    payload = json.loads(zlib.decompress(data))[3]
    assert payload["meta"]["request_id"] == "req-42" and payload["kwargs"] == {"n": 1}


@pytest.mark.parametrize("kind", ["connection", "session"])
def test_sqlalchemy_connections_and_sessions_write_in_their_transaction(
    url: str, app_db: Any, connection: redis.Redis, kind: str
) -> None:
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        opened: Callable[[], Any] = engine.connect if kind == "connection" else lambda: Session(engine)
        with opened() as db:
            kept = outbox.enqueue(db, CountsRuns, n=1)
            db.commit()
            outbox.enqueue(db, CountsRuns, n=2)
            db.rollback()
    finally:
        engine.dispose()

    outbox.Relay(url, connection).relay_once()

    assert queued_ids(connection) == [kept]


def test_anything_but_a_known_connection_is_refused_with_what_to_pass() -> None:
    with pytest.raises(TypeError, match=r"django.db.connection.connection"):
        outbox.enqueue(object(), CountsRuns, n=1)
    with pytest.raises(TypeError, match="takes a Job class"):
        outbox.enqueue(sqlite3.connect(":memory:"), "CountsRuns", n=1)  # type: ignore[arg-type]


def test_install_is_idempotent_and_the_library_detects_each_client(url: str, app_db: Any) -> None:
    outbox.install(app_db)
    outbox.install(app_db)
    app_db.commit()
    kind = database(app_db)
    assert (kind.dialect, kind.client) == (
        ("sqlite", "sqlite3") if url.startswith("sqlite") else ("postgresql", "psycopg")
    )


def test_while_redis_is_down_rows_wait_and_the_relay_rolls_back(
    url: str, app_db: Any, connection: redis.Redis
) -> None:
    outbox.enqueue(app_db, CountsRuns, n=1)
    app_db.commit()
    gone = redis.Redis(port=1, socket_connect_timeout=0.2)  # nothing listens on port 1

    with pytest.raises(redis.ConnectionError):
        outbox.Relay(url, gone).relay_once()

    assert rows(url) == 1
    assert outbox.Relay(url, connection).relay_once() == outbox.Round(written=1)


def test_a_growing_outbox_raises_one_alert_and_rearms_when_it_drains(
    sqlite_url: str, connection: redis.Redis
) -> None:
    with settings.override(outbox_alert_depth=2, outbox_alert_age_s=60):
        relay = outbox.Relay(sqlite_url, connection)
    assert relay.growth_alert(Backlog(2, 59.0)) is None
    deep = relay.growth_alert(Backlog(3, 1.0))
    old = relay.growth_alert(Backlog(1, 61.0))
    assert deep is not None and deep.title == "the outbox holds 3 jobs not yet in Redis"
    assert old is not None and "the oldest was committed 61 s ago (alert over 60 s)" in old.message


def test_the_growth_alert_is_raised_once_across_rounds(sqlite_url: str, connection: redis.Redis) -> None:
    db = sqlite_db(sqlite_url)
    outbox.install(db)
    for n in range(3):
        outbox.enqueue(db, CountsRuns, n=n)
    db.commit()
    with settings.override(outbox_alert_depth=1):
        relays = [outbox.Relay(sqlite_url, connection) for _ in range(2)]

    for relay in relays:
        relay._measure()  # each relay measures; one alert for the fleet
    assert [a for a in connection.lrange("stalwart:alerts:outbox", 0, -1)] and (
        connection.llen("stalwart:alerts:outbox") == 1
    )
    relays[0].relay_once()
    relays[0]._measured_at = 0.0
    relays[0]._measure()
    assert not connection.exists("stalwart:outbox:alerted")  # re-armed


def test_the_cli_prints_the_sql_installs_the_table_and_shows_the_backlog(
    sqlite_url: str, subprocess_env: dict[str, str]
) -> None:
    printed = stalwart("outbox", "sql", env=subprocess_env)
    installed = stalwart("outbox", "install", "--outbox", sqlite_url, env=subprocess_env)
    db = sqlite_db(sqlite_url)
    outbox.enqueue(db, CountsRuns, n=1)
    db.commit()
    status = stalwart("outbox", "status", "--json", env={**subprocess_env, "STALWART_OUTBOX_URL": sqlite_url})
    shown = stalwart("stats", "--outbox", sqlite_url, env=subprocess_env)
    as_json = stalwart("stats", "--json", "--outbox", sqlite_url, env=subprocess_env)

    assert printed.returncode == 0 and printed.stdout == outbox.sql()
    assert installed.returncode == 0, installed.stderr
    assert status.returncode == 0 and status.stdout.startswith('{"rows": 1, "oldest_s": ')
    assert "outbox: 1 jobs not yet in Redis, the oldest committed" in shown.stdout
    assert json.loads(as_json.stdout)["gauges"]["outbox"]["rows"] == 1


def test_the_cli_says_what_to_pass_without_an_outbox(subprocess_env: dict[str, str]) -> None:
    done = stalwart("outbox", "status", env=subprocess_env)
    wrong = stalwart("outbox", "status", "--outbox", "mysql://db", env=subprocess_env)
    assert (done.returncode, done.stderr) == (
        1,
        "stalwart: no outbox database named: pass --outbox URL (sqlite:///PATH or "
        "postgresql://USER@HOST:PORT/DB) or set STALWART_OUTBOX_URL\n",
    )
    assert wrong.returncode == 1 and "is neither sqlite:///PATH nor postgresql://" in wrong.stderr


def test_a_row_outbox_enqueue_did_not_write_stops_the_relay_with_the_row_to_delete(
    sqlite_url: str, connection: redis.Redis
) -> None:
    db = sqlite_db(sqlite_url)
    outbox.install(db)
    db.execute(
        "INSERT INTO stalwart_outbox (id, job, queue, body, timeout_s, result_ttl_s, created_at) "
        "VALUES ('row-1', 'x', 'outbox', 'not json', 1, 1, 0)"
    )
    db.commit()

    with pytest.raises(
        UnreadableRow, match=r"delete that row \(DELETE FROM stalwart_outbox WHERE id = 'row-1'\)"
    ):
        outbox.Relay(sqlite_url, connection).relay_once()
    assert rows(sqlite_url) == 1 and queued_ids(connection) == []


def test_a_worker_given_an_outbox_url_it_cannot_use_refuses_to_start(connection: redis.Redis) -> None:
    with pytest.raises(ConfigurationError, match="is neither sqlite:///PATH nor postgresql://"):
        Worker(["outbox"], connection=connection, outbox="mysql://db/app")


def test_on_sqlite_a_redis_that_stops_answering_never_holds_the_applications_writes(
    sqlite_url: str,
) -> None:
    # Given a committed row, and a "Redis" that accepts connections and never answers
    db = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=0.5)
    outbox.install(db)
    outbox.enqueue(db, CountsRuns, n=1)
    db.commit()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        relay = outbox.Relay(sqlite_url, redis.Redis(port=silent.getsockname()[1]))
        failed: list[BaseException] = []

        def round_() -> None:
            try:
                relay.relay_once()
            except redis.RedisError as err:
                failed.append(err)

        stuck = threading.Thread(target=round_)
        stuck.start()
        wait_for(lambda: stuck.is_alive() and _waiting_on(silent))

        # When the application commits while the relay waits on Redis: it is not kept waiting
        outbox.enqueue(db, CountsRuns, n=2)
        db.commit()
        stuck.join(10)
        for client in _held:
            client.close()
        _held.clear()

    # Then the relay's round gave up within its bound, and both rows wait for the next
    assert [type(e) for e in failed] == [redis.TimeoutError] and rows(sqlite_url) == 2


def _waiting_on(server: socket.socket) -> bool:
    """Whether a client connected to ``server`` (accepted here, and never answered)."""
    server.settimeout(0.05)
    try:
        client, _ = server.accept()
    except OSError:
        return False
    _held.append(client)
    return True


_held: list[socket.socket] = []
