"""A stage for a Redis outage in the middle of a job: worker processes on a Redis of the test's own, which the
test stops and starts again on the same port (AOF on, so a restart loses nothing), and the files through
which it holds and releases the runs of ``FinishesDuringRedisOutages``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from jobs import EmbeddedRedis, JobHandle
from tests.hardening.races_jobs import FinishesDuringRedisOutages
from tests.workers import Workers


@dataclass(frozen=True)
class OutageRun:
    server: EmbeddedRedis
    port: int
    pool: Workers
    connection: redis.Redis
    starts: Path  # a line per run started (the work-horse's pid)
    ends: Path  # a line per run ended
    release: Path  # run N may end once ``release.N`` (or ``release.all``) exists

    def enqueue(self) -> JobHandle:
        """A ``FinishesDuringRedisOutages`` job that reports through this run's files."""
        return FinishesDuringRedisOutages.enqueue(
            connection=self.connection,
            starts=str(self.starts),
            ends=str(self.ends),
            release=str(self.release),
        )

    def redis_down(self) -> None:
        self.server.stop()

    def redis_up(self) -> None:
        """Start the same Redis again, on the same port and with the same data."""
        self.server.start(port=self.port)


@contextmanager
def outage_run(tmp_path: Path, env: dict[str, str], **settings: str) -> Iterator[OutageRun]:
    """An ``OutageRun`` whose workers get ``env`` with ``settings`` and its Redis's URL; every worker is
    killed and the Redis stopped at the end, whatever happened."""
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    run = OutageRun(
        server,
        server.port,
        Workers({**env, **settings, "REDIS_URL": url}, tmp_path),
        redis.Redis.from_url(url),
        tmp_path / "starts",
        tmp_path / "ends",
        tmp_path / "release",
    )
    try:
        yield run
    finally:
        run.pool.kill_all()
        server.stop()
