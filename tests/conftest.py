"""Fixtures: one real Redis server (the embedded binary) for the session, flushed per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest
import redis

from jobs import settings
from jobs.connection.embedded import EmbeddedRedis
from tests.postgres import PostgresServer, scratch
from tests.workers import FAST_HEARTBEATS, REPO, Workers

__all__ = ["REPO"]

# pytest-xdist's workers set COLUMNS=80 and LINES=24 in their environment, which the `stalwart` commands the
# tests start would inherit: their output would fit 80 columns where a test run without xdist has none set.
# A test that wants a width sets COLUMNS itself (tests/integration/test_cli_width.py).
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (tests/postgres.py), started on first use."""
    server = PostgresServer(scratch())
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The session's PostgreSQL, without an outbox table (each test installs its own)."""
    import psycopg

    with psycopg.connect(postgres_server.url, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS stalwart_outbox")
    return postgres_server.url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file of the test's own, as an outbox URL."""
    return f"sqlite:///{tmp_path / 'app.db'}"


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch) -> str:
    """A real, empty Redis; REDIS_URL points at it for code and subprocesses."""
    redis.Redis.from_url(redis_server.url).flushall()
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    return redis_server.url


@pytest.fixture
def connection(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def fake() -> redis.Redis:
    """An in-memory Redis for unit tests whose behaviour does not depend on a server."""
    return fakeredis.FakeRedis()


@pytest.fixture
def subprocess_env(redis_url: str) -> dict[str, str]:
    """Environment for a `stalwart` subprocess: the test Redis, and this checkout importable."""
    env = dict(os.environ)
    env["REDIS_URL"] = redis_url
    env["PYTHONPATH"] = str(REPO)
    return env


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """Each test reads the environment afresh (tests set variables with monkeypatch before using them)."""
    settings.reset()
    yield
    settings.reset()


@pytest.fixture
def fast_heartbeats(subprocess_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``FAST_HEARTBEATS``, in this process and in the ``stalwart`` processes the test starts."""
    for name, value in FAST_HEARTBEATS.items():
        monkeypatch.setenv(name, value)
        subprocess_env[name] = value
    return subprocess_env


@pytest.fixture
def worker_env(fast_heartbeats: dict[str, str]) -> dict[str, str]:
    """The environment ``workers`` start with (a test module may override it)."""
    return fast_heartbeats


@pytest.fixture
def workers(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    """Worker processes a test starts, each logging to a file in ``tmp_path``; all SIGKILLed at its end
    (a stopped one too)."""
    pool = Workers(worker_env, tmp_path)
    yield pool
    pool.kill_all()
