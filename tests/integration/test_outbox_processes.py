"""The outbox's promises with real processes: a producer killed right after its commit, a relay killed
between Redis and its commit, two relays on one PostgreSQL, and Redis down while rows are committed."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from jobs import outbox
from jobs.outbox.database import connect as connect_database
from tests.hardening.outage_run import outage_run
from tests.outbox_jobs import RUNS, CountsRuns
from tests.workers import REPO, Workers, wait_for

WORKER = ("--import", "tests.outbox_jobs", "--queue", "outbox", "--in-process")


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest) -> str:
    """The outbox's database, installed: a SQLite file, then the test PostgreSQL."""
    chosen = str(request.getfixturevalue(f"{request.param}_url"))
    db = connect_database(chosen)
    outbox.install(db)
    db.close()
    return chosen


def runs(connection: redis.Redis) -> dict[int, int]:
    """How many times each ``n`` ran."""
    return {int(k): int(v) for k, v in connection.hgetall(RUNS).items()}


def rows(url: str) -> int:
    return outbox.backlog(url).rows


def helper(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``python -m tests.outbox_jobs ARGS``: a producer or a relay of the test's own."""
    return subprocess.Popen([sys.executable, "-m", "tests.outbox_jobs", *args], env=env, cwd=REPO)


def commit_jobs(url: str, numbers: range) -> None:
    """Commit one ``CountsRuns`` per number, in one transaction of the application's."""
    db: Any = connect_database(url)
    try:
        db.execute("BEGIN")
        for n in numbers:
            outbox.enqueue(db, CountsRuns, n=n)
        db.execute("COMMIT")
    finally:
        db.close()


def test_a_producer_killed_right_after_its_commit_still_gets_each_job_run_once(
    url: str, connection: redis.Redis, subprocess_env: dict[str, str], workers: Workers
) -> None:
    # Given a producer SIGKILLed by itself as soon as its commit returned: nothing could enqueue after it
    producer = helper("produce", url, "0", "5", env=subprocess_env)
    assert producer.wait(30) == -signal.SIGKILL
    assert rows(url) == 5 and connection.llen("rq:queue:outbox") == 0

    # When a worker relays the outbox
    workers.start(*WORKER, "--outbox", url)

    # Then each job runs, once, and the outbox is empty
    wait_for(lambda: runs(connection) == {n: 1 for n in range(5)})
    wait_for(lambda: rows(url) == 0)


def test_a_relay_killed_between_writing_to_redis_and_deleting_the_rows_delivers_each_job_once(
    url: str, connection: redis.Redis, subprocess_env: dict[str, str], workers: Workers, tmp_path: Path
) -> None:
    # Given three committed jobs, and a relay SIGKILLed after writing them to Redis, before its commit
    commit_jobs(url, range(3))
    held = tmp_path / "held"
    relay = helper("relay", url, str(held), env=subprocess_env)
    wait_for(held.exists)
    relay.kill()
    relay.wait(10)
    assert connection.llen("rq:queue:outbox") == 3 and rows(url) == 3

    # When a worker's relay takes the rows over
    worker = workers.start(*WORKER, "--outbox", url)

    # Then it finds the jobs in Redis and deletes their rows: each job ran once
    wait_for(lambda: rows(url) == 0)
    wait_for(lambda: runs(connection) == {0: 1, 1: 1, 2: 1})
    worker.send_signal(signal.SIGTERM)
    worker.wait(30)
    assert "found 3 of its jobs already in Redis" in workers.log_of(0).read_text()
    assert runs(connection) == {0: 1, 1: 1, 2: 1}


def test_two_relays_on_one_postgresql_never_take_the_same_row(
    postgres_url: str, connection: redis.Redis
) -> None:
    # Given 1,000 rows committed while two relays run against the same PostgreSQL
    db = psycopg.connect(postgres_url)
    outbox.install(db)
    db.commit()
    relays = [outbox.Relay(postgres_url, connection, batch=50, poll_s=0.05) for _ in range(2)]
    for relay in relays:
        relay.start()
    try:
        for first in range(0, 1000, 50):
            for n in range(first, first + 50):
                outbox.enqueue(db, CountsRuns, n=n)
            db.commit()
        wait_for(lambda: sum(r.relayed for r in relays) == 1000)
    finally:
        for relay in relays:
            relay.stop()
        db.close()

    # Then each row went to Redis once, by one relay: none found a job the other had written
    assert connection.llen("rq:queue:outbox") == 1000 and rows(postgres_url) == 0
    assert [r.found_in_redis for r in relays] == [0, 0]


def test_two_workers_relaying_one_postgresql_run_each_of_1000_jobs_once(
    postgres_url: str, connection: redis.Redis, workers: Workers
) -> None:
    db = psycopg.connect(postgres_url)
    outbox.install(db)
    db.commit()
    db.close()
    for _ in range(2):
        workers.start(*WORKER, "--outbox", postgres_url)
    producers = [
        threading.Thread(target=commit_jobs, args=(postgres_url, range(k, 1000, 4))) for k in range(4)
    ]
    for producer in producers:
        producer.start()
    for producer in producers:
        producer.join()

    wait_for(lambda: len(runs(connection)) == 1000, timeout_s=90)
    wait_for(lambda: rows(postgres_url) == 0)
    assert runs(connection) == {n: 1 for n in range(1000)}
    logs = [workers.log_of(k).read_text() for k in range(2)]
    assert not any("already in Redis" in log for log in logs)


def test_rows_committed_while_redis_is_down_for_10_s_all_run_once_after_it_returns(
    sqlite_url: str, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    db = connect_database(sqlite_url)
    outbox.install(db)
    db.close()
    with outage_run(tmp_path, subprocess_env) as run:
        worker = run.pool.start(*WORKER, "--outbox", sqlite_url)
        log = run.pool.log_of(0)
        wait_for(lambda: "the outbox relay moves jobs from" in log.read_text())

        # Redis is down for 10 s, while the application commits 200 jobs (10 every half second)
        run.redis_down()
        went_down = time.monotonic()
        for first in range(0, 200, 10):
            commit_jobs(sqlite_url, range(first, first + 10))
            time.sleep(0.5)  # the outage's length is the scenario itself: rows keep coming during it
        wait_for(lambda: "the outbox relay cannot move jobs (Redis" in log.read_text())
        time.sleep(max(0.0, 10 - (time.monotonic() - went_down)))
        assert rows(sqlite_url) == 200
        run.redis_up()

        wait_for(lambda: runs(run.connection) == {n: 1 for n in range(200)}, timeout_s=60)
        wait_for(lambda: rows(sqlite_url) == 0)
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    text = log.read_text()
    assert text.count("the outbox relay cannot move jobs") == 1  # once for the whole outage
    assert "the outbox relay moves jobs again" in text


def test_on_postgresql_a_commit_wakes_the_relay_without_waiting_for_its_poll(
    postgres_url: str, connection: redis.Redis
) -> None:
    db = psycopg.connect(postgres_url)
    outbox.install(db)
    db.commit()
    relay = outbox.Relay(postgres_url, connection, poll_s=600)  # polling alone would take ten minutes
    relay.start()
    try:
        wait_for(lambda: relay._listener is not None)  # listening: the first round is done
        outbox.enqueue(db, CountsRuns, n=1)
        db.commit()
        wait_for(lambda: connection.llen("rq:queue:outbox") == 1, timeout_s=10)
    finally:
        relay.stop()
        db.close()


def test_two_relays_on_one_sqlite_file_write_each_job_once(sqlite_url: str, connection: redis.Redis) -> None:
    db = connect_database(sqlite_url)
    outbox.install(db)
    db.close()
    commit_jobs(sqlite_url, range(300))
    relays = [outbox.Relay(sqlite_url, connection, batch=20, poll_s=0.01) for _ in range(2)]
    for relay in relays:
        relay.start()
    try:
        wait_for(lambda: rows(sqlite_url) == 0)
    finally:
        for relay in relays:
            relay.stop()

    queued = [i.decode() for i in connection.lrange("rq:queue:outbox", 0, -1)]
    assert len(queued) == len(set(queued)) == 300
    # a row both read was written by one and found in Redis by the other
    assert sum(r.relayed for r in relays) - sum(r.found_in_redis for r in relays) == 300
